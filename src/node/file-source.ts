/** A {@link ByteSource} over an open file descriptor (positional reads, nothing cached). */
import type { ErrorCode } from '../error-codes.js';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { EifError } from '../errors.js';
import type { ByteSource } from '../eif/layout.js';

/** A ByteSource over a file; the hash pipeline reads ranges of it straight into its ring (`fd`). */
export interface FileSource extends ByteSource {
  readonly fd: number;
}

export function fileSource(fd: number, size: number): FileSource {
  return {
    fd,
    size,
    read(offset: number, length: number): Uint8Array {
      const out = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const n = readSync(fd, out, done, length - done, offset + done);
        if (n === 0) throw new EifError('EIF_TRUNCATED', `file ended at ${offset + done} while reading ${length} bytes at ${offset}`);
        done += n;
      }
      return out;
    },
  };
}

/**
 * Open a regular file for reading with friendly errors (INPUT_NOT_FOUND, INPUT_NOT_FILE, INPUT_UNREADABLE).
 * The open is non-blocking so that a FIFO (whose open would wait for a writer forever) or a device is refused at
 * once by the fstat check; for a regular file O_NONBLOCK changes nothing.
 */
export function openInput(path: string, what = 'input file'): { fd: number; size: number } {
  if (typeof path !== 'string' || path === '') throw new EifError('INPUT_NOT_FOUND', `${what}: no path given`);
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new EifError('INPUT_NOT_FOUND', `${what} not found: ${path}`);
    if (code === 'EACCES' || code === 'EPERM') throw new EifError('INPUT_UNREADABLE', `${what} is not readable (permission denied): ${path}`);
    if (code === 'EISDIR') throw new EifError('INPUT_NOT_FILE', `${what} is a directory, not a file: ${path}`);
    throw new EifError('INPUT_UNREADABLE', `cannot open ${what} ${path}: ${(e as Error).message}`);
  }
  const st = fstatSync(fd);
  if (!st.isFile()) {
    closeSync(fd);
    const kind = st.isDirectory() ? 'a directory' : 'not a regular file (a FIFO, device or socket)';
    throw new EifError('INPUT_NOT_FILE', `${what} is ${kind}: ${path}`);
  }
  return { fd, size: st.size };
}

/**
 * Read a whole (small) input file through one open, with openInput's friendly errors. When `limit` is given, a
 * larger file fails with `limit.code` before anything is read.
 */
export function readInputFile(path: string, what: string, limit?: { bytes: number; code: ErrorCode }): Uint8Array {
  const { fd, size } = openInput(path, what);
  try {
    if (limit && size > limit.bytes) {
      throw new EifError(limit.code, `${what} ${path} is ${size} bytes; the limit is ${limit.bytes} bytes`);
    }
    return fileSource(fd, size).read(0, size) as Uint8Array;
  } finally {
    closeSync(fd);
  }
}
