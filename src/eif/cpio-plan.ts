/**
 * A streaming newc cpio, as linuxkit's vendored gocpio writes it (shared oci-build.md §1.3 "gocpio writer";
 * eif-format.md §6.6). The archive is first PLANNED from entry metadata — each entry's header, name and data
 * positions — so its total size is known before any file byte is read; the plan is then a {@link CpioPlanSource}
 * whose `read(offset, length)` finds the entries under the range by binary search and produces header bytes on
 * the fly and file bytes from their sources. Nothing holds file data whole; the plan holds metadata only.
 *
 * gocpio's rules, each checked by test/eif/cpio-plan.test.ts against bytes written by hand:
 * - magic `070701`, then 13 fields as Go's `%08x` (lowercase hex, 8 digits);
 * - ino counts from 721, one per entry, the trailer takes the next;
 * - mode = `mode & 0o7777 | type << 12`; nlink 1, 2 for directories; devmajor 3, devminor 1 (constants);
 *   rdevmajor/rdevminor from the entry; namesize = name bytes + 1 (NUL); check 0;
 * - name + NUL, padded to 4 bytes relative to the stream start; data; padding to 4 before the next header;
 * - trailer `TRAILER!!!` with the next inode, nlink 1, dev 3/1, every other field 0 (as linuxkit's output shows);
 * - the whole stream zero-padded to a multiple of 512.
 * Browser-safe.
 */
import { EifError } from '../errors.js';
import type { ByteSource } from './layout.js';

/** A planned archive as a source of known size (structurally src/oci's RamdiskSource). */
export interface CpioPlanSource extends ByteSource {
  /** Entries written, trailer excluded. */
  readonly entryCount: number;
}

/** gocpio's first inode number. */
export const CPIO_FIRST_INODE = 721;
const HEADER_SIZE = 110;
const TRAILER = 'TRAILER!!!';

/** Where an entry's bytes come from: memory, or `size` bytes of a source at `offset`. */
export type CpioData = { bytes: Uint8Array } | { source: ByteSource; offset: number };

/** One member of a planned archive. */
export interface CpioPlanEntry {
  /** Byte string (one char per byte, see src/oci/types.ts), without a leading `/`. */
  name: string;
  /** Full st_mode: type bits (S_IFDIR, S_IFREG, S_IFLNK, S_IFCHR, S_IFBLK, S_IFIFO) | permission bits. */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch. Negative values are written as Go's `%08x` does (`-0000001`). */
  mtime: number;
  /** Data size: file length, symlink target length, else 0. */
  size: number;
  rdevmajor: number;
  rdevminor: number;
  /** Required when `size > 0`. */
  data?: CpioData;
}

/**
 * A planned archive: per-entry metadata in typed arrays (about 80 bytes an entry plus its name), so a plan of
 * 100 000 entries stays a few MiB. Entries are rebuilt on the fly when their bytes are read ({@link planEntry}).
 */
export interface CpioPlan {
  /** Entries, trailer excluded. */
  readonly count: number;
  readonly names: readonly string[];
  readonly numbers: Float64Array; // per entry: mode, uid, gid, mtime, size, rdevmajor, rdevminor, data offset
  /** Per entry: -1 no data, -2 in-memory bytes (`bytes`), else an index into `sources`. */
  readonly dataKind: Int32Array;
  readonly sources: readonly ByteSource[];
  readonly bytes: ReadonlyMap<number, Uint8Array>;
  /** Start of each entry's header in the stream, then the trailer's, then the padded end. */
  readonly starts: Float64Array;
  /** Stream offset of each entry's data (trailer included). */
  readonly dataStarts: Float64Array;
  /** Total size, including the 512-byte padding. */
  readonly size: number;
}

const NUMS = 8;

const pad4 = (n: number) => (4 - (n % 4)) % 4;

/**
 * Go's `fmt.Sprintf("%08x", v)` for an int64: 8 lowercase hex digits, a `-` sign inside the width for negative
 * values. Values that need more than 8 characters would shift every later byte of the archive (gocpio writes
 * them anyway, a broken cpio): refused with CPIO_FIELD_OVERFLOW.
 */
export function goHex8(v: number, what: string): string {
  if (!Number.isSafeInteger(v)) throw new EifError('CPIO_FIELD_OVERFLOW', `cpio ${what} ${v} is not an integer`);
  const s = v < 0 ? '-' + (-v).toString(16).padStart(7, '0') : v.toString(16).padStart(8, '0');
  if (s.length > 8) {
    throw new EifError('CPIO_FIELD_OVERFLOW', `cpio ${what} ${v} does not fit the 8 hex digits of a newc header (nitro-cli's linuxkit would write a broken cpio)`);
  }
  return s;
}

