/**
 * JSON exactly as Rust's serde_json (without `preserve_order` / `arbitrary_precision`) reads and writes it —
 * needed for byte-identical metadata sections (eif-format.md §5.1):
 * - objects are BTreeMaps: keys come out sorted (by UTF-8 bytes), a duplicate key keeps the last value;
 * - integers stay integers (u64 / i64), anything with a fraction or exponent, or out of integer range, is an f64
 *   printed by ryu (`1.0`, `1e16`, `1.5e-7`), `-0` becomes `-0.0`;
 * - strings escape `"`, `\\`, `\b \f \n \r \t` and other C0 controls as `\u00xx`; `/`, DEL and non-ASCII are raw.
 * Parsing is strict RFC 8259 (serde_json's rules): no trailing commas, no comments, lone surrogates rejected.
 */
import { EifError } from '../errors.js';

export type JsonValue =
  | null
  | boolean
  | string
  | JsonNumber
  | JsonValue[]
  | JsonObject;

/** A number with its serde_json kind. `text` is the canonical serde_json output. */
export interface JsonNumber {
  kind: 'number';
  text: string;
}

/** Object entries sorted by key, unique keys (BTreeMap semantics). */
export interface JsonObject {
  kind: 'object';
  entries: [string, JsonValue][];
}

const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);
const MAX_DEPTH = 128; // serde_json's recursion limit

/** Compare strings by their UTF-8 bytes (= Unicode code point order), like Rust's `String: Ord`. */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; ) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(i)!;
    if (ca !== cb) return ca < cb ? -1 : 1;
    i += ca > 0xffff ? 2 : 1;
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

/** ryu's `format_finite` for an f64, as serde_json writes floats. */
export function formatF64(x: number): string {
  if (!Number.isFinite(x)) throw new EifError('JSON_NUMBER', 'non-finite number');
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  const [mant, expText] = Math.abs(x).toExponential().split('e');
  const digits = mant!.replace('.', '');
  const length = digits.length;
  const kk = Number(expText) + 1; // 10^(kk-1) <= v < 10^kk
  const k = kk - length;
  let out: string;
  if (k >= 0 && kk <= 16) out = digits + '0'.repeat(k) + '.0';
  else if (kk > 0 && kk <= 16) out = digits.slice(0, kk) + '.' + digits.slice(kk);
  else if (kk > -5 && kk <= 0) out = '0.' + '0'.repeat(-kk) + digits;
  else if (length === 1) out = digits + 'e' + String(kk - 1);
  else out = digits[0] + '.' + digits.slice(1) + 'e' + String(kk - 1);
  return sign + out;
}

/** Canonical serde_json text of a JSON number literal (as it appeared in the input). */
function canonicalNumber(lexeme: string): string {
  const isInteger = !/[.eE]/.test(lexeme);
  if (isInteger) {
    const v = BigInt(lexeme);
    if (lexeme.startsWith('-')) {
      if (v === 0n) return '-0.0';
      if (v >= I64_MIN) return v.toString();
    } else if (v <= U64_MAX) {
      return v.toString();
    }
  }
  const f = Number(lexeme);
  if (!Number.isFinite(f)) throw new EifError('JSON_NUMBER', `number out of range: ${lexeme}`);
  return formatF64(f);
}

class Parser {
  private i = 0;
  constructor(private readonly s: string) {}

  fail(what: string): never {
    const before = this.s.slice(0, this.i);
    const line = before.split('\n').length;
    const column = this.i - before.lastIndexOf('\n');
    throw new EifError('JSON_SYNTAX', `${what} at line ${line} column ${column}`);
  }

  ws(): void {
    while (this.i < this.s.length) {
      const c = this.s.charCodeAt(this.i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.i++;
      else break;
    }
  }

  document(): JsonValue {
    this.ws();
    const v = this.value(0);
    this.ws();
    if (this.i !== this.s.length) this.fail('trailing characters');
    return v;
  }

  value(depth: number): JsonValue {
    if (depth > MAX_DEPTH) this.fail('recursion limit exceeded');
    const c = this.s[this.i];
    switch (c) {
      case '{':
        return this.object(depth);
      case '[':
        return this.array(depth);
      case '"':
        return this.string();
      case 't':
        return this.word('true', true);
      case 'f':
        return this.word('false', false);
      case 'n':
        return this.word('null', null);
      default:
        if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) return this.number();
        return this.fail(c === undefined ? 'EOF while parsing a value' : 'expected value');
    }
  }

  word<T>(w: string, v: T): T {
    if (this.s.startsWith(w, this.i)) {
      this.i += w.length;
      return v;
    }
    return this.fail('expected ident');
  }

  number(): JsonNumber {
    const m = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(this.s.slice(this.i, this.i + 4096));
    if (!m) this.fail('invalid number');
    const lexeme = m[0];
    const next = this.s[this.i + lexeme.length];
    if (next !== undefined && /[0-9.eE]/.test(next)) this.fail('invalid number');
    this.i += lexeme.length;
    return { kind: 'number', text: canonicalNumber(lexeme) };
  }

