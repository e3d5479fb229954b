/**
 * A strict CBOR decoder (RFC 8949 §3, with the well-formedness rules of §3.2–§3.3 and the "deterministic"
 * checks of §4.2.1 where they matter for signed data — attestation.md §2.2 steps 1 and 3).
 *
 * Defaults are strict: shortest-form heads only, definite lengths only, unique map keys, no trailing bytes, a
 * nesting limit and an item budget. Every declared length is checked against the remaining input before anything
 * is allocated, so a hostile length (2^62) or a deep nest (5000 arrays) fails fast with a stable code instead of
 * exhausting memory or the stack. Strings are returned as views into the input (no copy). Options relax single
 * rules for callers that need them (indefinite-length maps in NSM payloads, attestation.md §0 finding 1).
 * Browser-safe.
 */
import { EifError } from '../errors.js';
import type { CborArray, CborMap, CborNode } from './node.js';

/** Stable error codes of the decoder (docs/attestation.md lists them). */
export type CborErrorCode =
  | 'CBOR_TRUNCATED'
  | 'CBOR_TRAILING_BYTES'
  | 'CBOR_NON_MINIMAL'
  | 'CBOR_INDEFINITE'
  | 'CBOR_DUPLICATE_KEY'
  | 'CBOR_TOO_DEEP'
  | 'CBOR_TOO_MANY_ITEMS'
  | 'CBOR_TOO_LONG'
  | 'CBOR_MALFORMED'
  | 'CBOR_BAD_UTF8'
  | 'CBOR_TAG_NOT_ALLOWED'
  | 'CBOR_TYPE_NOT_ALLOWED';

export class CborError extends EifError {
  /** Byte offset in the input where the problem was found. */
  readonly offset: number;
  constructor(code: CborErrorCode, message: string, offset: number) {
    super(code, `${message} (at byte ${offset})`);
    this.offset = offset;
  }
}

export interface CborDecodeOptions {
  /** Containers and tags nested deeper than this fail with CBOR_TOO_DEEP. Default 32. */
  readonly maxDepth?: number;
  /** Total data items (every node, map keys included) allowed. Default 65536. */
  readonly maxItems?: number;
  /** Longest byte or text string allowed (bytes). Default: unlimited (still bounded by the input). */
  readonly maxStringLength?: number;
  /** Accept indefinite-length arrays and maps (`9f…ff`, `bf…ff`). Default false. */
  readonly allowIndefiniteContainers?: boolean;
  /** Accept chunked (indefinite-length) byte and text strings. Default false. */
  readonly allowIndefiniteStrings?: boolean;
  /** Accept heads that are longer than necessary (e.g. `59 00 05`). Default false. */
  readonly allowNonMinimal?: boolean;
  /** Accept maps with two equal keys (the later entry is kept too; the caller decides). Default false. */
  readonly allowDuplicateKeys?: boolean;
  /** Tags accepted: true = any (default), false = none, or a list of tag numbers. */
  readonly allowTags?: boolean | readonly number[];
  /** Accept floating-point values. Default true. */
  readonly allowFloats?: boolean;
  /** Accept `undefined` and unassigned simple values. Default true. */
  readonly allowSimple?: boolean;
}

const DEFAULT_MAX_DEPTH = 32;
const DEFAULT_MAX_ITEMS = 65536;

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Sentinel returned by the item reader for a "break" byte (0xff); only valid inside indefinite containers. */
const BREAK = Symbol('break');

interface Head {
  major: number;
  /** Additional information (low 5 bits of the initial byte). */
  ai: number;
  /** Argument as a number when it fits in 53 bits; -1 when larger (then `big` holds it). */
  value: number;
  big: bigint;
  /** Offset just after the head. */
  next: number;
}

class Decoder {
  private pos = 0;
  private items = 0;
  private readonly maxDepth: number;
  private readonly maxItems: number;
  private readonly maxString: number;
  private readonly tagList: readonly number[] | undefined;
  private readonly tagsAllowed: boolean;

  constructor(
    private readonly b: Uint8Array,
    private readonly o: CborDecodeOptions,
  ) {
    this.maxDepth = o.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.maxItems = o.maxItems ?? DEFAULT_MAX_ITEMS;
    this.maxString = o.maxStringLength ?? Number.MAX_SAFE_INTEGER;
    const t = o.allowTags ?? true;
    this.tagsAllowed = t !== false;
    this.tagList = Array.isArray(t) ? t : undefined;
  }

