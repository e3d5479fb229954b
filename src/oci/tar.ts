/**
 * Tar reading for container images (shared docs/oci-build.md §3 "write our own", §7 step 1 and step 3), with the
 * semantics of Go's archive/tar as Docker uses it (`docker load` / go-archive): ustar, PAX (`x` applied to the next
 * member; `g` parsed and ignored, as go-archive's createTarFile ignores it), GNU long names (`L`) and long link
 * names (`K`), base-256 numeric fields, the header checksum (unsigned or signed sum), EOF at a block boundary or
 * after one zero block taken as the end, as Go does.
 *
 * Two drivers share one header decoder:
 * - {@link indexTarMembers}: random access over a {@link ByteSource} (the OUTER archive: `docker save` tar, OCI
 *   archive) → member path → offset and size, reading only headers;
 * - {@link TarStreamParser}: a push parser for a layer's uncompressed tar stream, fed chunk by chunk (so it works
 *   behind a decompressor), which records {@link TarEntry} values with the offset of their data.
 *
 * Like `docker load`, a layer may not name one path twice (Go `filepath.Clean` of the stored names; tar-split).
 *
 * Bounded memory: PAX and GNU long-name records are capped at 1 MiB (Go's maxSpecialFileSize), numbers must be
 * safe integers, and a member's data is never held. Names are byte strings (types.ts), cleaned as Docker's
 * chrooted unpacker sees them: `filepath.Clean("/" + name)` without the leading `/` (so `../../x` and `/x` both
 * become `x`; the parser reports a warning for such names).
 */
import type { ByteSource } from '../eif/layout.js';
import { EifError } from '../errors.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesOfName, displayName, type EntryType, type TarEntry } from './types.js';

/** A byte-string name for messages: quoted, UTF-8 shown as text, other bytes as \\xNN, cut at 200 characters. */
const shown = (name: string): string => JSON.stringify(displayName(name.slice(0, 200)));

/** Largest PAX / GNU long-name record body accepted (Go archive/tar: maxSpecialFileSize). */
export const MAX_TAR_META = 1 << 20;
const BLOCK = 512;

/** The fields of one header block after the PAX / GNU records that precede it were applied. */
export interface TarHeader {
  /** Byte string as stored (before cleaning). */
  rawName: string;
  /** Raw type flag character (`'0'`, `'5'`, `'x'`, …). */
  typeflag: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  /** Bytes of data that follow the header (0 for header-only types even when the field says otherwise). */
  dataSize: number;
  /** The size field (after PAX), for regular files equal to dataSize. */
  size: number;
  rawLinkname: string;
  devmajor: number;
  devminor: number;
}

/** What PAX `x` / GNU `L` / `K` records set for the next member. */
interface Pending {
  path?: string;
  linkpath?: string;
  size?: number;
  mtime?: number;
  uid?: number;
  gid?: number;
}

const latin1 = (b: Uint8Array, start: number, end: number): string => {
  if (end - start <= 4096) return String.fromCharCode.apply(null, b.subarray(start, end) as unknown as number[]);
  let s = '';
  for (let i = start; i < end; i += 4096) s += String.fromCharCode.apply(null, b.subarray(i, Math.min(end, i + 4096)) as unknown as number[]);
  return s;
};

/** A NUL-terminated field as a byte string. */
function cString(b: Uint8Array, off: number, len: number): string {
  let end = off;
  const max = off + len;
  while (end < max && b[end] !== 0) end++;
  return latin1(b, off, end);
}

function headerError(what: string, at: number, label: string): EifError {
  return new EifError('OCI_TAR_HEADER', `${label}: bad tar header at byte ${at}: ${what}`);
}

/**
 * A numeric header field as Go's parseNumeric reads it: base-256 (high bit set, two's complement) or octal with
 * spaces and NULs trimmed (empty = 0). Values outside the safe-integer range are refused.
 */
