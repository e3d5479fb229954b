/**
 * A small CBOR (RFC 8949) encoder that writes the bytes serde_cbor 0.11 writes for the values the EIF signature
 * section and COSE_Sign1 need (eif-format.md §4.1–§4.3, RFC 9052 §4.2 / §4.4):
 *
 *  - every head in its shortest form (RFC 8949 §4.2.1 "preferred serialization"), definite lengths only;
 *  - integers as major type 0 (n ≥ 0) or 1 (−1 − n), safe integers and bigints up to 64 bits;
 *  - `Uint8Array` as a byte string, `string` as a UTF-8 text string, arrays as arrays;
 *  - a plain object as a map with text keys in insertion order (serde's struct fields, in declaration order),
 *    a `Map` as a map with its own key order (COSE header labels are integers);
 *  - `true`, `false`, `null` as simple values 21, 20, 22.
 *
 * A Rust `Vec<u8>` without `serde_bytes` is an ARRAY of uints in serde_cbor, not a byte string: wrap such bytes
 * in {@link CborUintArray} (or pass `Array.from(bytes)`, which writes the same bytes more slowly). Floats, tags and `undefined` are not needed by
 * any format we write and are refused, so a caller's mistake cannot produce bytes the tools would not.
 * The decoder is ./decode.ts. Browser-safe.
 */
import { EifError } from '../errors.js';

/**
 * Bytes written as an ARRAY of unsigned integers (each byte `b` as `b` or `18 b`) — serde_cbor's form of a Rust
 * `Vec<u8>` (eif-format.md §4.1) — without building a JS array first.
 */
export class CborUintArray {
  constructor(readonly bytes: Uint8Array) {}
}

/** Values {@link encodeCbor} accepts. */
export type CborValue =
  | CborUintArray
  | number
  | bigint
  | string
  | boolean
  | null
  | Uint8Array
  | readonly CborValue[]
  | ReadonlyMap<CborValue, CborValue>
  | { readonly [key: string]: CborValue };

const textEncoder = new TextEncoder();
const MAX_U64 = (1n << 64n) - 1n;

/** A growable output buffer; one per call, so the result is never shared. */
class Writer {
  buf: Uint8Array;
  pos = 0;
  constructor(size: number) {
    this.buf = new Uint8Array(size);
  }

  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  /** An initial byte and its argument in the shortest form (RFC 8949 §3.1, §4.2.1). `n` is a safe integer ≥ 0. */
  head(major: number, n: number): void {
    this.reserve(9);
    const b = this.buf;
    const m = major << 5;
    if (n < 24) {
      b[this.pos++] = m | n;
    } else if (n < 0x100) {
      b[this.pos++] = m | 24;
      b[this.pos++] = n;
    } else if (n < 0x10000) {
      b[this.pos++] = m | 25;
      b[this.pos++] = n >>> 8;
      b[this.pos++] = n & 0xff;
    } else if (n < 0x100000000) {
      b[this.pos++] = m | 26;
      b[this.pos++] = n >>> 24;
      b[this.pos++] = (n >>> 16) & 0xff;
      b[this.pos++] = (n >>> 8) & 0xff;
      b[this.pos++] = n & 0xff;
    } else {
      this.bigHead(major, BigInt(n));
    }
  }

  /** A head whose argument needs 8 bytes. */
  bigHead(major: number, n: bigint): void {
    if (n < 0x100000000n) {
      this.head(major, Number(n));
      return;
    }
    this.reserve(9);
    this.buf[this.pos++] = (major << 5) | 27;
    for (let shift = 56n; shift >= 0n; shift -= 8n) this.buf[this.pos++] = Number((n >> shift) & 0xffn);
  }

