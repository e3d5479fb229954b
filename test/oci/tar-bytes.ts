/**
 * Hand-made tar bytes for the reader's tests (written from the ustar / PAX / GNU layouts, not by a library):
 * one 512-byte header per call, fields as given, checksum computed unless overridden.
 */
import { createHash } from 'node:crypto';

export interface HeaderFields {
  name?: string | Uint8Array;
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  mtime?: number;
  typeflag?: string;
  linkname?: string;
  magic?: 'ustar' | 'gnu' | 'v7';
  prefix?: string;
  devmajor?: number;
  devminor?: number;
  /** Raw bytes written over a field: [offset, bytes]. */
  raw?: [number, Uint8Array][];
  /** Checksum to store instead of the right one. */
  checksum?: number;
}

const enc = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);

function octal(b: Uint8Array, off: number, len: number, v: number): void {
  const s = v.toString(8).padStart(len - 1, '0');
  b.set(enc(s), off);
  b[off + len - 1] = 0;
}

export function header(f: HeaderFields): Uint8Array {
  const b = new Uint8Array(512);
  const name = typeof f.name === 'string' ? enc(f.name) : f.name ?? enc('file');
  b.set(name.subarray(0, 100), 0);
  octal(b, 100, 8, f.mode ?? 0o644);
  octal(b, 108, 8, f.uid ?? 0);
  octal(b, 116, 8, f.gid ?? 0);
  octal(b, 124, 12, f.size ?? 0);
  octal(b, 136, 12, f.mtime ?? 1700000000);
  b[156] = (f.typeflag ?? '0').charCodeAt(0);
  if (f.linkname) b.set(enc(f.linkname).subarray(0, 100), 157);
  const magic = f.magic ?? 'ustar';
  if (magic === 'ustar') {
    b.set(enc('ustar\0'), 257);
    b.set(enc('00'), 263);
  } else if (magic === 'gnu') b.set(enc('ustar  \0'), 257);
  if (magic !== 'v7') {
    octal(b, 329, 8, f.devmajor ?? 0);
    octal(b, 337, 8, f.devminor ?? 0);
  }
  if (f.prefix) b.set(enc(f.prefix), 345);
  for (const [off, bytes] of f.raw ?? []) b.set(bytes, off);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const c of b) sum += c;
  octal(b, 148, 7, f.checksum ?? sum);
  b[155] = 0x20;
  return b;
}

/** Data padded to a multiple of 512. */
export function data(bytes: Uint8Array | string): Uint8Array {
  const d = typeof bytes === 'string' ? enc(bytes) : bytes;
  const out = new Uint8Array(Math.ceil(d.length / 512) * 512);
  out.set(d);
  return out;
}

/** PAX records `"%d key=value\n"` (the length counts itself). */
export function paxRecords(kv: [string, string][]): Uint8Array {
  let s = '';
  for (const [k, v] of kv) {
    const body = ` ${k}=${v}\n`;
    let len = body.length + 1;
    while (String(len).length + body.length !== len) len = String(len).length + body.length;
    s += `${len}${body}`;
  }
  return enc(s);
}

/** A PAX extended header member (type x or g) carrying `kv`. */
export function pax(kv: [string, string][], typeflag = 'x'): Uint8Array {
  const body = paxRecords(kv);
  return concat(header({ name: 'PaxHeader', typeflag, size: body.length }), data(body));
}

/** A regular file member. */
export function file(name: string, content: string | Uint8Array, f: HeaderFields = {}): Uint8Array {
  const d = typeof content === 'string' ? enc(content) : content;
  return concat(header({ name, size: d.length, ...f }), data(d));
}

export const END = new Uint8Array(1024);

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export function sha256hex(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

/** A base-256 numeric field of `len` bytes (two's complement, high bit set). */
export function base256(v: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  let x = v < 0n ? (1n << BigInt(len * 8)) + v : v;
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(x & 0xffn);
    x >>= 8n;
  }
  out[0]! |= 0x80;
  if (v < 0n) out[0]! |= 0x40;
  return out;
}

/**
 * A zstd frame made of raw (stored) blocks, written from RFC 8878 §3.1: magic, a frame header with the content
 * size, then blocks of at most 128 KiB; enough to test the zstd path without a compressor library.
 */
export function zstdRawFrame(d: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  // Frame_Header_Descriptor: FCS_Field_Size flag 3 (8 bytes), Single_Segment 0 → needs Window_Descriptor
  const fhd = (3 << 6) | 0;
  const windowLog = 17; // 128 KiB window: Exponent = windowLog - 10, Mantissa 0
  parts.push(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd, fhd, (windowLog - 10) << 3]));
  const fcs = new Uint8Array(8);
  new DataView(fcs.buffer).setBigUint64(0, BigInt(d.length), true);
  parts.push(fcs);
  const MAX = 128 * 1024;
  let off = 0;
  do {
    const n = Math.min(MAX, d.length - off);
    const last = off + n >= d.length ? 1 : 0;
    const h = (n << 3) | (0 << 1) | last; // Block_Type 0 = Raw
    parts.push(new Uint8Array([h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff]), d.subarray(off, off + n));
    off += n;
  } while (off < d.length);
  return concat(...parts);
}