export function parseTarNumber(b: Uint8Array, off: number, len: number, field: string, at = 0, label = 'tar'): number {
  if (len > 0 && (b[off]! & 0x80) !== 0) {
    // base-256: first byte's 0x40 bit is the sign; value is the remaining bits, big-endian
    const negative = (b[off]! & 0x40) !== 0;
    let v = 0n;
    for (let i = 0; i < len; i++) {
      let byte = b[off + i]!;
      if (i === 0) byte &= 0x7f;
      if (negative) byte ^= 0xff;
      if (i === 0 && negative) byte &= 0x7f;
      v = (v << 8n) | BigInt(byte);
    }
    if (negative) v = -v - 1n;
    if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < -BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new EifError('OCI_TAR_SIZE', `${label}: tar header at byte ${at}: ${field} ${v} is out of range`);
    }
    return Number(v);
  }
  let s = off;
  let e = off + len;
  while (s < e && (b[s] === 0x20 || b[s] === 0)) s++;
  while (e > s && (b[e - 1] === 0x20 || b[e - 1] === 0)) e--;
  // Go parses the C string of what remains
  let end = s;
  while (end < e && b[end] !== 0) end++;
  if (end === s) return 0;
  let v = 0;
  for (let i = s; i < end; i++) {
    const c = b[i]! - 0x30;
    if (c < 0 || c > 7) throw headerError(`${field} field is not an octal number`, at, label);
    v = v * 8 + c;
  }
  if (!Number.isSafeInteger(v)) throw new EifError('OCI_TAR_SIZE', `${label}: tar header at byte ${at}: ${field} is out of range`);
  return v;
}

/** Is the 512-byte block all zeros? */
function isZeroBlock(b: Uint8Array, off: number): boolean {
  for (let i = off; i < off + BLOCK; i++) if (b[i] !== 0) return false;
  return true;
}

/** Header checksum check: Go accepts the unsigned or the signed byte sum with the field counted as spaces. */
function checksumOk(b: Uint8Array, off: number, at: number, label: string): boolean {
  let unsigned = 0;
  let high = 0; // bytes ≥ 0x80, for the signed sum
  for (let i = off; i < off + BLOCK; i++) {
    const c = b[i]!;
    unsigned += c;
    high += c >> 7;
  }
  for (let i = off + 148; i < off + 156; i++) {
    const c = b[i]!;
    unsigned -= c;
    high -= c >> 7;
  }
  unsigned += 8 * 0x20; // the checksum field counts as spaces
  let stored: number;
  try {
    stored = parseTarNumber(b, off + 148, 8, 'checksum', at, label);
  } catch {
    return false;
  }
  return stored === unsigned || stored === unsigned - 256 * high;
}

/** Type flags whose data size Go's reader forces to 0 (isHeaderOnlyType). */
const HEADER_ONLY = new Set(['1', '2', '3', '4', '5', '6']);

/** Decode one header block (checksum verified). `pending` holds what PAX / GNU records set. */
function decodeHeader(b: Uint8Array, off: number, pending: Pending, at: number, label: string): TarHeader {
  if (!checksumOk(b, off, at, label)) {
    throw new EifError('OCI_TAR_CHECKSUM', `${label}: tar header checksum mismatch at byte ${at}`);
  }
  const num = (o: number, l: number, f: string) => parseTarNumber(b, off + o, l, f, at, label);
  let typeflag = String.fromCharCode(b[off + 156]!);
  const magic = latin1(b, off + 257, off + 263);
  const ustar = magic === 'ustar\0';
  const gnu = magic === 'ustar ';
  let rawName = cString(b, off, 100);
  if (ustar) {
    const prefix = cString(b, off + 345, 155);
    if (prefix !== '') rawName = `${prefix}/${rawName}`;
  }
  let rawLinkname = cString(b, off + 157, 100);
  const mode = num(100, 8, 'mode');
  let uid = num(108, 8, 'uid');
  let gid = num(116, 8, 'gid');
  let size = num(124, 12, 'size');
  let mtime = num(136, 12, 'mtime');
  const devmajor = ustar || gnu ? num(329, 8, 'devmajor') : 0;
  const devminor = ustar || gnu ? num(337, 8, 'devminor') : 0;
  if (pending.path !== undefined) rawName = pending.path;
  if (pending.linkpath !== undefined) rawLinkname = pending.linkpath;
  if (pending.size !== undefined) size = pending.size;
  if (pending.mtime !== undefined) mtime = pending.mtime;
  if (pending.uid !== undefined) uid = pending.uid;
  if (pending.gid !== undefined) gid = pending.gid;
  if (size < 0) throw new EifError('OCI_TAR_SIZE', `${label}: tar header at byte ${at}: negative size ${size}`);
  // Go: an old-style regular file ('\0') whose name ends in '/' is a directory
  if (typeflag === '\0') typeflag = rawName.endsWith('/') ? '5' : '0';
  const dataSize = HEADER_ONLY.has(typeflag) ? 0 : size;
  return { rawName, typeflag, mode, uid, gid, mtime, dataSize, size, rawLinkname, devmajor, devminor };
}