  string(): string {
    this.i++; // opening quote
    let out = '';
    for (;;) {
      const c = this.s.charCodeAt(this.i);
      if (Number.isNaN(c)) this.fail('EOF while parsing a string');
      if (c === 0x22) {
        this.i++;
        return out;
      }
      if (c < 0x20) this.fail('control character (\\u0000-\\u001F) found while parsing a string');
      if (c !== 0x5c) {
        // Raw characters: the input came from UTF-8, so a lone surrogate cannot appear here.
        out += this.s[this.i++];
        continue;
      }
      const e = this.s[this.i + 1];
      this.i += 2;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          const hi = this.hex4();
          if (hi >= 0xdc00 && hi <= 0xdfff) this.fail('lone leading surrogate in hex escape');
          if (hi >= 0xd800 && hi <= 0xdbff) {
            if (this.s[this.i] !== '\\' || this.s[this.i + 1] !== 'u') this.fail('unexpected end of hex escape');
            this.i += 2;
            const lo = this.hex4();
            if (lo < 0xdc00 || lo > 0xdfff) this.fail('lone leading surrogate in hex escape');
            out += String.fromCharCode(hi, lo);
          } else {
            out += String.fromCharCode(hi);
          }
          break;
        }
        default:
          this.fail('invalid escape');
      }
    }
  }

  hex4(): number {
    const h = this.s.slice(this.i, this.i + 4);
    if (!/^[0-9a-fA-F]{4}$/.test(h)) this.fail('invalid escape');
    this.i += 4;
    return parseInt(h, 16);
  }

  array(depth: number): JsonValue[] {
    this.i++;
    const out: JsonValue[] = [];
    this.ws();
    if (this.s[this.i] === ']') {
      this.i++;
      return out;
    }
    for (;;) {
      this.ws();
      out.push(this.value(depth + 1));
      this.ws();
      const c = this.s[this.i++];
      if (c === ']') return out;
      if (c !== ',') this.fail('expected `,` or `]`');
    }
  }

  object(depth: number): JsonObject {
    this.i++;
    const map = new Map<string, JsonValue>();
    this.ws();
    if (this.s[this.i] === '}') {
      this.i++;
      return { kind: 'object', entries: [] };
    }
    for (;;) {
      this.ws();
      if (this.s[this.i] !== '"') this.fail('key must be a string');
      const key = this.string();
      this.ws();
      if (this.s[this.i++] !== ':') this.fail('expected `:`');
      this.ws();
      map.set(key, this.value(depth + 1));
      this.ws();
      const c = this.s[this.i++];
      if (c === '}') break;
      if (c !== ',') this.fail('expected `,` or `}`');
    }
    const entries = [...map.entries()].sort((a, b) => compareUtf8(a[0], b[0]));
    return { kind: 'object', entries };
  }
}

/** Parse JSON text (UTF-8 bytes or a string) with serde_json's rules. Throws EifError JSON_SYNTAX / JSON_UTF8. */
export function parseSerdeJson(input: Uint8Array | string): JsonValue {
  let text: string;
  if (typeof input === 'string') text = input;
  else {
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(input);
    } catch {
      throw new EifError('JSON_UTF8', 'JSON is not valid UTF-8');
    }
  }
  return new Parser(text).document();
}

/** Convert a plain JS value (from JSON.parse or code) into a JsonValue. Integers stay integers. */
export function fromPlain(v: unknown): JsonValue {
  if (v === null || v === undefined) return null;
  if (typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') {
    return { kind: 'number', text: Number.isInteger(v) && Math.abs(v) <= Number.MAX_SAFE_INTEGER ? String(v) : formatF64(v) };
  }
  if (typeof v === 'bigint') return { kind: 'number', text: canonicalNumber(v.toString()) };
  if (Array.isArray(v)) return v.map(fromPlain);
  if (typeof v === 'object') {
    if ((v as JsonObject).kind === 'object' && Array.isArray((v as JsonObject).entries)) return v as JsonObject;
    if ((v as JsonNumber).kind === 'number' && typeof (v as JsonNumber).text === 'string') return v as JsonNumber;
    const entries = Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => [k, fromPlain(x)] as [string, JsonValue])
      .sort((a, b) => compareUtf8(a[0], b[0]));
    return { kind: 'object', entries };
  }
  throw new EifError('JSON_VALUE', `cannot represent ${typeof v} in JSON`);
}

/** Convert back to plain JS (numbers as JS numbers; key order kept). For display, not for re-encoding. */
export function toPlain(v: JsonValue): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map(toPlain);
  if (v.kind === 'number') return Number(v.text);
  const o: Record<string, unknown> = {};
  for (const [k, x] of v.entries) o[k] = toPlain(x);
  return o;
}

/** serde_json string escaping (§5.1). */
export function quoteString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x22) out += '\\"';
    else if (c === 0x5c) out += '\\\\';
    else if (c < 0x20) {
      if (c === 0x08) out += '\\b';
      else if (c === 0x0c) out += '\\f';
      else if (c === 0x0a) out += '\\n';
      else if (c === 0x0d) out += '\\r';
      else if (c === 0x09) out += '\\t';
      else out += '\\u00' + c.toString(16).padStart(2, '0');
    } else out += s[i];
  }
  return out + '"';
}

/** Compact serialisation (`serde_json::to_vec`). */
export function stringifySerdeJson(v: JsonValue): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  if (typeof v === 'string') return quoteString(v);
  if (Array.isArray(v)) return '[' + v.map(stringifySerdeJson).join(',') + ']';
  if (v.kind === 'number') return v.text;
  return '{' + v.entries.map(([k, x]) => quoteString(k) + ':' + stringifySerdeJson(x)).join(',') + '}';
}