const HEX = Uint8Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
const MAGIC = Uint8Array.from('070701', (c) => c.charCodeAt(0));

/** The 13 field values of an entry's header, in order. */
function fieldsOf(e: CpioPlanEntry, ino: number): number[] {
  const nlink = (e.mode & 0o170000) === 0o040000 ? 2 : 1;
  return [ino, e.mode, e.uid, e.gid, nlink, e.mtime, e.size, 3, 1, e.rdevmajor, e.rdevminor, e.name.length + 1, 0];
}

/** Throws CPIO_FIELD_OVERFLOW (naming the field) for a value gocpio cannot write in 8 characters. */
function checkFields(e: CpioPlanEntry, ino: number): void {
  const fields = fieldsOf(e, ino);
  for (let i = 0; i < fields.length; i++) {
    const v = fields[i]!;
    if (!(Number.isInteger(v) && v >= 0 && v <= 0xffffffff)) goHex8(v, `${FIELD_NAMES[i]} of ${JSON.stringify(e.name)}`);
  }
}

/** The 110 header bytes + name + NUL + padding of entry `e` at stream offset `start` with inode `ino`. */
function headerBytes(e: CpioPlanEntry, ino: number, start: number): Uint8Array {
  const name = e.name;
  const len = HEADER_SIZE + name.length + 1;
  const out = new Uint8Array(len + pad4(start + len));
  out.set(MAGIC, 0);
  const fields = fieldsOf(e, ino);
  for (let i = 0; i < fields.length; i++) {
    const v = fields[i]!;
    const at = 6 + 8 * i;
    if (v >= 0 && v <= 0xffffffff) {
      let x = v >>> 0;
      for (let k = 7; k >= 0; k--) {
        out[at + k] = HEX[x & 15]!;
        x >>>= 4;
      }
    } else {
      const s = goHex8(v, `${FIELD_NAMES[i]} of ${JSON.stringify(name)}`); // negative times that fit
      for (let k = 0; k < 8; k++) out[at + k] = s.charCodeAt(k);
    }
  }
  for (let i = 0; i < name.length; i++) out[HEADER_SIZE + i] = name.charCodeAt(i) & 0xff;
  return out;
}

const FIELD_NAMES = ['ino', 'mode', 'uid', 'gid', 'nlink', 'mtime', 'size', 'devmajor', 'devminor', 'rdevmajor', 'rdevminor', 'namesize', 'check'];

const TRAILER_ENTRY: CpioPlanEntry = { name: TRAILER, mode: 0, uid: 0, gid: 0, mtime: 0, size: 0, rdevmajor: 0, rdevminor: 0 };

function checkEntry(e: CpioPlanEntry): void {
  if (e.name.startsWith('/') || e.name.includes('\0') || e.name === '') {
    throw new EifError('CPIO_BAD_NAME', `cpio entry names must be relative, non-empty and NUL-free: ${JSON.stringify(e.name)}`);
  }
  if (/[^\x01-\xff]/.test(e.name)) throw new EifError('CPIO_BAD_NAME', `cpio entry name is not a byte string: ${JSON.stringify(e.name)}`);
  if (e.size > 0 && !e.data) throw new EifError('CPIO_BAD_NAME', `cpio entry ${JSON.stringify(e.name)} has a size but no data`);
  if ('bytes' in (e.data ?? {}) && (e.data as { bytes: Uint8Array }).bytes.length !== e.size) {
    throw new EifError('CPIO_BAD_NAME', `cpio entry ${JSON.stringify(e.name)}: ${e.size} bytes declared, ${(e.data as { bytes: Uint8Array }).bytes.length} given`);
  }
  // Validate every header field now, so a plan never fails half-way through a read.
  checkFields(e, CPIO_FIRST_INODE);
}

