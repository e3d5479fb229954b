/**
 * The strict CBOR decoder (src/cbor/decode.ts): RFC 8949 Appendix A examples, byte spans, and every strictness
 * rule with its stable code — shortest heads, definite lengths, unique keys, no trailing bytes, bounded
 * lengths / depth / item count — plus the options that relax them.
 */
import { describe, expect, it } from 'vitest';
import { CborError, decodeCbor, decodeCborItem, type CborDecodeOptions } from '../../src/cbor/decode.js';
import { intToNumber, mapGet, type CborNode } from '../../src/cbor/node.js';

const hex = (h: string): Uint8Array => Uint8Array.from(h.replace(/\s/g, '').match(/../g) ?? [], (b) => parseInt(b, 16));

/** A plain JS view of a node (for comparisons). */
function plain(n: CborNode): unknown {
  switch (n.kind) {
    case 'int':
      return n.value;
    case 'bytes':
      return { bytes: Array.from(n.value) };
    case 'text':
      return n.value;
    case 'array':
      return n.items.map(plain);
    case 'map':
      return { map: n.entries.map(([k, v]) => [plain(k), plain(v)]) };
    case 'tag':
      return { tag: n.tag, item: plain(n.item) };
    case 'bool':
      return n.value;
    case 'null':
      return null;
    case 'undefined':
      return undefined;
    case 'simple':
      return { simple: n.value };
    case 'float':
      return n.value;
  }
}

function code(bytes: Uint8Array, o: CborDecodeOptions = {}): string {
  try {
    decodeCbor(bytes, o);
  } catch (e) {
    expect(e).toBeInstanceOf(CborError);
    return (e as CborError).code;
  }
  return 'OK';
}

describe('RFC 8949 Appendix A examples', () => {
  const cases: [string, unknown][] = [
    ['00', 0n],
    ['17', 23n],
    ['1818', 24n],
    ['1903e8', 1000n],
    ['1a000f4240', 1000000n],
    ['1b000000e8d4a51000', 1000000000000n],
    ['1bffffffffffffffff', 18446744073709551615n],
    ['3bffffffffffffffff', -18446744073709551616n],
    ['20', -1n],
    ['3903e7', -1000n],
    ['f93c00', 1],
    ['f97bff', 65504],
    ['fa47c35000', 100000],
    ['fb3ff199999999999a', 1.1],
    ['f90001', 5.960464477539063e-8],
    ['f97c00', Infinity],
    ['f4', false],
    ['f5', true],
    ['f6', null],
    ['f7', undefined],
    ['f0', { simple: 16 }],
    ['f8ff', { simple: 255 }],
    ['c074323031332d30332d32315432303a30343a30305a', { tag: 0n, item: '2013-03-21T20:04:00Z' }],
    ['4401020304', { bytes: [1, 2, 3, 4] }],
    ['60', ''],
    ['6449455446', 'IETF'],
    ['62c3bc', 'ü'],
    ['64f0908591', '𐅑'],
    ['80', []],
    ['83010203', [1n, 2n, 3n]],
    ['8301820203820405', [1n, [2n, 3n], [4n, 5n]]],
    ['a201020304', { map: [[1n, 2n], [3n, 4n]] }],
    ['a26161016162820203', { map: [['a', 1n], ['b', [2n, 3n]]] }],
  ];
  for (const [h, v] of cases) it(h, () => expect(plain(decodeCbor(hex(h)))).toEqual(v));

  it('NaN', () => expect(Number.isNaN(plain(decodeCbor(hex('f97e00'))))).toBe(true));

  it('indefinite-length examples when allowed', () => {
    const o = { allowIndefiniteContainers: true, allowIndefiniteStrings: true };
    expect(plain(decodeCbor(hex('5f42010243030405ff'), o))).toEqual({ bytes: [1, 2, 3, 4, 5] });
    expect(plain(decodeCbor(hex('7f657374726561646d696e67ff'), o))).toEqual('streaming');
    expect(plain(decodeCbor(hex('9fff'), o))).toEqual([]);
    expect(plain(decodeCbor(hex('9f018202039f0405ffff'), o))).toEqual([1n, [2n, 3n], [4n, 5n]]);
    expect(plain(decodeCbor(hex('bf61610161629f0203ffff'), o))).toEqual({ map: [['a', 1n], ['b', [2n, 3n]]] });
  });
});