/** Parse a PAX record block (`"%d %s=%s\n"`…) into `pending` (for `x`; `g` is parsed to check it, then dropped). */
function parsePax(data: Uint8Array, into: Pending, at: number, label: string): void {
  let i = 0;
  const bad = (why: string) => headerError(`PAX record ${why}`, at, label);
  while (i < data.length) {
    let sp = i;
    while (sp < data.length && data[sp] !== 0x20) sp++;
    if (sp === data.length || sp === i || sp - i > 8) throw bad('has no length');
    let len = 0;
    for (let k = i; k < sp; k++) {
      const c = data[k]! - 0x30;
      if (c < 0 || c > 9) throw bad('length is not a number');
      len = len * 10 + c;
    }
    if (len <= sp - i + 1 || i + len > data.length || data[i + len - 1] !== 0x0a) throw bad('length does not match its text');
    const rec = latin1(data, sp + 1, i + len - 1);
    const eq = rec.indexOf('=');
    if (eq <= 0) throw bad('has no key');
    const key = rec.slice(0, eq);
    const value = rec.slice(eq + 1);
    const int = (what: string): number => {
      if (!/^-?[0-9]+$/.test(value)) throw bad(`${what} is not an integer: ${JSON.stringify(value.slice(0, 40))}`);
      const v = Number(value);
      if (!Number.isSafeInteger(v)) throw new EifError('OCI_TAR_SIZE', `${label}: tar header at byte ${at}: PAX ${what} ${value.slice(0, 40)} is out of range`);
      return v;
    };
    switch (key) {
      case 'path':
        into.path = value;
        break;
      case 'linkpath':
        into.linkpath = value;
        break;
      case 'size': {
        const v = int('size');
        if (v < 0) throw new EifError('OCI_TAR_SIZE', `${label}: tar header at byte ${at}: negative PAX size`);
        into.size = v;
        break;
      }
      case 'uid':
        into.uid = int('uid');
        break;
      case 'gid':
        into.gid = int('gid');
        break;
      case 'mtime':
        into.mtime = paxTime(value, at, label);
        break;
      default:
        if (key.startsWith('GNU.sparse.')) {
          throw new EifError('OCI_TAR_ENTRY_TYPE', `${label}: tar member at byte ${at} is a sparse file (PAX ${key}); sparse files are not supported`);
        }
      // atime, ctime, uname, gname, comment, xattrs (SCHILY.xattr.*): not used by docker export
    }
    i += len;
  }
}

/**
 * A PAX time (`seconds[.fraction]`, optionally negative) in whole seconds, rounded toward -infinity: go-archive's
 * FileInfoHeader truncates ModTime to the second (`Time.Truncate`), which floors the Unix time.
 */
export function paxTime(value: string, at = 0, label = 'tar'): number {
  const m = /^(-?)([0-9]+)(?:\.([0-9]*))?$/.exec(value);
  if (!m) throw headerError(`PAX mtime is not a time: ${JSON.stringify(value.slice(0, 40))}`, at, label);
  const secs = Number(m[2]);
  if (!Number.isSafeInteger(secs)) throw new EifError('OCI_TAR_SIZE', `${label}: tar header at byte ${at}: PAX mtime out of range`);
  const frac = m[3] !== undefined && /[1-9]/.test(m[3]);
  if (m[1] === '-') return frac ? -secs - 1 : -secs === 0 ? 0 : -secs;
  return secs;
}

/**
 * A member name cleaned as Docker's chrooted unpacker resolves it: Go `filepath.Clean("/" + name)` without the
 * leading `/`. The root itself becomes `''`. `escaped` says that the name pointed above the root or was absolute.
 */
/** A name with nothing to clean: no empty, `.` or `..` component, no leading or trailing `/`. */
const NEEDS_CLEANING = /(?:^|\/)\.{1,2}(?:\/|$)|\/\/|^\/|\/$/;

