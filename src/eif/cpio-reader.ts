/**
 * A streaming reader of newc cpio ramdisks (eif-format.md §6.6; oci-build.md §1.3, "gocpio") over a ByteSource:
 * headers and names are parsed from a small read-ahead buffer, file data is hashed (SHA-256) in pieces and never
 * held whole, so `eif ramdisk ls|diff` work on ramdisks of any size in constant memory. Every field of the
 * header is kept (inode, nlink, device numbers), since a byte-identical ramdisk needs them all. Browser-safe.
 *
 * Names and link targets are byte strings (latin1: one char per byte, as src/oci/types.ts), shown with
 * `displayName`.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { EifError } from '../errors.js';
import type { ByteSource } from './layout.js';

export type CpioEntryType = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket' | 'unknown';

/** One entry of a newc archive, as its header says, with its data's digest. */
export interface CpioListing {
  /** Position in the archive (0-based, the trailer excluded). */
  index: number;
  /** Offset of the entry's header in the archive. */
  offset: number;
  name: string;
  type: CpioEntryType;
  /** Full st_mode (type and permission bits). */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  ino: number;
  mtime: number;
  size: number;
  devmajor: number;
  devminor: number;
  rdevmajor: number;
  rdevminor: number;
  /** A symlink's target (its data), else undefined. */
  linkTarget?: string;
  /** SHA-256 (hex) of the data of a regular file (or a symlink's target bytes). */
  sha256?: string;
}

/** The end of the archive: the trailer's offset, where the bytes end, and whether the padding is all zero. */
export interface CpioEnd {
  entries: number;
  trailerOffset: number;
  /** Bytes after the trailer entry (linuxkit pads to a multiple of 512). */
  paddingBytes: number;
  paddingZero: boolean;
  size: number;
}

const HEADER = 110;
const READ_AHEAD = 64 << 10;
/** Longest name accepted (Linux's PATH_MAX is 4096; anything far beyond is a corrupt header). */
const MAX_NAME = 64 << 10;
/** A symlink target is kept in memory for display: bound it. */
const MAX_LINK = 64 << 10;

const TYPES: Record<number, CpioEntryType> = {
  0o100000: 'file', 0o040000: 'dir', 0o120000: 'symlink', 0o020000: 'char', 0o060000: 'block', 0o010000: 'fifo', 0o140000: 'socket',
};

/**
 * Entry type from st_mode.
 *
 * @example
 * import { cpioEntryType } from 'eifkit/browser';
 * cpioEntryType(0o120777); // 'symlink'
 */
export function cpioEntryType(mode: number): CpioEntryType {
  return TYPES[mode & 0o170000] ?? 'unknown';
}

const latin1 = (b: Uint8Array): string => {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
};

const hex = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** A read-ahead window over a ByteSource, moving forward only. */
class Cursor {
  #buf: Uint8Array = new Uint8Array(0);
  #bufStart = 0;
  pos = 0;
  constructor(readonly src: ByteSource, readonly label: string) {}

  /** Exactly `n` bytes at the cursor (copied only when they straddle the window), and advance. */
  async take(n: number, what: string): Promise<Uint8Array> {
    if (this.pos + n > this.src.size) {
      throw new EifError('CPIO_TRUNCATED', `${this.label}: ${what} at byte ${this.pos} needs ${n} bytes, but the archive ends at ${this.src.size}`);
    }
    const rel = this.pos - this.#bufStart;
    if (rel < 0 || rel + n > this.#buf.length) {
      const len = Math.min(Math.max(n, READ_AHEAD), this.src.size - this.pos);
      this.#buf = await this.#read(this.pos, len);
      this.#bufStart = this.pos;
    }
    const off = this.pos - this.#bufStart;
    this.pos += n;
    return this.#buf.subarray(off, off + n);
  }

  /** Feed `n` bytes to `f` in pieces, and advance. */
  async stream(n: number, what: string, f: (piece: Uint8Array) => void): Promise<void> {
    if (this.pos + n > this.src.size) {
      throw new EifError('CPIO_TRUNCATED', `${this.label}: ${what} at byte ${this.pos} runs ${this.pos + n - this.src.size} bytes past the end of the archive`);
    }
    let left = n;
    while (left > 0) {
      const piece = Math.min(left, 1 << 20);
      f(await this.take(piece, what));
      left -= piece;
    }
  }

  align4(): void {
    this.pos += (4 - (this.pos % 4)) % 4;
  }