/** A growable Float64Array / Int32Array (the entry count of an iterable is not known in advance). */
class Grow<T extends Float64Array | Int32Array> {
  n = 0;
  constructor(public a: T, private readonly make: (n: number) => T) {}
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = this.make(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
  done(): T {
    return this.a.subarray(0, this.n) as T;
  }
}

/**
 * Plan a newc archive of `entries` in the order given (linuxkit keeps its input order): offsets only, no data
 * read. `entries` may be a generator: each entry is checked and stored compactly as it comes, so the caller
 * need not hold them all. Throws CPIO_BAD_NAME / CPIO_FIELD_OVERFLOW for entries gocpio cannot write correctly.
 *
 * @example
 * import { planCpio, cpioPlanSource } from 'eifkit/browser';
 * const plan = planCpio([{ name: 'dev', mode: 0o040755, uid: 0, gid: 0, mtime: 1492533000, size: 0, rdevmajor: 0, rdevminor: 0 }]);
 * const ramdisk = cpioPlanSource(plan); // ramdisk.size === 512
 */
export function planCpio(entries: Iterable<CpioPlanEntry>): CpioPlan {
  const names: string[] = [];
  const numbers = new Grow(new Float64Array(64 * NUMS), (n) => new Float64Array(n));
  const dataKind = new Grow(new Int32Array(64), (n) => new Int32Array(n));
  const starts = new Grow(new Float64Array(64), (n) => new Float64Array(n));
  const dataStarts = new Grow(new Float64Array(64), (n) => new Float64Array(n));
  const sources: ByteSource[] = [];
  const sourceIndex = new Map<ByteSource, number>();
  const bytes = new Map<number, Uint8Array>();
  let pos = 0;
  const place = (e: CpioPlanEntry) => {
    pos += pad4(pos);
    starts.push(pos);
    pos += HEADER_SIZE + e.name.length + 1;
    pos += pad4(pos);
    dataStarts.push(pos);
    pos += e.size;
  };
  let i = 0;
  for (const e of entries) {
    checkEntry(e);
    if (CPIO_FIRST_INODE + i + 1 > 0xffffffff) throw new EifError('CPIO_FIELD_OVERFLOW', 'too many cpio entries for 8-digit inode numbers');
    names.push(e.name);
    const d = e.data;
    let offset = 0;
    if (!d || e.size === 0) dataKind.push(-1);
    else if ('bytes' in d) {
      dataKind.push(-2);
      bytes.set(i, d.bytes);
    } else {
      let k = sourceIndex.get(d.source);
      if (k === undefined) {
        k = sources.length;
        sources.push(d.source);
        sourceIndex.set(d.source, k);
      }
      dataKind.push(k);
      offset = d.offset;
    }
    for (const v of [e.mode, e.uid, e.gid, e.mtime, e.size, e.rdevmajor, e.rdevminor, offset]) numbers.push(v);
    place(e);
    i++;
  }
  place(TRAILER_ENTRY);
  pos += pad4(pos);
  pos += (512 - (pos % 512)) % 512;
  starts.push(pos);
  if (!Number.isSafeInteger(pos)) throw new EifError('CPIO_FIELD_OVERFLOW', 'cpio archive too large');
  return { count: i, names, numbers: numbers.done(), dataKind: dataKind.done(), sources, bytes, starts: starts.done(), dataStarts: dataStarts.done(), size: pos };
}

/**
 * Entry `i` of a plan as an object (the trailer for `i === plan.count`).
 *
 * @example
 * import { planCpio, planEntry } from 'eifkit/browser';
 * const plan = planCpio(entries);
 * console.log(planEntry(plan, 0).name);
 */
export function planEntry(plan: CpioPlan, i: number): CpioPlanEntry {
  if (i === plan.count) return TRAILER_ENTRY;
  const o = i * NUMS;
  const n = plan.numbers;
  const e: CpioPlanEntry = { name: plan.names[i]!, mode: n[o]!, uid: n[o + 1]!, gid: n[o + 2]!, mtime: n[o + 3]!, size: n[o + 4]!, rdevmajor: n[o + 5]!, rdevminor: n[o + 6]! };
  const k = plan.dataKind[i]!;
  if (k === -2) e.data = { bytes: plan.bytes.get(i)! };
  else if (k >= 0) e.data = { source: plan.sources[k]!, offset: n[o + 7]! };
  return e;
}

/** Index of the last entry (trailer = entries.length) whose header starts at or before `offset`. */
function findEntry(plan: CpioPlan, offset: number): number {
  let lo = 0;
  let hi = plan.count; // the trailer
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (plan.starts[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

async function readData(e: CpioPlanEntry, from: number, length: number): Promise<Uint8Array> {
  const d = e.data!;
  if ('bytes' in d) return d.bytes.subarray(from, from + length);
  const b = await d.source.read(d.offset + from, length);
  if (b.length !== length) {
    throw new EifError('INPUT_CHANGED', `the data of ${JSON.stringify(e.name)} ended early: ${b.length} of ${length} bytes at offset ${d.offset + from}`);
  }
  return b;
}

/**
 * Bytes [offset, offset+length) of the planned archive (clamped to its size). Pieces are headers made on the
 * fly, zero padding, and data read from each entry's source.
 */
async function readPlan(plan: CpioPlan, offset: number, length: number): Promise<Uint8Array> {
  const end = Math.min(plan.size, offset + length);
  if (offset >= end) return new Uint8Array(0);
  const out = new Uint8Array(end - offset);
  await fillPlan(plan, offset, out, false);
  return out;
}

/**
 * Write the planned archive's bytes [offset, offset + out.length) into `out`, which is all zeros (the padding is
 * left as it is). `streamData`: read entry data through its source's `stream` when it has one (pieces copied at
 * once: no buffer per read).
 */
async function fillPlan(plan: CpioPlan, offset: number, out: Uint8Array, streamData: boolean): Promise<void> {
  const end = offset + out.length;
  const n = plan.count;
  let i = findEntry(plan, offset);
  let pos = offset;
  while (pos < end && i <= n) {
    const e = planEntry(plan, i);
    const hStart = plan.starts[i]!;
    const dStart = plan.dataStarts[i]!;
    const dEnd = dStart + e.size;
    const next = plan.starts[i + 1]!;
    if (pos < dStart) {
      const h = headerBytes(e, CPIO_FIRST_INODE + i, hStart);
      const a = pos - hStart;
      const b = Math.min(end, dStart) - hStart;
      out.set(h.subarray(a, b), pos - offset);
      pos = hStart + b;
    }
    if (pos < end && pos < dEnd) {
      const len = Math.min(end, dEnd) - pos;
      const d = e.data!;
      if (streamData && !('bytes' in d) && d.source.stream) {
        let got = 0;
        for await (const piece of d.source.stream(d.offset + pos - dStart, len, len)) {
          if (got + piece.length > len) break;
          out.set(piece, pos - offset + got);
          got += piece.length;
        }
        if (got !== len) throw new EifError('INPUT_CHANGED', `the data of ${JSON.stringify(e.name)} ended early: ${got} of ${len} bytes at offset ${d.offset + pos - dStart}`);
      } else {
        out.set(await readData(e, pos - dStart, len), pos - offset);
      }
      pos += len;
    }
    // padding after the data (and the final 512-byte padding) stays zero
    if (pos < end) pos = Math.min(end, next);
    i++;
  }
}

/**
 * The planned archive's bytes [offset, offset+length) as pieces of at most `chunk` bytes, views of one reused
 * buffer (each valid until the next is asked for: ByteSource.stream); entry data comes through its source's own
 * `stream` when it has one. Hashing a large ramdisk so allocates nothing per piece.
 */
async function* streamPlan(plan: CpioPlan, offset: number, length: number, chunk: number): AsyncIterable<Uint8Array> {
  const end = Math.min(plan.size, offset + length);
  if (offset >= end) return;
  const buf = new Uint8Array(Math.min(Math.max(1, chunk), end - offset));
  for (let at = offset; at < end; at += buf.length) {
    const piece = buf.subarray(0, Math.min(buf.length, end - at));
    piece.fill(0);
    await fillPlan(plan, at, piece, true);
    yield piece;
  }
}

function readDataSync(e: CpioPlanEntry, from: number, length: number): Uint8Array {
  const d = e.data!;
  if (!('bytes' in d)) throw new EifError('CPIO_BAD_NAME', `materializeCpioPlan needs in-memory data (entry ${JSON.stringify(e.name)} reads a source)`);
  return d.bytes.subarray(from, from + length);
}

/**
 * The planned archive as a random-access source of known size (the EIF builder streams it like a file).
 *
 * @example
 * import { planCpio, cpioPlanSource } from 'eifkit/browser';
 * const src = cpioPlanSource(planCpio(entries));
 * const first = await src.read(0, 110); // the first header
 */
export function cpioPlanSource(plan: CpioPlan): CpioPlanSource {
  return {
    size: plan.size,
    entryCount: plan.count,
    read: (offset: number, length: number) => readPlan(plan, offset, length),
    stream: (offset: number, length: number, chunk: number) => streamPlan(plan, offset, length, chunk),
  };
}

/**
 * The whole archive of a plan whose data is all in memory, synchronously (used by `writeCpio`).
 *
 * @example
 * import { planCpio, materializeCpioPlan } from 'eifkit/browser';
 * const bytes = materializeCpioPlan(planCpio([{ name: 'dev', mode: 0o040755, uid: 0, gid: 0, mtime: 0, size: 0, rdevmajor: 0, rdevminor: 0 }]));
 */
export function materializeCpioPlan(plan: CpioPlan): Uint8Array {
  const out = new Uint8Array(plan.size);
  for (let i = 0; i <= plan.count; i++) {
    const e = planEntry(plan, i);
    out.set(headerBytes(e, CPIO_FIRST_INODE + i, plan.starts[i]!), plan.starts[i]!);
    if (e.size > 0) out.set(readDataSync(e, 0, e.size), plan.dataStarts[i]!);
  }
  return out;
}