  fail(code: CborErrorCode, message: string, at = this.pos): never {
    throw new CborError(code, message, at);
  }

  decodeAt(offset: number): CborNode {
    this.pos = offset;
    const node = this.item(0);
    if (node === BREAK) this.fail('CBOR_MALFORMED', 'unexpected break byte', offset);
    return node;
  }

  get offset(): number {
    return this.pos;
  }

  private head(): Head {
    const b = this.b;
    const start = this.pos;
    if (start >= b.length) this.fail('CBOR_TRUNCATED', 'input ends where a data item was expected');
    const ib = b[start]!;
    const major = ib >> 5;
    const ai = ib & 0x1f;
    let p = start + 1;
    let value = ai;
    let big = BigInt(ai);
    if (ai >= 24 && ai <= 27) {
      const n = 1 << (ai - 24);
      if (p + n > b.length) this.fail('CBOR_TRUNCATED', 'input ends inside a data item head', start);
      if (n === 8) {
        const hi = ((b[p]! << 24) | (b[p + 1]! << 16) | (b[p + 2]! << 8) | b[p + 3]!) >>> 0;
        const lo = ((b[p + 4]! << 24) | (b[p + 5]! << 16) | (b[p + 6]! << 8) | b[p + 7]!) >>> 0;
        big = (BigInt(hi) << 32n) | BigInt(lo);
        value = hi < 0x200000 ? hi * 0x100000000 + lo : -1;
        if (!this.o.allowNonMinimal && hi === 0 && major !== 7) {
          this.fail('CBOR_NON_MINIMAL', 'integer or length not in shortest form', start);
        }
      } else {
        value = 0;
        for (let i = 0; i < n; i++) value = value * 256 + b[p + i]!;
        big = BigInt(value);
        if (!this.o.allowNonMinimal && major !== 7) {
          const min = n === 1 ? 24 : n === 2 ? 0x100 : 0x10000;
          if (value < min) this.fail('CBOR_NON_MINIMAL', 'integer or length not in shortest form', start);
        }
      }
      p += n;
    } else if (ai >= 28 && ai <= 30) {
      this.fail('CBOR_MALFORMED', `reserved additional information ${ai}`, start);
    }
    this.pos = p;
    return { major, ai, value, big, next: p };
  }

  private count(at: number): void {
    if (++this.items > this.maxItems) this.fail('CBOR_TOO_MANY_ITEMS', `more than ${this.maxItems} data items`, at);
  }

  private item(depth: number): CborNode | typeof BREAK {
    const start = this.pos;
    const h = this.head();
    if (h.major !== 7 || h.ai !== 31) this.count(start);
    switch (h.major) {
      case 0:
        if (h.ai === 31) this.fail('CBOR_MALFORMED', 'indefinite length on an integer', start);
        return { kind: 'int', value: h.big, start, end: this.pos };
      case 1:
        if (h.ai === 31) this.fail('CBOR_MALFORMED', 'indefinite length on an integer', start);
        return { kind: 'int', value: -1n - h.big, start, end: this.pos };
      case 2:
      case 3:
        return this.string(h, start, depth);
      case 4:
      case 5:
        return this.container(h, start, depth);
      case 6: {
        if (h.ai === 31) this.fail('CBOR_MALFORMED', 'indefinite length on a tag', start);
        if (!this.tagsAllowed || (this.tagList && (h.value < 0 || !this.tagList.includes(h.value)))) {
          this.fail('CBOR_TAG_NOT_ALLOWED', `unexpected tag ${h.big}`, start);
        }
        if (depth + 1 > this.maxDepth) this.fail('CBOR_TOO_DEEP', `nesting deeper than ${this.maxDepth}`, start);
        const inner = this.item(depth + 1);
        if (inner === BREAK) this.fail('CBOR_MALFORMED', 'break byte as tag content', start);
        return { kind: 'tag', tag: h.big, item: inner, start, end: this.pos };
      }
      default:
        return this.simple(h, start);
    }
  }

