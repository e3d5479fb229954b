/**
 * A minimal, strict DER (X.690) reader and writer for the few ASN.1 structures eifkit touches: X.509
 * certificates (./x509.ts: EIF signing certificates, eif-format.md §4; attestation chains, attestation.md §2),
 * SEC1 / PKCS#8 EC private keys, and ECDSA signatures (DER `SEQUENCE { r INTEGER, s INTEGER }` <-> fixed-width
 * r‖s, eif-format.md §4.2).
 *
 * Every read is bounds-checked against its parent, lengths must be minimal definite-form (DER), and nothing is
 * allocated from a length field, so hostile input costs at most one pass. Browser-safe.
 */
import type { ErrorCode } from '../error-codes.js';
import { EifError } from '../errors.js';

export const TAG_BOOLEAN = 0x01;
export const TAG_INTEGER = 0x02;
export const TAG_BIT_STRING = 0x03;
export const TAG_OCTET_STRING = 0x04;
export const TAG_NULL = 0x05;
export const TAG_OID = 0x06;
export const TAG_SEQUENCE = 0x30;
export const TAG_SET = 0x31;
export const TAG_UTC_TIME = 0x17;
export const TAG_GENERALIZED_TIME = 0x18;

/** One TLV: `bytes.subarray(start, end)` is the whole element, `value()` its contents. */
export interface Tlv {
  readonly tag: number;
  readonly start: number;
  /** Offset of the first content byte. */
  readonly contentStart: number;
  readonly end: number;
}

/** Reads TLVs from a byte array; every failure is an EifError with the code given at construction. */
export class DerReader {
  constructor(
    readonly bytes: Uint8Array,
    private readonly code: ErrorCode,
    private readonly what: string,
  ) {}

  fail(detail: string): never {
    throw new EifError(this.code, `${this.what}: malformed DER (${detail})`);
  }

  /** Read the TLV starting at `offset`, which must end at or before `limit`. Low tag numbers only. */
  read(offset: number, limit = this.bytes.length): Tlv {
    const b = this.bytes;
    if (offset + 2 > limit) this.fail('truncated element header');
    const tag = b[offset]!;
    if ((tag & 0x1f) === 0x1f) this.fail('high tag numbers are not used here');
    let len = b[offset + 1]!;
    let p = offset + 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0) this.fail('indefinite length');
      if (n > 4) this.fail('length field too long');
      if (p + n > limit) this.fail('truncated length');
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + b[p + i]!;
      if (b[p] === 0 || len < 0x80) this.fail('non-minimal length');
      p += n;
    }
    if (p + len > limit) this.fail('element runs past its container');
    return { tag, start: offset, contentStart: p, end: p + len };
  }

  /** Read a TLV and require its tag. */
  expect(offset: number, tag: number, limit?: number, name = 'element'): Tlv {
    const t = this.read(offset, limit);
    if (t.tag !== tag) this.fail(`${name}: expected tag 0x${hex2(tag)}, found 0x${hex2(t.tag)}`);
    return t;
  }

  /** The elements inside a constructed TLV, in order (must exactly fill it). */
  children(parent: Tlv): Tlv[] {
    const out: Tlv[] = [];
    let p = parent.contentStart;
    while (p < parent.end) {
      const t = this.read(p, parent.end);
      out.push(t);
      p = t.end;
    }
    return out;
  }

  content(t: Tlv): Uint8Array {
    return this.bytes.subarray(t.contentStart, t.end);
  }

  whole(t: Tlv): Uint8Array {
    return this.bytes.subarray(t.start, t.end);
  }

  /** Dotted-decimal form of an OBJECT IDENTIFIER. */
  oid(t: Tlv): string {
    if (t.tag !== TAG_OID) this.fail('expected an OBJECT IDENTIFIER');
    const c = this.content(t);
    if (c.length === 0 || c.length > 64) this.fail('bad OBJECT IDENTIFIER length');
    const parts: number[] = [];
    let v = 0;
    for (let i = 0; i < c.length; i++) {
      const byte = c[i]!;
      if (v === 0 && byte === 0x80) this.fail('non-minimal OBJECT IDENTIFIER arc');
      v = v * 128 + (byte & 0x7f);
      if (v > Number.MAX_SAFE_INTEGER / 128) this.fail('OBJECT IDENTIFIER arc too large');
      if ((byte & 0x80) === 0) {
        parts.push(v);
        v = 0;
      } else if (i === c.length - 1) {
        this.fail('truncated OBJECT IDENTIFIER');
      }
    }
    const first = parts[0]!;
    const head = first < 40 ? [0, first] : first < 80 ? [1, first - 40] : [2, first - 80];
    return [...head, ...parts.slice(1)].join('.');
  }
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