export function cleanTarName(raw: string): { name: string; escaped: boolean } {
  if (raw !== '' && !NEEDS_CLEANING.test(raw)) return { name: raw, escaped: false };
  const parts: string[] = [];
  let escaped = raw.startsWith('/');
  for (const p of raw.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (parts.length === 0) escaped = true;
      else parts.pop();
      continue;
    }
    parts.push(p);
  }
  return { name: parts.join('/'), escaped };
}

/**
 * Go's `filepath.Clean` (lexical): the key under which `docker load` (tar-split's packer, which Docker runs over
 * every layer it registers) refuses a second member with the same name: "duplicates of file paths not
 * supported". So `a` and `./a` collide, `a` and `/a` do not (observed with Docker 20.10).
 */
export function goClean(p: string): string {
  if (p === '') return '.';
  if (!NEEDS_CLEANING.test(p)) return p;
  const rooted = p.startsWith('/');
  const out: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const joined = out.join('/');
  if (rooted) return `/${joined}`;
  return joined === '' ? '.' : joined;
}

/** A duplicate-set key of bounded size: long clean names (`../` repeated) are kept as their SHA-256. */
function dupKey(clean: string): string {
  if (clean.length <= 1024) return clean;
  const d = sha256(bytesOfName(clean));
  return `#${clean.length}:${latin1(d, 0, d.length)}`;
}

/** Largest mtime (seconds) Docker's unpacker keeps: Go `time.Unix(0, 1<<63-1)`, in whole seconds. */
export const DOCKER_MAX_MTIME = 9223372036;

/**
 * The mtime a layer member gets on disk when Docker applies the layer (go-archive createTarFile → Chtimes):
 * before the epoch or after {@link DOCKER_MAX_MTIME} it becomes 0, except for symlinks, whose time is set with
 * lutimes unbounded. Observed with Docker 20.10 + `docker export`: a file at -1.5 s → 0, a directory at -100 → 0,
 * a symlink at -7 → -7, a file at 9223372037 → 0, at 9223372036 kept.
 *
 * @example
 * import { dockerAppliedMtime } from 'eifkit/browser';
 * dockerAppliedMtime(-2, 'file');    // 0
 * dockerAppliedMtime(-2, 'symlink'); // -2
 */
export function dockerAppliedMtime(mtime: number, type: EntryType): number {
  if (type === 'symlink') return mtime;
  return mtime < 0 || mtime > DOCKER_MAX_MTIME ? 0 : mtime;
}

