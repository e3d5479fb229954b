/**
 * src/cbor/encode.ts: shortest heads at every length boundary (RFC 8949 §3.1, §4.2.1), negative integers, nested
 * containers, and a round trip through the strict decoder (which refuses non-minimal heads and indefinite
 * lengths, so a round trip also proves the encoder writes neither). The byte-exact serde_cbor and COSE vectors
 * are in test/signing/section.test.ts and test/signing/verify.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { CborUintArray, encodeCbor, type CborValue } from '../../src/cbor/encode.js';
import { decodeCbor } from '../../src/cbor/decode.js';
import type { CborNode } from '../../src/cbor/node.js';
import { toHex } from '../../src/util/hex.js';

const hex = (v: CborValue): string => toHex(encodeCbor(v));

/** The head RFC 8949 §3.1 prescribes, written out independently (major type, argument as bigint). */
function expectedHead(major: number, n: bigint): string {
  const m = major << 5;
  const h = (x: number): string => x.toString(16).padStart(2, '0');
  if (n < 24n) return h(m | Number(n));
  if (n < 0x100n) return h(m | 24) + n.toString(16).padStart(2, '0');
  if (n < 0x10000n) return h(m | 25) + n.toString(16).padStart(4, '0');
  if (n < 0x100000000n) return h(m | 26) + n.toString(16).padStart(8, '0');
  return h(m | 27) + n.toString(16).padStart(16, '0');
}

const BOUNDARIES = [0, 1, 23, 24, 25, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER];

/** Plain JS view of a decoded node, to compare with what was encoded. */
function plain(n: CborNode): unknown {
  switch (n.kind) {
    case 'int':
      return n.value;
    case 'bytes':
      return ['bytes', toHex(n.value)];
    case 'text':
    case 'bool':
      return n.value;
    case 'null':
      return null;
    case 'array':
      return n.items.map(plain);
    case 'map':
      return ['map', n.entries.map(([k, v]) => [plain(k), plain(v)])];
    default:
      return ['other', n.kind];
  }
}

describe('CBOR encoder: integers (major types 0 and 1)', () => {
  it.each(BOUNDARIES)('unsigned %d has the shortest head', (n) => {
    expect(hex(n)).toBe(expectedHead(0, BigInt(n)));
  });

  it.each(BOUNDARIES)('negative -1-%d has the shortest head (as a number when safe, and as a bigint)', (n) => {
    if (n < Number.MAX_SAFE_INTEGER) expect(hex(-1 - n)).toBe(expectedHead(1, BigInt(n)));
    expect(hex(-1n - BigInt(n))).toBe(expectedHead(1, BigInt(n)));
    expect(hex(BigInt(n))).toBe(expectedHead(0, BigInt(n)));
  });

  it('RFC 8949 Appendix A examples', () => {
    expect(hex(0)).toBe('00');
    expect(hex(23)).toBe('17');
    expect(hex(24)).toBe('1818');
    expect(hex(100)).toBe('1864');
    expect(hex(1000)).toBe('1903e8');
    expect(hex(1000000)).toBe('1a000f4240');
    expect(hex(1000000000000)).toBe('1b000000e8d4a51000');
    expect(hex(18446744073709551615n)).toBe('1bffffffffffffffff');
    expect(hex(-18446744073709551616n)).toBe('3bffffffffffffffff');
    expect(hex(-1)).toBe('20');
    expect(hex(-10)).toBe('29');
    expect(hex(-100)).toBe('3863');
    expect(hex(-1000)).toBe('3903e7');
    expect(hex(-24)).toBe('37');
    expect(hex(-25)).toBe('3818');
  });

  it('COSE algorithm ids (RFC 9053): -7, -35, -36', () => {
    expect(hex(-7)).toBe('26');
    expect(hex(-35)).toBe('3822');
    expect(hex(-36)).toBe('3823');
  });

  it('bigints beyond 64 bits, floats and unsafe integers are refused (CBOR_ENCODE)', () => {
    for (const v of [1n << 64n, -(1n << 64n) - 1n, 1.5, NaN, Infinity, 2 ** 53]) {
      expect(() => encodeCbor(v)).toThrow(expect.objectContaining({ code: 'CBOR_ENCODE' }));
    }
  });
});

describe('CBOR encoder: lengths of strings, arrays and maps', () => {
  const LENGTHS = [0, 1, 23, 24, 255, 256, 65535, 65536];

  it.each(LENGTHS)('byte string of %d bytes', (n) => {
    const b = Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) & 0xff);
    const out = encodeCbor(b);
    const head = expectedHead(2, BigInt(n));
    expect(toHex(out.subarray(0, head.length / 2))).toBe(head);
    expect(out.length).toBe(head.length / 2 + n);
    expect(toHex(out.subarray(head.length / 2))).toBe(toHex(b));
  });

  it.each(LENGTHS)('ASCII text of %d characters', (n) => {
    const s = 'abcdefghijklmnopqrstuvwxyz'.repeat(Math.ceil(n / 26) + 1).slice(0, n);
    const out = encodeCbor(s);
    const head = expectedHead(3, BigInt(n));
    expect(toHex(out.subarray(0, head.length / 2))).toBe(head);
    expect(new TextDecoder().decode(out.subarray(head.length / 2))).toBe(s);
  });

  it('non-ASCII text: the head counts UTF-8 bytes, not characters', () => {
    expect(hex('ü')).toBe('62c3bc');
    expect(hex('水')).toBe('63e6b0b4');
    expect(hex('\u{10151}')).toBe('64f0908591');
    const s = 'é'.repeat(12); // 12 characters, 24 bytes: crosses the 23/24 boundary by bytes only
    expect(hex(s).slice(0, 4)).toBe('7818');
  });

  it.each(LENGTHS)('array of %d uints (serde Vec<u8>), items 23/24 straddled', (n) => {
    const a = Array.from({ length: n }, (_, i) => [0, 23, 24, 255][i % 4]!);
    const out = encodeCbor(a);
    const head = expectedHead(4, BigInt(n));
    expect(toHex(out.subarray(0, head.length / 2))).toBe(head);
    expect(toHex(out.subarray(head.length / 2))).toBe(a.map((x) => expectedHead(0, BigInt(x))).join(''));
  });

  it.each([0, 1, 23, 24, 255, 256, 65536])('map of %d entries keeps insertion order', (n) => {
    const m = new Map<CborValue, CborValue>(Array.from({ length: n }, (_, i) => [n - i, i]));
    const out = encodeCbor(m);
    const head = expectedHead(5, BigInt(n));
    expect(toHex(out.subarray(0, head.length / 2))).toBe(head);
    const body = Array.from({ length: n }, (_, i) => expectedHead(0, BigInt(n - i)) + expectedHead(0, BigInt(i))).join('');
    expect(toHex(out.subarray(head.length / 2))).toBe(body);
  });

  it('a plain object is a text-keyed map in insertion order (serde struct fields)', () => {
    expect(hex({ b: 1, a: 2 })).toBe('a2' + '6162' + '01' + '6161' + '02');
    expect(hex({})).toBe('a0');
  });
});

