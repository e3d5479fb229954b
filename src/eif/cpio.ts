/**
 * Ramdisks as linuxkit writes them: SVR4 "newc" cpio (eif-format.md §6.6) — ASCII magic 070701 and 13 fields of 8
 * lowercase hex digits; inode numbers from 721; devmajor/devminor 3/1; nlink 2 for directories; 4-byte alignment
 * relative to the stream start; a `TRAILER!!!` entry; the whole stream zero-padded to a multiple of 512.
 * linuxkit's `files:` entries get mtime 1492533000 (2017-04-18T16:30:00Z), uid/gid 0.
 */
import { EifError } from '../errors.js';

export const LINUXKIT_MTIME = 1492533000;
const FIRST_INODE = 721;

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;

export interface CpioEntry {
  /** Path without a leading `/` or `./`. */
  name: string;
  /** Full st_mode, type bits included (e.g. S_IFREG | 0o755). */
  mode: number;
  /** File data, or the target of a symlink. */
  data?: Uint8Array;
  mtime?: number;
  uid?: number;
  gid?: number;
}

const hex8 = (n: number) => (n >>> 0).toString(16).padStart(8, '0');
const pad4 = (n: number) => (4 - (n % 4)) % 4;

function header(ino: number, e: { mode: number; uid: number; gid: number; nlink: number; mtime: number; size: number; nameSize: number }): string {
  return (
    '070701' +
    hex8(ino) + hex8(e.mode) + hex8(e.uid) + hex8(e.gid) + hex8(e.nlink) + hex8(e.mtime) + hex8(e.size) +
    hex8(3) + hex8(1) + hex8(0) + hex8(0) + hex8(e.nameSize) + hex8(0)
  );
}

/**
 * Write a newc archive of `entries`, in the order given (linuxkit keeps its input order).
 *
 * @example
 * import { writeCpio } from 'eifkit/browser';
 * const initrd = writeCpio([
 *   { name: 'init', mode: 0o100755, data: initBytes }, // S_IFREG | 0755
 *   { name: 'dev', mode: 0o040755 },                     // S_IFDIR | 0755
 * ]);
 */
export function writeCpio(entries: CpioEntry[]): Uint8Array {
  const enc = new TextEncoder();
  const parts: Uint8Array[] = [];
  let pos = 0;
  const put = (b: Uint8Array) => {
    parts.push(b);
    pos += b.length;
  };
  const align = () => put(new Uint8Array(pad4(pos)));
  let ino = FIRST_INODE;
  const all = [...entries, { name: 'TRAILER!!!', mode: 0, mtime: 0 } as CpioEntry];
  for (const e of all) {
    if (e.name.startsWith('/') || e.name.startsWith('./') || e.name.includes('\0')) {
      throw new EifError('CPIO_BAD_NAME', `cpio entry names must be relative and NUL-free: ${JSON.stringify(e.name)}`);
    }
    const name = enc.encode(e.name + '\0');
    const data = e.data ?? new Uint8Array(0);
    const isDir = (e.mode & 0o170000) === S_IFDIR;
    align();
    put(enc.encode(header(ino++, { mode: e.mode, uid: e.uid ?? 0, gid: e.gid ?? 0, nlink: isDir ? 2 : 1, mtime: e.mtime ?? (e.name === 'TRAILER!!!' ? 0 : LINUXKIT_MTIME), size: data.length, nameSize: name.length })));
    put(name);
    align();
    put(data);
  }
  align();
  const total = pos + ((512 - (pos % 512)) % 512);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Read a newc archive's entries (for tests and inspection). Bounded by the input length.
 *
 * @example
 * import { readCpio } from 'eifkit/browser';
 * for (const e of readCpio(initrd)) console.log(e.name, e.mode.toString(8), e.data?.length);
 */
export function readCpio(bytes: Uint8Array): CpioEntry[] {
  const dec = new TextDecoder();
  const out: CpioEntry[] = [];
  let i = 0;
  for (;;) {
    if (i + 110 > bytes.length) throw new EifError('CPIO_TRUNCATED', 'cpio archive ends inside a header');
    const h = dec.decode(bytes.subarray(i, i + 110));
    if (!h.startsWith('070701')) throw new EifError('CPIO_BAD_MAGIC', `no newc header at offset ${i}`);
    const f = (k: number) => parseInt(h.slice(6 + 8 * k, 14 + 8 * k), 16);
    const nameSize = f(11);
    const size = f(6);
    const name = dec.decode(bytes.subarray(i + 110, i + 110 + nameSize - 1));
    i += 110 + nameSize;
    i += pad4(i);
    if (i + size > bytes.length) throw new EifError('CPIO_TRUNCATED', `cpio entry ${name} runs past the end`);
    if (name === 'TRAILER!!!') return out;
    out.push({ name, mode: f(1), uid: f(2), gid: f(3), mtime: f(5), data: bytes.slice(i, i + size) });
    i += size;
    i += pad4(i);
  }
}