describe('spans', () => {
  it('every node knows the bytes it came from; byte strings are views into the input', () => {
    const input = hex('a2 6161 43 010203 6162 82 02 03');
    const m = decodeCbor(input);
    expect(m.kind).toBe('map');
    if (m.kind !== 'map') return;
    const [, v] = m.entries[0]!;
    expect(v).toMatchObject({ kind: 'bytes', start: 3, end: 7, contentStart: 4 });
    if (v.kind === 'bytes') expect(v.value.buffer).toBe(input.buffer);
    const arr = m.entries[1]![1];
    expect([arr.start, arr.end]).toEqual([9, 12]);
    expect(mapGet(m, 'b')).toBe(arr);
    expect(mapGet(m, 'zz')).toBeUndefined();
  });

  it('decodeCborItem reads a sequence item by item', () => {
    const seq = hex('01 6161 f6');
    const a = decodeCborItem(seq, 0);
    const b = decodeCborItem(seq, a.end);
    const c = decodeCborItem(seq, b.end);
    expect([plain(a), plain(b), plain(c), c.end]).toEqual([1n, 'a', null, 4]);
    expect(() => decodeCborItem(seq, 4)).toThrow(CborError);
    expect(() => decodeCborItem(seq, -1)).toThrow(CborError);
  });

  it('intToNumber', () => {
    const n = decodeCbor(hex('1b000000e8d4a51000'));
    if (n.kind === 'int') expect(intToNumber(n)).toBe(1e12);
    const big = decodeCbor(hex('1bffffffffffffffff'));
    if (big.kind === 'int') expect(intToNumber(big)).toBeUndefined();
  });
});

