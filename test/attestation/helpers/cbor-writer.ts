/**
 * A raw CBOR writer for test documents, independent of the code under test: every helper returns encoded bytes,
 * and the caller composes them, so hostile encodings (non-minimal heads, chunked strings, indefinite containers,
 * duplicate keys, unterminated maps) are as easy to write as canonical ones (RFC 8949 §3).
 */

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** A head with the argument in `width` bytes (0 = in the initial byte; default: shortest form). */
export function head(major: number, arg: number | bigint, width?: 0 | 1 | 2 | 4 | 8): Uint8Array {
  const n = BigInt(arg);
  const w = width ?? (n < 24n ? 0 : n < 0x100n ? 1 : n < 0x10000n ? 2 : n < 0x100000000n ? 4 : 8);
  if (w === 0) return Uint8Array.of((major << 5) | Number(n));
  const out = new Uint8Array(1 + w);
  out[0] = (major << 5) | { 1: 24, 2: 25, 4: 26, 8: 27 }[w]!;
  for (let i = 0; i < w; i++) out[w - i] = Number((n >> BigInt(8 * i)) & 0xffn);
  return out;
}

export const uint = (n: number | bigint): Uint8Array => head(0, n);
export const nint = (n: number | bigint): Uint8Array => head(1, -1n - BigInt(n));
export const int = (n: number | bigint): Uint8Array => (BigInt(n) < 0n ? nint(n) : uint(n));
export const bytes = (b: Uint8Array, width?: 0 | 1 | 2 | 4 | 8): Uint8Array => concat(head(2, b.length, width), b);
export const text = (s: string): Uint8Array => {
  const b = new TextEncoder().encode(s);
  return concat(head(3, b.length), b);
};
export const NULL = Uint8Array.of(0xf6);
export const UNDEFINED = Uint8Array.of(0xf7);
export const BREAK = Uint8Array.of(0xff);
export const float64 = (x: number): Uint8Array => {
  const b = new Uint8Array(9);
  b[0] = 0xfb;
  new DataView(b.buffer).setFloat64(1, x);
  return b;
};
export const tag = (t: number, item: Uint8Array): Uint8Array => concat(head(6, t), item);

export function array(items: Uint8Array[], indefinite = false): Uint8Array {
  return indefinite ? concat(Uint8Array.of(0x9f), ...items, BREAK) : concat(head(4, items.length), ...items);
}

export type Entry = readonly [Uint8Array, Uint8Array];

export function map(entries: readonly Entry[], indefinite = false): Uint8Array {
  const flat = entries.flatMap(([k, v]) => [k, v]);
  return indefinite ? concat(Uint8Array.of(0xbf), ...flat, BREAK) : concat(head(5, entries.length), ...flat);
}

/** A chunked (indefinite-length) byte or text string. */
export function chunked(major: 2 | 3, chunks: Uint8Array[]): Uint8Array {
  return concat(Uint8Array.of((major << 5) | 31), ...chunks.map((c) => concat(head(major, c.length), c)), BREAK);
}