  bytes(data: Uint8Array): void {
    this.reserve(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

function fail(message: string): never {
  throw new EifError('CBOR_ENCODE', message);
}

function writeInt(w: Writer, v: number): void {
  if (!Number.isSafeInteger(v)) fail(`cannot encode ${v}: only safe integers are written (no floats)`);
  if (v >= 0) w.head(0, v);
  else w.head(1, -1 - v);
}

function writeBigInt(w: Writer, v: bigint): void {
  if (v >= 0n) {
    if (v > MAX_U64) fail(`integer ${v} does not fit in 64 bits`);
    w.bigHead(0, v);
  } else {
    const n = -1n - v;
    if (n > MAX_U64) fail(`integer ${v} does not fit in 64 bits`);
    w.bigHead(1, n);
  }
}

function writeText(w: Writer, s: string): void {
  // ASCII (serde field names, "Signature1"): one pass, no intermediate array.
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (!ascii) {
    const enc = textEncoder.encode(s);
    w.head(3, enc.length);
    w.bytes(enc);
    return;
  }
  w.head(3, s.length);
  w.reserve(s.length);
  const b = w.buf;
  let p = w.pos;
  for (let i = 0; i < s.length; i++) b[p++] = s.charCodeAt(i);
  w.pos = p;
}

/** Encoded object keys (serde field names repeat on every call); bounded, so hostile keys cannot grow it. */
const keyCache = new Map<string, Uint8Array>();

function writeKey(w: Writer, k: string): void {
  let enc = keyCache.get(k);
  if (!enc) {
    const t = new Writer(k.length + 9);
    writeText(t, k);
    enc = t.result();
    if (keyCache.size < 64 && k.length <= 64) keyCache.set(k, enc);
  }
  w.bytes(enc);
}

function write(w: Writer, v: CborValue, depth: number): void {
  if (depth > 64) fail('value nested deeper than 64 levels');
  switch (typeof v) {
    case 'number':
      writeInt(w, v);
      return;
    case 'bigint':
      writeBigInt(w, v);
      return;
    case 'string':
      writeText(w, v);
      return;
    case 'boolean':
      w.head(7, v ? 21 : 20);
      return;
    case 'object':
      break;
    default:
      fail(`cannot encode a value of type ${typeof v}`);
  }
  if (v === null) {
    w.head(7, 22);
  } else if (v instanceof Uint8Array) {
    w.head(2, v.length);
    w.bytes(v);
  } else if (Array.isArray(v)) {
    const a = v as readonly CborValue[];
    w.head(4, a.length);
    // Arrays of small uints (serde's Vec<u8>) dominate the signature section: at most 2 bytes per item, written
    // in place until the first item that is not a uint below 256.
    w.reserve(2 * a.length);
    const b = w.buf;
    let p = w.pos;
    let i = 0;
    for (; i < a.length; i++) {
      const item = a[i];
      if (typeof item !== 'number' || !(item >= 0 && item < 0x100) || (item | 0) !== item) break;
      if (item < 24) b[p++] = item;
      else {
        b[p++] = 24;
        b[p++] = item;
      }
    }
    w.pos = p;
    for (; i < a.length; i++) write(w, a[i]!, depth + 1);
  } else if (v instanceof CborUintArray) {
    const u = v.bytes;
    w.head(4, u.length);
    w.reserve(2 * u.length);
    const b = w.buf;
    let p = w.pos;
    for (let i = 0; i < u.length; i++) {
      const x = u[i]!;
      if (x < 24) b[p++] = x;
      else {
        b[p++] = 24;
        b[p++] = x;
      }
    }
    w.pos = p;
  } else if (v instanceof Map) {
    w.head(5, v.size);
    for (const [k, item] of v) {
      write(w, k, depth + 1);
      write(w, item, depth + 1);
    }
  } else if (ArrayBuffer.isView(v)) {
    fail('only Uint8Array is written as a byte string (no typed-array tags)');
  } else {
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) fail('only plain objects, Maps, arrays and Uint8Arrays are written');
    const keys = Object.keys(v);
    w.head(5, keys.length);
    for (const k of keys) {
      writeKey(w, k);
      write(w, (v as { readonly [key: string]: CborValue })[k]!, depth + 1);
    }
  }
}

/**
 * Encode `value` as CBOR with shortest heads and definite lengths (see the file comment for the mapping).
 * Throws EifError CBOR_ENCODE for a value outside that mapping (a float, `undefined`, a class instance...).
 * The result is a fresh array of exactly the encoded length; `sizeHint` is the initial buffer size (it grows).
 */
export function encodeCbor(value: CborValue, sizeHint = 256): Uint8Array {
  const w = new Writer(Math.max(16, sizeHint));
  write(w, value, 0);
  return w.result();
}