describe('CBOR encoder: simple values, nesting and refusals', () => {
  it('true, false, null', () => {
    expect(hex(false)).toBe('f4');
    expect(hex(true)).toBe('f5');
    expect(hex(null)).toBe('f6');
  });

  it('nested arrays and maps (RFC 8949 Appendix A)', () => {
    expect(hex([1, [2, 3], [4, 5]])).toBe('8301820203820405');
    expect(hex({ a: 1, b: [2, 3] })).toBe('a26161016162820203');
    expect(hex(['a', { b: 'c' }])).toBe('826161a161626163');
    expect(hex(Array.from({ length: 25 }, (_, i) => i + 1))).toBe('98190102030405060708090a0b0c0d0e0f101112131415161718181819');
    expect(hex(new Map<CborValue, CborValue>([[1, 2], [3, 4]]))).toBe('a201020304');
  });

  it('refuses undefined, functions, class instances, other typed arrays and overly deep nests', () => {
    const deep: CborValue[] = [];
    let cur = deep;
    for (let i = 0; i < 100; i++) {
      const next: CborValue[] = [];
      cur.push(next);
      cur = next;
    }
    for (const v of [undefined, () => 1, new Date(0), new Uint16Array(2), Symbol('x'), deep]) {
      expect(() => encodeCbor(v as unknown as CborValue)).toThrow(expect.objectContaining({ code: 'CBOR_ENCODE' }));
    }
  });

  it('returns a fresh array each call (no shared output buffer)', () => {
    const a = encodeCbor([1, 2, 3]);
    const b = encodeCbor([4, 5, 6]);
    expect(toHex(a)).toBe('83010203');
    expect(toHex(b)).toBe('83040506');
    expect(a.buffer).not.toBe(b.buffer);
    expect(a.byteLength).toBe(a.buffer.byteLength);
  });
});

describe('CBOR encoder: round trip through the strict decoder', () => {
  const values: [string, CborValue, unknown][] = [
    ['integers at every boundary', [...BOUNDARIES, ...BOUNDARIES.map((n) => -1n - BigInt(n))], [...BOUNDARIES.map(BigInt), ...BOUNDARIES.map((n) => -1n - BigInt(n))]],
    ['64-bit extremes', [18446744073709551615n, -18446744073709551616n], [18446744073709551615n, -18446744073709551616n]],
    ['strings', ['', 'a', 'x'.repeat(300), 'ü水'], ['', 'a', 'x'.repeat(300), 'ü水']],
    ['bytes', [new Uint8Array(0), new Uint8Array(70000).fill(9)], [['bytes', ''], ['bytes', '09'.repeat(70000)]]],
    ['simple', [true, false, null], [true, false, null]],
    [
      'nested maps and arrays',
      { outer: [new Map<CborValue, CborValue>([[-35, { k: [1, [2, [3]]] }]]), {}] },
      ['map', [['outer', [['map', [[-35n, ['map', [['k', [1n, [2n, [3n]]]]]]]]], ['map', []]]]]],
    ],
  ];

  it.each(values)('%s', (_name, v, expected) => {
    const bytes = encodeCbor(v);
    const node = decodeCbor(bytes, { maxDepth: 64, maxItems: 1 << 20 }); // strict: shortest heads, definite lengths
    expect(node.end).toBe(bytes.length);
    expect(plain(node)).toEqual(expected);
  });
});

describe('CborUintArray (serde Vec<u8>)', () => {
  it('writes the same bytes as the equivalent number array, at every length boundary', () => {
    for (const n of [0, 1, 23, 24, 255, 256, 65535, 65536]) {
      const b = Uint8Array.from({ length: n }, (_, i) => [0, 23, 24, 255, i & 0xff][i % 5]!);
      expect(toHex(encodeCbor(new CborUintArray(b)))).toBe(toHex(encodeCbor(Array.from(b))));
      expect(toHex(encodeCbor(new CborUintArray(b)).subarray(0, expectedHead(4, BigInt(n)).length / 2))).toBe(expectedHead(4, BigInt(n)));
    }
  });

  it('round-trips through the strict decoder as an array of uints', () => {
    const b = Uint8Array.of(0, 23, 24, 200, 255);
    expect(plain(decodeCbor(encodeCbor({ v: new CborUintArray(b) })))).toEqual(['map', [['v', [0n, 23n, 24n, 200n, 255n]]]]);
  });
});