  async #read(offset: number, length: number): Promise<Uint8Array> {
    const b = await this.src.read(offset, length);
    if (b.length !== length) throw new EifError('CPIO_TRUNCATED', `${this.label}: short read at byte ${offset}`);
    return b;
  }
}

/**
 * The entries of a newc archive, in order, without holding any file's data (see the module comment). After the
 * last entry the generator returns a {@link CpioEnd}. Throws CPIO_BAD_MAGIC, CPIO_TRUNCATED, CPIO_BAD_HEADER.
 *
 * @example
 * import { readCpioEntries, bytesSource } from 'eifkit/browser';
 * for await (const e of readCpioEntries(bytesSource(initrd))) console.log(e.name, e.mode.toString(8), e.sha256);
 */
export async function* readCpioEntries(src: ByteSource, label = 'ramdisk'): AsyncGenerator<CpioListing, CpioEnd> {
  const c = new Cursor(src, label);
  const dec = new TextDecoder('latin1');
  for (let index = 0; ; index++) {
    const offset = c.pos;
    const h = dec.decode(await c.take(HEADER, 'a header'));
    const magic = h.slice(0, 6);
    if (magic !== '070701' && magic !== '070702') {
      throw new EifError('CPIO_BAD_MAGIC', `${label}: no newc header (070701) at byte ${offset}, found ${JSON.stringify(magic)}`);
    }
    const field = (k: number): number => {
      const t = h.slice(6 + 8 * k, 14 + 8 * k);
      if (!/^[0-9a-fA-F]{8}$/.test(t)) throw new EifError('CPIO_BAD_HEADER', `${label}: header at byte ${offset}: field ${k} is not 8 hex digits (${JSON.stringify(t)})`);
      return parseInt(t, 16);
    };
    const [ino, mode, uid, gid, nlink, mtime, size, devmajor, devminor, rdevmajor, rdevminor, nameSize] = Array.from({ length: 12 }, (_, k) => field(k)) as number[];
    if (nameSize! < 1 || nameSize! > MAX_NAME) {
      throw new EifError('CPIO_BAD_HEADER', `${label}: header at byte ${offset}: name size ${nameSize} (must be 1..${MAX_NAME}, NUL included)`);
    }
    const nameBytes = await c.take(nameSize!, 'a name');
    if (nameBytes[nameSize! - 1] !== 0) throw new EifError('CPIO_BAD_HEADER', `${label}: the name at byte ${offset + HEADER} is not NUL-terminated`);
    const name = latin1(nameBytes.subarray(0, nameSize! - 1));
    c.align4();
    if (name === 'TRAILER!!!') {
      const end = c.pos + size!;
      c.pos = end;
      let zero = true;
      await c.stream(src.size - c.pos, 'the padding', (p) => {
        if (zero && p.some((b) => b !== 0)) zero = false;
      });
      return { entries: index, trailerOffset: offset, paddingBytes: src.size - end, paddingZero: zero, size: src.size };
    }
    const type = cpioEntryType(mode!);
    const e: CpioListing = {
      index, offset, name, type, mode: mode!, uid: uid!, gid: gid!, nlink: nlink!, ino: ino!, mtime: mtime!, size: size!,
      devmajor: devmajor!, devminor: devminor!, rdevmajor: rdevmajor!, rdevminor: rdevminor!,
    };
    if (type === 'symlink' && size! <= MAX_LINK) {
      const t = await c.take(size!, 'a link target');
      e.linkTarget = latin1(t);
      e.sha256 = hex(sha256(t));
    } else if (size! > 0) {
      const h256 = sha256.create();
      await c.stream(size!, `the data of ${name}`, (p) => h256.update(p));
      e.sha256 = hex(h256.digest());
    } else if (type === 'file') {
      e.sha256 = hex(sha256(new Uint8Array(0)));
    }
    c.align4();
    yield e;
  }
}

/**
 * `ls -l`'s mode string: `drwxr-xr-x`, `-rwsr-x---`, `lrwxrwxrwx`.
 *
 * @example
 * import { modeString } from 'eifkit/browser';
 * modeString(0o104750); // '-rwsr-x---'
 */