// ---- writing ----

function lengthBytes(len: number): number[] {
  if (len < 0x80) return [len];
  const out: number[] = [];
  for (let l = len; l > 0; l = Math.floor(l / 256)) out.unshift(l & 0xff);
  return [0x80 | out.length, ...out];
}

/** Encode one TLV. */
export function derTlv(tag: number, ...content: Uint8Array[]): Uint8Array {
  const len = content.reduce((n, c) => n + c.length, 0);
  const head = [tag, ...lengthBytes(len)];
  const out = new Uint8Array(head.length + len);
  out.set(head, 0);
  let p = head.length;
  for (const c of content) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}

/** Encode a dotted OID (arcs below 2^53). */
export function derOid(dotted: string): Uint8Array {
  const arcs = dotted.split('.').map(Number);
  const bytes: number[] = [];
  const push = (v: number): void => {
    const group: number[] = [v & 0x7f];
    for (v = Math.floor(v / 128); v > 0; v = Math.floor(v / 128)) group.unshift((v & 0x7f) | 0x80);
    bytes.push(...group);
  };
  push(arcs[0]! * 40 + arcs[1]!);
  for (const a of arcs.slice(2)) push(a);
  return derTlv(TAG_OID, new Uint8Array(bytes));
}

/** A non-negative big-endian integer (leading zeros allowed on input) as a DER INTEGER. */
export function derUnsignedInteger(be: Uint8Array): Uint8Array {
  let i = 0;
  while (i < be.length - 1 && be[i] === 0) i++;
  const v = be.subarray(i);
  return v[0]! & 0x80 ? derTlv(TAG_INTEGER, new Uint8Array([0]), v) : derTlv(TAG_INTEGER, v.length ? v : new Uint8Array([0]));
}

// ---- ECDSA signature forms ----

/**
 * DER `Ecdsa-Sig-Value` -> fixed-width r‖s (each `size` bytes), as COSE needs (RFC 8152 §8.1). Throws `code`
 * if the input is not exactly one well-formed SEQUENCE of two positive INTEGERs that fit in `size` bytes.
 */
export function ecdsaDerToRaw(der: Uint8Array, size: number, code: ErrorCode, what = 'ECDSA signature'): Uint8Array {
  const r = new DerReader(der, code, what);
  const seq = r.expect(0, TAG_SEQUENCE, der.length, 'signature');
  if (seq.end !== der.length) r.fail('trailing bytes after the signature');
  const parts = r.children(seq);
  if (parts.length !== 2) r.fail('expected two INTEGERs');
  const out = new Uint8Array(2 * size);
  parts.forEach((t, i) => {
    if (t.tag !== TAG_INTEGER) r.fail('expected an INTEGER');
    let v = r.content(t);
    if (v.length === 0 || v[0]! & 0x80) r.fail('signature integer is empty or negative');
    if (v.length > 1 && v[0] === 0 && (v[1]! & 0x80) === 0) r.fail('non-minimal INTEGER');
    if (v[0] === 0) v = v.subarray(1);
    if (v.length > size) r.fail(`signature integer longer than ${size} bytes`);
    out.set(v, i * size + size - v.length);
  });
  return out;
}

/** Fixed-width r‖s -> DER `Ecdsa-Sig-Value`. */
export function ecdsaRawToDer(raw: Uint8Array): Uint8Array {
  const half = raw.length / 2;
  return derTlv(TAG_SEQUENCE, derUnsignedInteger(raw.subarray(0, half)), derUnsignedInteger(raw.subarray(half)));
}
