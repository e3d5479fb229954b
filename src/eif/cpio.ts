/**
 * Ramdisks as linuxkit writes them: SVR4 "newc" cpio (eif-format.md §6.6) — ASCII magic 070701 and 13 fields of 8
 * lowercase hex digits; inode numbers from 721; devmajor/devminor 3/1; nlink 2 for directories; 4-byte alignment
 * relative to the stream start; a `TRAILER!!!` entry; the whole stream zero-padded to a multiple of 512.
 * linuxkit's `files:` entries get mtime 1492533000 (2017-04-18T16:30:00Z), uid/gid 0.
 */
import { EifError } from '../errors.js';
import { type CpioPlanEntry, materializeCpioPlan, planCpio } from './cpio-plan.js';

export const LINUXKIT_MTIME = 1492533000;

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;
export const S_IFIFO = 0o010000;

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

const pad4 = (n: number) => (4 - (n % 4)) % 4;

/** A UTF-8 name as a byte string (one char per byte), the form cpio-plan.ts writes. */
function utf8ByteString(name: string): string {
  const bytes = new TextEncoder().encode(name);
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return s;
}

/**
 * Write a newc archive of `entries`, in the order given (linuxkit keeps its input order). Names are encoded as
 * UTF-8. This is the in-memory form of ./cpio-plan.ts (same bytes); rdev is 0.
 *
 * @example
 * import { writeCpio } from 'eifkit/browser';
 * const initrd = writeCpio([
 *   { name: 'init', mode: 0o100755, data: initBytes }, // S_IFREG | 0755
 *   { name: 'dev', mode: 0o040755 },                     // S_IFDIR | 0755
 * ]);
 */
export function writeCpio(entries: CpioEntry[]): Uint8Array {
  const planned: CpioPlanEntry[] = entries.map((e) => {
    if (e.name.startsWith('/') || e.name.startsWith('./') || e.name.includes('\0')) {
      throw new EifError('CPIO_BAD_NAME', `cpio entry names must be relative and NUL-free: ${JSON.stringify(e.name)}`);
    }
    const data = e.data ?? new Uint8Array(0);
    return {
      name: utf8ByteString(e.name),
      mode: e.mode,
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      mtime: e.mtime ?? LINUXKIT_MTIME,
      size: data.length,
      rdevmajor: 0,
      rdevminor: 0,
      ...(data.length > 0 ? { data: { bytes: data } } : {}),
    };
  });
  return materializeCpioPlan(planCpio(planned));
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