export function modeString(mode: number): string {
  const t = { file: '-', dir: 'd', symlink: 'l', char: 'c', block: 'b', fifo: 'p', socket: 's', unknown: '?' }[cpioEntryType(mode)];
  const bit = (m: number, c: string) => (mode & m ? c : '-');
  const x = (m: number, special: number, on: string, off: string) => (mode & special ? (mode & m ? on : off) : mode & m ? 'x' : '-');
  return (
    t +
    bit(0o400, 'r') + bit(0o200, 'w') + x(0o100, 0o4000, 's', 'S') +
    bit(0o040, 'r') + bit(0o020, 'w') + x(0o010, 0o2000, 's', 'S') +
    bit(0o004, 'r') + bit(0o002, 'w') + x(0o001, 0o1000, 't', 'T')
  );
}

/** One difference between two ramdisks. */
export interface CpioDifference {
  /** Entry position where it was found (-1: the archive as a whole). */
  index: number;
  name: string;
  field: string;
  a: string;
  b: string;
}

const FIELDS: [keyof CpioListing, (e: CpioListing) => string][] = [
  ['name', (e) => e.name],
  ['mode', (e) => `0${e.mode.toString(8)}`],
  ['uid', (e) => String(e.uid)],
  ['gid', (e) => String(e.gid)],
  ['mtime', (e) => String(e.mtime)],
  ['size', (e) => String(e.size)],
  ['linkTarget', (e) => e.linkTarget ?? ''],
  ['sha256', (e) => e.sha256 ?? ''],
  ['ino', (e) => String(e.ino)],
  ['nlink', (e) => String(e.nlink)],
  ['devmajor', (e) => String(e.devmajor)],
  ['devminor', (e) => String(e.devminor)],
  ['rdevmajor', (e) => String(e.rdevmajor)],
  ['rdevminor', (e) => String(e.rdevminor)],
];

/**
 * Compare two newc archives entry by entry, in order, streaming both (constant memory). Returns the first
 * `limit` differences (field by field; a name that differs is reported once for the entry), how many entries
 * each has, and whether they are equal in every header field, data digest and padding.
 *
 * @example
 * import { diffCpio, bytesSource } from 'eifkit/browser';
 * const d = await diffCpio(bytesSource(mine), bytesSource(nitroCli));
 * if (!d.same) console.log(d.differences[0]); // { index, name, field, a, b }
 */
export async function diffCpio(
  a: ByteSource,
  b: ByteSource,
  o: { limit?: number; labels?: [string, string] } = {},
): Promise<{ same: boolean; differences: CpioDifference[]; total: number; entries: [number, number] }> {
  const limit = o.limit ?? 20;
  const [la, lb] = o.labels ?? ['A', 'B'];
  const ia = readCpioEntries(a, la);
  const ib = readCpioEntries(b, lb);
  const differences: CpioDifference[] = [];
  let total = 0;
  const note = (d: CpioDifference) => {
    total++;
    if (differences.length < limit) differences.push(d);
  };
  for (;;) {
    const [ra, rb] = await Promise.all([ia.next(), ib.next()]);
    if (ra.done && rb.done) {
      if (ra.value.paddingBytes !== rb.value.paddingBytes || ra.value.paddingZero !== rb.value.paddingZero) {
        note({ index: -1, name: '(end of archive)', field: 'padding', a: `${ra.value.paddingBytes} bytes${ra.value.paddingZero ? '' : ', not all zero'}`, b: `${rb.value.paddingBytes} bytes${rb.value.paddingZero ? '' : ', not all zero'}` });
      }
      return { same: total === 0, differences, total, entries: [ra.value.entries, rb.value.entries] };
    }
    if (ra.done || rb.done) {
      // One archive ended: this entry and every one after it in the other archive differ.
      const rest = ra.done ? ib : ia;
      const first = (ra.done ? rb.value : ra.value) as CpioListing;
      note({ index: first.index, name: first.name, field: 'entry', a: ra.done ? '(archive ended)' : first.name, b: rb.done ? '(archive ended)' : first.name });
      let r = await rest.next();
      for (; !r.done; r = await rest.next()) total++;
      const ended = (ra.done ? ra.value : rb.value) as CpioEnd;
      const longer = r.value.entries;
      return { same: false, differences, total, entries: ra.done ? [ended.entries, longer] : [longer, ended.entries] };
    }
    const ea = ra.value;
    const eb = rb.value;
    if (ea.name !== eb.name) {
      note({ index: ea.index, name: ea.name, field: 'name', a: ea.name, b: eb.name });
      continue;
    }
    for (const [key, show] of FIELDS) {
      if (key === 'name') continue;
      const va = show(ea);
      const vb = show(eb);
      if (va !== vb) note({ index: ea.index, name: ea.name, field: key, a: va, b: vb });
    }
  }
}