const TYPES: Record<string, EntryType> = { '0': 'file', '1': 'hardlink', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo' };

function entryType(typeflag: string, at: number, label: string): EntryType {
  const t = TYPES[typeflag];
  if (t === undefined) {
    const shown = /^[ -~]$/.test(typeflag) ? `'${typeflag}'` : `0x${typeflag.charCodeAt(0).toString(16)}`;
    throw new EifError('OCI_TAR_ENTRY_TYPE', `${label}: tar member at byte ${at} has type ${shown}, which Docker does not unpack (only files, links, symlinks, devices, directories and FIFOs)`);
  }
  return t;
}

/** Meta type flags: PAX per-file, PAX global, GNU long name, GNU long link name. */
const META = new Set(['x', 'g', 'L', 'K']);

/** Apply a meta record's body to `pending` (x, L, K) or check and drop it (g). */
function applyMeta(typeflag: string, data: Uint8Array, pending: Pending, at: number, label: string): void {
  if (typeflag === 'x') parsePax(data, pending, at, label);
  else if (typeflag === 'g') parsePax(data, {}, at, label);
  else if (typeflag === 'L') pending.path = cString(data, 0, data.length);
  else pending.linkpath = cString(data, 0, data.length);
}

function metaTooLarge(size: number, at: number, label: string): EifError {
  return new EifError('OCI_TAR_META_TOO_LARGE', `${label}: tar header at byte ${at}: a PAX / long-name record of ${size} bytes (the limit is ${MAX_TAR_META})`);
}

/** Bytes of data plus padding to the next 512-byte boundary (safe for sizes above 2^31). */
export function paddedSize(n: number): number {
  return Math.ceil(n / BLOCK) * BLOCK;
}

/**
 * Longest name Docker can unpack: the chrooted unpacker opens `/` + the cleaned name, and Linux refuses paths of
 * PATH_MAX (4096) bytes with the NUL. Observed with Docker 20.10: 4095 bytes refused (names near the limit can
 * also fail later, when the daemon stats the file under its own data root: that depends on the host).
 */
export const MAX_NAME_BYTES = 4094;
/** Longest path component (NAME_MAX): 256 bytes refused, 255 accepted (observed). */
export const MAX_COMPONENT_BYTES = 255;
/** Longest symlink target: symlink(2) refuses PATH_MAX; 4095 bytes accepted, 4096 refused (observed). */
export const MAX_SYMLINK_TARGET_BYTES = 4095;

function checkNameLength(name: string, raw: string, what: string, at: number, label: string): void {
  let why: string | undefined;
  if (name.length > MAX_NAME_BYTES) why = `is ${name.length} bytes (Linux paths are at most ${MAX_NAME_BYTES} here)`;
  else if (name.length > MAX_COMPONENT_BYTES && name.split('/').some((c) => c.length > MAX_COMPONENT_BYTES)) {
    why = `has a component over ${MAX_COMPONENT_BYTES} bytes`;
  }
  if (why) throw new EifError('OCI_NAME_TOO_LONG', `${label}: member at byte ${at}: ${what} ${shown(raw.slice(0, 80))}… ${why}; docker load cannot unpack it`);
}

function toEntry(h: TarHeader, dataOffset: number, at: number, label: string, warnings: string[]): TarEntry | undefined {
  const type = entryType(h.typeflag, at, label);
  const { name, escaped } = cleanTarName(h.rawName);
  checkNameLength(name, h.rawName, 'name', at, label);
  if (escaped && name !== '') warnings.push(`${label}: member ${shown(h.rawName)} points outside the image root; Docker maps it to ${shown(name)} as a chroot would`);
  if (name === '') return undefined; // the root directory: `docker export` never lists it
  let linkname = h.rawLinkname;
  if (type === 'hardlink') {
    const l = cleanTarName(h.rawLinkname);
    if (l.escaped) warnings.push(`${label}: hard link ${shown(h.rawName)} targets ${shown(h.rawLinkname)} outside the image root; Docker maps it to ${shown(l.name)}`);
    checkNameLength(l.name, h.rawLinkname, 'hard link target', at, label);
    linkname = l.name;
  } else if (type === 'symlink' && linkname.length > MAX_SYMLINK_TARGET_BYTES) {
    throw new EifError('OCI_NAME_TOO_LONG', `${label}: member at byte ${at}: symlink target of ${linkname.length} bytes (at most ${MAX_SYMLINK_TARGET_BYTES}); docker load cannot unpack it`);
  }
  return {
    name,
    type,
    mode: h.mode & 0o7777,
    uid: h.uid,
    gid: h.gid,
    mtime: h.mtime,
    size: type === 'file' ? h.size : 0,
    linkname,
    devmajor: h.devmajor,
    devminor: h.devminor,
    dataOffset,
  };
}

/** A member of an outer archive: where its data lies, and the link it is (docker save may link repeated layers). */
export interface TarMember {
  offset: number;
  size: number;
  type: EntryType;
  /** Cleaned target for hard links, raw target for symlinks. */
  linkname: string;
}

/**
 * Index an archive by random access: cleaned member path → member (the last of duplicate names wins, as an
 * extraction would leave it). Only headers and PAX / long-name records are read.
 *
 * @example
 * import { indexTarMembers, bytesSource } from 'eifkit/browser';
 * const members = await indexTarMembers(bytesSource(tarBytes), 'app.tar');
 * const manifest = members.get('manifest.json'); // { offset, size, type: 'file', linkname: '' }
 */
export async function indexTarMembers(source: ByteSource, label = 'tar'): Promise<Map<string, TarMember>> {
  const members = new Map<string, TarMember>();
  let pos = 0;
  let pending: Pending = {};
  let metaPending = false;
  const warnings: string[] = [];
  for (;;) {
    if (pos === source.size) break; // EOF at a block boundary: Go takes it as the end
    if (pos + BLOCK > source.size) throw new EifError('OCI_TAR_TRUNCATED', `${label}: tar ends inside a header at byte ${pos} (size ${source.size})`);
    const block = await source.read(pos, BLOCK);
    if (isZeroBlock(block, 0)) {
      if (metaPending) throw new EifError('OCI_TAR_TRUNCATED', `${label}: tar ends after a PAX / long-name record at byte ${pos}`);
      break;
    }
    const h = decodeHeader(block, 0, pending, pos, label);
    const dataAt = pos + BLOCK;
    if (dataAt + h.dataSize > source.size) {
      throw new EifError('OCI_TAR_TRUNCATED', `${label}: member ${shown(h.rawName.slice(0, 200))} at byte ${pos} declares ${h.dataSize} bytes but the archive ends at ${source.size}`);
    }
    if (META.has(h.typeflag)) {
      if (h.dataSize > MAX_TAR_META) throw metaTooLarge(h.dataSize, pos, label);
      const data = await source.read(dataAt, h.dataSize);
      if (h.typeflag !== 'g') metaPending = true;
      applyMeta(h.typeflag, data, pending, pos, label);
    } else {
      const e = toEntry(h, dataAt, pos, label, warnings);
      if (e) members.set(e.name, { offset: dataAt, size: e.type === 'file' ? h.dataSize : 0, type: e.type, linkname: e.linkname });
      pending = {};
      metaPending = false;
    }
    pos = dataAt + paddedSize(h.dataSize);
    if (pos > source.size) pos = source.size; // last member's padding missing: the next read sees EOF
  }
  return members;
}

/**
 * Sequential tar parser for one layer's uncompressed stream (oci-build.md §7 step 3): `push` chunks of any size
 * in order, then `end()`. Entries are collected in archive order with the absolute offset of their data. Bytes
 * after the end-of-archive block are accepted and ignored (Go stops reading there).
 *
 * @example
 * import { TarStreamParser } from 'eifkit/browser';
 * const p = new TarStreamParser('layer 0');
 * for (const chunk of chunks) p.push(chunk);
 * p.end();
 * console.log(p.entries.map((e) => e.name));
 */
export class TarStreamParser {
  readonly entries: TarEntry[] = [];
  /** Things Docker accepts silently that the user may want to know (names outside the root). */
  readonly warnings: string[] = [];
  /** Absolute stream position of the next byte pushed. */
  private pos = 0;
  /** 'header': collecting a 512-byte block; 'meta': collecting a PAX/long-name body; 'skip': data/padding; 'done'. */
  private state: 'header' | 'meta' | 'skip' | 'zero' | 'done' = 'header';
  private block = new Uint8Array(BLOCK);
  private blockFill = 0;
  private skip = 0;
  private meta: Uint8Array = new Uint8Array(0);
  private metaFill = 0;
  private metaType = '';
  private metaAt = 0;
  private metaPad = 0;
  private pending: Pending = {};
  private metaPending = false;
  private dataEnd = 0;
  private lastMember = '';
  /** goClean of every member name seen (docker load refuses duplicates). */
  private seen = new Set<string>();

  constructor(private readonly label = 'layer') {}

  /** Has the end-of-archive block been seen? */
  get finished(): boolean {
    return this.state === 'done';
  }

  /** Bytes consumed so far. */
  get position(): number {
    return this.pos;
  }

  push(chunk: Uint8Array): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      switch (this.state) {
        case 'done':
          this.pos += n - i;
          return;
        case 'skip': {
          const take = Math.min(this.skip, n - i);
          this.skip -= take;
          i += take;
          this.pos += take;
          if (this.skip === 0) this.state = 'header';
          break;
        }
        case 'meta': {
          const want = this.meta.length - this.metaFill;
          const take = Math.min(want, n - i);
          this.meta.set(chunk.subarray(i, i + take), this.metaFill);
          this.metaFill += take;
          i += take;
          this.pos += take;
          if (this.metaFill === this.meta.length) {
            applyMeta(this.metaType, this.meta, this.pending, this.metaAt, this.label);
            this.meta = new Uint8Array(0);
            this.skip = this.metaPad;
            this.state = this.skip > 0 ? 'skip' : 'header';
          }
          break;
        }
        case 'header':
        case 'zero': {
          // a whole block in the chunk: decode in place, else assemble across chunks
          let blk: Uint8Array;
          let off: number;
          if (this.blockFill === 0 && n - i >= BLOCK) {
            blk = chunk;
            off = i;
            i += BLOCK;
          } else {
            const take = Math.min(BLOCK - this.blockFill, n - i);
            this.block.set(chunk.subarray(i, i + take), this.blockFill);
            this.blockFill += take;
            i += take;
            if (this.blockFill < BLOCK) {
              this.pos += take;
              break;
            }
            this.pos += take - BLOCK; // pos is advanced by a whole block below
            this.blockFill = 0;
            blk = this.block;
            off = 0;
          }
          const at = this.pos;
          this.pos += BLOCK;
          this.onBlock(blk, off, at);
          break;
        }
      }
    }
  }

  private onBlock(b: Uint8Array, off: number, at: number): void {
    if (this.state === 'zero') {
      // Go: a zero block must be followed by another zero block (or EOF)
      if (!isZeroBlock(b, off)) throw headerError('a zero block is followed by data (a corrupt end of archive)', at, this.label);
      this.state = 'done';
      return;
    }
    if (isZeroBlock(b, off)) {
      if (this.metaPending) throw new EifError('OCI_TAR_TRUNCATED', `${this.label}: tar ends after a PAX / long-name record at byte ${at}`);
      this.state = 'zero';
      return;
    }
    let h: TarHeader;
    try {
      h = decodeHeader(b, off, this.pending, at, this.label);
    } catch (e) {
      if (at === 0 && e instanceof EifError && e.code === 'OCI_TAR_CHECKSUM') {
        throw new EifError('OCI_LAYER_NOT_TAR', `${this.label} is not a tar archive (its first 512 bytes are not a tar header)`);
      }
      throw e;
    }
    this.lastMember = h.rawName;
    const dataAt = at + BLOCK;
    if (h.typeflag !== 'x' && h.typeflag !== 'L' && h.typeflag !== 'K') {
      // every header Go's reader returns (global PAX headers too) is one tar-split entry, keyed by its clean name
      const key = dupKey(goClean(h.rawName));
      if (this.seen.has(key)) {
        throw new EifError('OCI_TAR_DUPLICATE', `${this.label}: member ${shown(h.rawName.slice(0, 200))} at byte ${at} repeats an earlier name; docker load refuses duplicate paths in a layer`);
      }
      this.seen.add(key);
    }
    if (META.has(h.typeflag)) {
      if (h.dataSize > MAX_TAR_META) throw metaTooLarge(h.dataSize, at, this.label);
      if (h.typeflag !== 'g') this.metaPending = true;
      this.metaType = h.typeflag;
      this.metaAt = at;
      this.meta = new Uint8Array(h.dataSize);
      this.metaFill = 0;
      this.metaPad = paddedSize(h.dataSize) - h.dataSize;
      if (h.dataSize === 0) {
        applyMeta(h.typeflag, this.meta, this.pending, at, this.label);
        this.state = 'header';
      } else this.state = 'meta';
      return;
    }
    const e = toEntry(h, dataAt, at, this.label, this.warnings);
    if (e) this.entries.push(e);
    this.pending = {};
    this.metaPending = false;
    this.skip = paddedSize(h.dataSize);
    this.dataEnd = dataAt + h.dataSize;
    this.state = this.skip > 0 ? 'skip' : 'header';
  }

  /**
   * The stream ended: fine at a block boundary between members (with or without the end-of-archive blocks),
   * OCI_TAR_TRUNCATED inside a header, a record or a member's data.
   */
  end(): void {
    const member = this.lastMember.slice(0, 200);
    if (this.state === 'done') return;
    // Go reads the block after a zero block whole: EOF is the end, a part of a block is an unexpected EOF
    if (this.state === 'zero') {
      if (this.blockFill === 0) return;
      throw new EifError('OCI_TAR_TRUNCATED', `${this.label}: tar ends inside the block after the end-of-archive block, at byte ${this.pos}`);
    }
    if (this.metaPending) throw new EifError('OCI_TAR_TRUNCATED', `${this.label}: tar ends after a PAX / long-name record at byte ${this.pos}`);
    if (this.state === 'header' && this.blockFill === 0) return;
    if (this.state === 'header') throw new EifError('OCI_TAR_TRUNCATED', `${this.label}: tar ends inside a header at byte ${this.pos}`);
    if (this.state === 'meta') throw new EifError('OCI_TAR_TRUNCATED', `${this.label}: tar ends inside a PAX / long-name record at byte ${this.pos}`);
    // 'skip': Go's reader fails when the data is short; only the padding after the last member may be missing
    if (this.pos < this.dataEnd) {
      throw new EifError('OCI_TAR_TRUNCATED', `${this.label}: tar ends at byte ${this.pos} inside the data of ${shown(member)}, which declares data up to byte ${this.dataEnd}`);
    }
  }
}