  private simple(h: Head, start: number): CborNode | typeof BREAK {
    const ai = h.ai;
    if (ai === 31) return BREAK;
    if (ai === 20 || ai === 21) return { kind: 'bool', value: ai === 21, start, end: this.pos };
    if (ai === 22) return { kind: 'null', start, end: this.pos };
    if (ai >= 25) {
      if (this.o.allowFloats === false) this.fail('CBOR_TYPE_NOT_ALLOWED', 'floating-point value', start);
      const size = (1 << (ai - 24)) as 2 | 4 | 8;
      const view = new DataView(this.b.buffer, this.b.byteOffset + start + 1, size);
      const value = size === 2 ? half(view.getUint16(0)) : size === 4 ? view.getFloat32(0) : view.getFloat64(0);
      return { kind: 'float', value, size, start, end: this.pos };
    }
    if (ai === 24 && h.value < 32) this.fail('CBOR_MALFORMED', `simple value ${h.value} in two-byte form`, start);
    if (this.o.allowSimple === false) {
      this.fail('CBOR_TYPE_NOT_ALLOWED', ai === 23 ? 'undefined value' : `simple value ${h.value}`, start);
    }
    if (ai === 23) return { kind: 'undefined', start, end: this.pos };
    return { kind: 'simple', value: h.value, start, end: this.pos };
  }

  private length(h: Head, start: number, unit: number, what: string): number {
    const remaining = this.b.length - this.pos;
    // Every element of a container takes at least one byte, so a count larger than the rest of the input can
    // never be satisfied: refuse it before allocating or looping.
    if (h.value < 0 || h.value * unit > remaining) {
      this.fail('CBOR_TRUNCATED', `${what} declares ${h.big} but only ${remaining} bytes remain`, start);
    }
    return h.value;
  }

  private string(h: Head, start: number, depth: number): CborNode {
    const major = h.major;
    if (h.ai === 31) {
      if (!this.o.allowIndefiniteStrings) {
        this.fail('CBOR_INDEFINITE', 'indefinite-length (chunked) string', start);
      }
      if (depth + 1 > this.maxDepth) this.fail('CBOR_TOO_DEEP', `nesting deeper than ${this.maxDepth}`, start);
      const chunks: Uint8Array[] = [];
      let total = 0;
      for (;;) {
        const cStart = this.pos;
        if (cStart >= this.b.length) this.fail('CBOR_TRUNCATED', 'unterminated chunked string', start);
        if (this.b[cStart] === 0xff) {
          this.pos++;
          break;
        }
        const ch = this.head();
        if (ch.major !== major || ch.ai === 31) {
          this.fail('CBOR_MALFORMED', 'chunk of a chunked string has the wrong type', cStart);
        }
        this.count(cStart);
        const n = this.length(ch, cStart, 1, 'string chunk');
        total += n;
        if (total > this.maxString) this.fail('CBOR_TOO_LONG', `string longer than ${this.maxString} bytes`, cStart);
        const chunk = this.b.subarray(this.pos, this.pos + n);
        if (major === 3) this.text(chunk, cStart);
        chunks.push(chunk);
        this.pos += n;
      }
      const joined = new Uint8Array(total);
      let o = 0;
      for (const c of chunks) {
        joined.set(c, o);
        o += c.length;
      }
      return major === 2
        ? { kind: 'bytes', value: joined, contentStart: -1, chunked: true, start, end: this.pos }
        : { kind: 'text', value: this.text(joined, start), chunked: true, start, end: this.pos };
    }
    const n = this.length(h, start, 1, major === 2 ? 'byte string' : 'text string');
    if (n > this.maxString) this.fail('CBOR_TOO_LONG', `string of ${n} bytes (limit ${this.maxString})`, start);
    const contentStart = this.pos;
    const content = this.b.subarray(contentStart, contentStart + n);
    this.pos += n;
    return major === 2
      ? { kind: 'bytes', value: content, contentStart, chunked: false, start, end: this.pos }
      : { kind: 'text', value: this.text(content, start), chunked: false, start, end: this.pos };
  }

  private text(bytes: Uint8Array, at: number): string {
    try {
      return utf8.decode(bytes);
    } catch {
      this.fail('CBOR_BAD_UTF8', 'text string is not valid UTF-8', at);
    }
  }