describe('strictness (defaults) and options', () => {
  it('non-minimal heads', () => {
    for (const h of ['1817', '190017', '1a00000017', '1b0000000000000017', '5800', '590001ff', '98 00', 'b900 00', 'd8 01 00', '3817']) {
      expect(code(hex(h)), h).toBe('CBOR_NON_MINIMAL');
    }
    expect(code(hex('1817'), { allowNonMinimal: true })).toBe('OK');
    // floats are exempt (preferred serialization is not required)
    expect(code(hex('fb3ff0000000000000'))).toBe('OK');
  });

  it('indefinite lengths are refused unless allowed, separately for containers and strings', () => {
    expect(code(hex('9fff'))).toBe('CBOR_INDEFINITE');
    expect(code(hex('bfff'))).toBe('CBOR_INDEFINITE');
    expect(code(hex('5f4101ff'))).toBe('CBOR_INDEFINITE');
    expect(code(hex('7f6161ff'))).toBe('CBOR_INDEFINITE');
    expect(code(hex('bfff'), { allowIndefiniteContainers: true })).toBe('OK');
    expect(code(hex('5f4101ff'), { allowIndefiniteContainers: true })).toBe('CBOR_INDEFINITE');
    expect(code(hex('5f4101ff'), { allowIndefiniteStrings: true })).toBe('OK');
  });

  it('chunks must be definite strings of the same type', () => {
    const o = { allowIndefiniteStrings: true };
    expect(code(hex('5f6161ff'), o)).toBe('CBOR_MALFORMED');
    expect(code(hex('5f5f4101ffff'), o)).toBe('CBOR_MALFORMED');
    expect(code(hex('5f4101'), o)).toBe('CBOR_TRUNCATED');
    expect(code(hex('7f61c3ff'), o)).toBe('CBOR_BAD_UTF8'); // each chunk must be valid UTF-8 on its own
  });

  it('duplicate keys, by value', () => {
    expect(code(hex('a2 01 00 01 00'))).toBe('CBOR_DUPLICATE_KEY');
    expect(code(hex('a2 6161 00 6161 00'))).toBe('CBOR_DUPLICATE_KEY');
    expect(code(hex('a2 4161 00 4161 00'))).toBe('CBOR_DUPLICATE_KEY');
    expect(code(hex('a2 820102 00 820102 00'))).toBe('CBOR_DUPLICATE_KEY');
    expect(code(hex('a2 01 00 1801 00'), { allowNonMinimal: true })).toBe('CBOR_DUPLICATE_KEY');
    expect(code(hex('bf 6161 00 7f 6161 ff 00 ff'), { allowIndefiniteContainers: true, allowIndefiniteStrings: true })).toBe('CBOR_DUPLICATE_KEY');
    expect(code(hex('a2 6161 00 4161 00'))).toBe('OK'); // text "a" and bytes 'a' differ
    expect(code(hex('a2 01 00 20 00'))).toBe('OK');
    expect(code(hex('a2 01 00 01 00'), { allowDuplicateKeys: true })).toBe('OK');
  });

  it('trailing bytes and truncation', () => {
    expect(code(hex('0000'))).toBe('CBOR_TRAILING_BYTES');
    expect(code(hex(''))).toBe('CBOR_TRUNCATED');
    expect(code(hex('19 01'))).toBe('CBOR_TRUNCATED');
    expect(code(hex('43 0102'))).toBe('CBOR_TRUNCATED');
    expect(code(hex('82 01'))).toBe('CBOR_TRUNCATED');
    expect(code(hex('a1 01'))).toBe('CBOR_TRUNCATED');
    expect(code(hex('bf 01 02'), { allowIndefiniteContainers: true })).toBe('CBOR_TRUNCATED');
  });

  it('huge declared lengths fail before any allocation', () => {
    expect(code(hex('5b 4000000000000000 00'))).toBe('CBOR_TRUNCATED');
    expect(code(hex('7b ffffffffffffffff'))).toBe('CBOR_TRUNCATED');
    expect(code(hex('9b 0000000100000000 00'))).toBe('CBOR_TRUNCATED');
    expect(code(hex('ba ffffffff 00 00'))).toBe('CBOR_TRUNCATED');
    // a map needs two items per entry
    expect(code(hex('a2 01 02 03'))).toBe('CBOR_TRUNCATED');
  });

  it('nesting depth is bounded (no stack overflow on 100 000 levels)', () => {
    const deep = new Uint8Array(100_001).fill(0x81);
    deep[100_000] = 0x00;
    expect(code(deep)).toBe('CBOR_TOO_DEEP');
    const tags = new Uint8Array(1001).fill(0xc1);
    tags[1000] = 0x00;
    expect(code(tags)).toBe('CBOR_TOO_DEEP');
    expect(code(hex('818181818100'), { maxDepth: 5 })).toBe('OK');
    expect(code(hex('81818181818100'), { maxDepth: 5 })).toBe('CBOR_TOO_DEEP');
  });

  it('the item count is bounded', () => {
    const arr = new Uint8Array([0x99, 0x03, 0xe8, ...new Uint8Array(1000)]);
    expect(code(arr)).toBe('OK');
    expect(code(arr, { maxItems: 500 })).toBe('CBOR_TOO_MANY_ITEMS');
    const indef = new Uint8Array([0x9f, ...new Uint8Array(1000), 0xff]);
    expect(code(indef, { allowIndefiniteContainers: true, maxItems: 500 })).toBe('CBOR_TOO_MANY_ITEMS');
  });

  it('string length limit', () => {
    expect(code(hex('43010203'), { maxStringLength: 2 })).toBe('CBOR_TOO_LONG');
    expect(code(hex('5f 4101 4102 4103 ff'), { maxStringLength: 2, allowIndefiniteStrings: true })).toBe('CBOR_TOO_LONG');
  });

  it('malformed items', () => {
    expect(code(hex('1c'))).toBe('CBOR_MALFORMED'); // reserved additional information
    expect(code(hex('5d'))).toBe('CBOR_MALFORMED');
    expect(code(hex('ff'))).toBe('CBOR_MALFORMED'); // break outside an indefinite container
    expect(code(hex('82 01 ff'))).toBe('CBOR_MALFORMED');
    expect(code(hex('1f'))).toBe('CBOR_MALFORMED'); // indefinite integer
    expect(code(hex('df 00'))).toBe('CBOR_MALFORMED'); // indefinite tag
    expect(code(hex('f8 10'))).toBe('CBOR_MALFORMED'); // two-byte simple < 32
    expect(code(hex('bf 01 ff'), { allowIndefiniteContainers: true })).toBe('CBOR_MALFORMED'); // key without value
    expect(code(hex('62 c328'))).toBe('CBOR_BAD_UTF8');
    expect(code(hex('63 eda080'))).toBe('CBOR_BAD_UTF8'); // surrogate
  });

  it('tags, floats and simple values can be refused', () => {
    expect(code(hex('c2 41 01'), { allowTags: false })).toBe('CBOR_TAG_NOT_ALLOWED');
    expect(code(hex('d2 80'), { allowTags: [18] })).toBe('OK');
    expect(code(hex('d1 80'), { allowTags: [18] })).toBe('CBOR_TAG_NOT_ALLOWED');
    expect(code(hex('db ffffffffffffffff 00'), { allowTags: [18] })).toBe('CBOR_TAG_NOT_ALLOWED');
    expect(code(hex('f93c00'), { allowFloats: false })).toBe('CBOR_TYPE_NOT_ALLOWED');
    expect(code(hex('f7'), { allowSimple: false })).toBe('CBOR_TYPE_NOT_ALLOWED');
    expect(code(hex('f0'), { allowSimple: false })).toBe('CBOR_TYPE_NOT_ALLOWED');
    expect(code(hex('f6'), { allowSimple: false })).toBe('OK');
  });

  it('errors carry the offset', () => {
    try {
      decodeCbor(hex('82 01 1817'));
      expect.unreachable();
    } catch (e) {
      expect((e as CborError).offset).toBe(2);
      expect((e as CborError).message).toContain('at byte 2');
    }
  });
});
