import { describe, expect, it } from 'vitest';
import { compareUtf8, formatF64, parseSerdeJson, stringifySerdeJson } from '../../src/eif/serde-json.js';

const roundTrip = (s: string) => stringifySerdeJson(parseSerdeJson(s));

describe('serde_json compatibility (eif-format.md §5.1)', () => {
  it('keeps integers, prints floats the way ryu does', () => {
    expect(roundTrip('[1,-1,0,1.0,1e2,1.5,0.1,-0,-0.0,1e16,1e15,1.5e-7,0.0001,0.00001,0.000001,123456789012345678]')).toBe(
      '[1,-1,0,1.0,100.0,1.5,0.1,-0.0,-0.0,1e16,1000000000000000.0,1.5e-7,0.0001,0.00001,1e-6,123456789012345678]',
    );
  });
  it('u64 and i64 limits: in range stays integer, beyond becomes f64', () => {
    expect(roundTrip('[18446744073709551615,18446744073709551616,-9223372036854775808,-9223372036854775809]')).toBe(
      '[18446744073709551615,1.8446744073709552e19,-9223372036854775808,-9.223372036854776e18]',
    );
  });
  it('formats f64 edge cases like ryu', () => {
    expect(formatF64(1e21)).toBe('1e21');
    expect(formatF64(1.2345e30)).toBe('1.2345e30');
    expect(formatF64(123.456)).toBe('123.456');
    expect(formatF64(5e-324)).toBe('5e-324');
    expect(formatF64(1.7976931348623157e308)).toBe('1.7976931348623157e308');
    expect(formatF64(9007199254740993)).toBe('9007199254740992.0');
  });
  it('sorts object keys by UTF-8 bytes and keeps the last duplicate', () => {
    expect(roundTrip('{"b":1,"a":2,"b":3,"\u00e9":0,"\ud83d\ude00":0,"\uffff":0,"Z":0}')).toBe(
      '{"Z":0,"a":2,"b":3,"é":0,"\uffff":0,"😀":0}',
    );
    expect(compareUtf8('\uffff', '\ud83d\ude00')).toBe(-1); // UTF-16 order would say the opposite
  });
  it('escapes strings as serde_json does', () => {
    expect(roundTrip('"a\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u0001\\u001f\\u007f é😀"')).toBe('"a\\"b\\\\c/d\\b\\f\\n\\r\\t\\u0001\\u001f\u007f é😀"');
  });
  it('accepts whitespace and nested values', () => {
    expect(roundTrip(' { "k" : [ true , false , null , { } , [ ] ] } ')).toBe('{"k":[true,false,null,{},[]]}');
  });
  it.each([
    ['trailing comma', '[1,]'],
    ['trailing characters', '{} x'],
    ['comment', '// x\n{}'],
    ['lone surrogate', '"\\ud800"'],
    ['bad escape', '"\\x"'],
    ['leading zero', '01'],
    ['control character in string', '"a\u0001"'],
    ['empty', ''],
    ['single quotes', "{'a':1}"],
    ['NaN', 'NaN'],
    ['out of range', '1e400'],
  ])('rejects %s', (_name, text) => {
    expect(() => parseSerdeJson(text)).toThrow(expect.objectContaining({ code: expect.stringMatching(/^JSON_/) }));
  });
  it('rejects invalid UTF-8 bytes', () => {
    expect(() => parseSerdeJson(new Uint8Array([0x22, 0xff, 0x22]))).toThrow(expect.objectContaining({ code: 'JSON_UTF8' }));
  });
  it('bounds nesting depth', () => {
    expect(() => parseSerdeJson('['.repeat(200) + ']'.repeat(200))).toThrow(expect.objectContaining({ code: 'JSON_SYNTAX' }));
  });
});