  private container(h: Head, start: number, depth: number): CborArray | CborMap {
    if (depth + 1 > this.maxDepth) this.fail('CBOR_TOO_DEEP', `nesting deeper than ${this.maxDepth}`, start);
    const isMap = h.major === 5;
    const indefinite = h.ai === 31;
    if (indefinite && !this.o.allowIndefiniteContainers) {
      this.fail('CBOR_INDEFINITE', `indefinite-length ${isMap ? 'map' : 'array'}`, start);
    }
    const n = indefinite ? -1 : this.length(h, start, isMap ? 2 : 1, isMap ? 'map' : 'array');
    if (!indefinite && this.items + n * (isMap ? 2 : 1) > this.maxItems) {
      this.fail('CBOR_TOO_MANY_ITEMS', `more than ${this.maxItems} data items`, start);
    }
    if (!isMap) {
      const items: CborNode[] = [];
      for (let i = 0; indefinite || i < n; i++) {
        const it = this.item(depth + 1);
        if (it === BREAK) {
          if (!indefinite) this.fail('CBOR_MALFORMED', 'unexpected break byte', this.pos - 1);
          break;
        }
        items.push(it);
      }
      return { kind: 'array', items, indefinite, start, end: this.pos };
    }
    const entries: (readonly [CborNode, CborNode])[] = [];
    const seen = this.o.allowDuplicateKeys ? undefined : new Set<string>();
    for (let i = 0; indefinite || i < n; i++) {
      const keyAt = this.pos;
      const k = this.item(depth + 1);
      if (k === BREAK) {
        if (!indefinite) this.fail('CBOR_MALFORMED', 'unexpected break byte', keyAt);
        break;
      }
      const v = this.item(depth + 1);
      if (v === BREAK) this.fail('CBOR_MALFORMED', 'map key without a value', keyAt);
      if (seen) {
        const id = this.keyIdentity(k);
        if (seen.has(id)) this.fail('CBOR_DUPLICATE_KEY', `duplicate map key ${describeKey(k)}`, keyAt);
        seen.add(id);
      }
      entries.push([k, v]);
    }
    return { kind: 'map', entries, indefinite, start, end: this.pos };
  }

  /** Keys are equal when they are the same data item; compare by value for scalars, by encoding otherwise. */
  private keyIdentity(k: CborNode): string {
    switch (k.kind) {
      case 'int':
        return `i${k.value}`;
      case 'text':
        return `t${k.value}`;
      case 'bytes':
        return `b${latin1(k.value)}`;
      default:
        return `r${latin1(this.b.subarray(k.start, k.end))}`;
    }
  }
}

function latin1(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += String.fromCharCode(bytes[i]!);
  return s;
}

function describeKey(k: CborNode): string {
  if (k.kind === 'text') return JSON.stringify(k.value.length > 40 ? k.value.slice(0, 40) + '…' : k.value);
  if (k.kind === 'int') return String(k.value);
  return `of kind ${k.kind}`;
}

/** IEEE 754 half precision to a JS number (RFC 8949 Appendix D). */
function half(bits: number): number {
  const exp = (bits >> 10) & 0x1f;
  const mant = bits & 0x3ff;
  const sign = bits & 0x8000 ? -1 : 1;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant === 0 ? sign * Infinity : NaN;
  return sign * (mant + 1024) * 2 ** (exp - 25);
}

/**
 * Decode exactly one data item that fills `bytes` completely (trailing bytes fail with CBOR_TRAILING_BYTES).
 * Throws {@link CborError}.
 */
export function decodeCbor(bytes: Uint8Array, options: CborDecodeOptions = {}): CborNode {
  const d = new Decoder(bytes, options);
  const node = d.decodeAt(0);
  if (node.end !== bytes.length) {
    throw new CborError('CBOR_TRAILING_BYTES', `${bytes.length - node.end} bytes after the data item`, node.end);
  }
  return node;
}

/**
 * Decode one data item starting at `offset` and return it; `node.end` is where the next item (if any) starts.
 * For CBOR sequences (RFC 8742) and for callers that read a prefix. Throws {@link CborError}.
 */
export function decodeCborItem(bytes: Uint8Array, offset = 0, options: CborDecodeOptions = {}): CborNode {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > bytes.length) {
    throw new CborError('CBOR_TRUNCATED', 'offset outside the input', Math.max(0, Math.min(offset | 0, bytes.length)));
  }
  return new Decoder(bytes, options).decodeAt(offset);
}
