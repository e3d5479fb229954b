/**
 * CRC-32/ISO-HDLC (the zlib/PNG/gzip CRC: reflected polynomial 0xEDB88320, init and xorout 0xFFFFFFFF), as used for
 * the EIF header's whole-image checksum (eif-format.md). Bulk CRC runs on the WASM core (slice-by-16); the
 * combine operation is GF(2) polynomial arithmetic in TypeScript. Browser-safe. docs/core.md.
 */
import { EifError } from '../errors.js';
import { coreInstance } from './wasm.js';

function checkPrevious(previous: number): number {
  if (!Number.isInteger(previous) || previous < 0 || previous > 0xffffffff) {
    throw new EifError('CORE_BAD_ARGUMENT', 'a previous CRC must be an integer in 0..0xFFFFFFFF');
  }
  return previous;
}

/**
 * CRC-32 of `bytes`, continuing from `previous` (the CRC of the bytes before; 0 to start), as an unsigned number:
 * `crc32(b, crc32(a)) === crc32(a‖b)`, same semantics as zlib's `crc32()`.
 *
 * @example
 * import { crc32 } from 'eifkit/browser';
 * const crc = crc32(b, crc32(a)); // === crc32 of a‖b
 */
export function crc32(bytes: Uint8Array, previous = 0): number {
  const c = coreInstance();
  let crc = checkPrevious(previous);
  if (!(bytes instanceof Uint8Array)) throw new EifError('CORE_BAD_ARGUMENT', 'crc32() expects a Uint8Array');
  const n = bytes.length;
  if (bytes.buffer === c.memory.buffer) {
    if (bytes.byteOffset === c.ioPtr && n <= c.ioSize) return c.exports.crc32Update(crc, n) >>> 0;
    bytes = bytes.slice();
  }
  const io = c.io();
  const size = c.ioSize;
  for (let off = 0; off < n; off += size) {
    const len = Math.min(size, n - off);
    io.set(off === 0 && len === n ? bytes : bytes.subarray(off, off + len));
    crc = c.exports.crc32Update(crc, len) >>> 0;
  }
  return crc;
}

/**
 * CRC-32 of the first `len` bytes of the I/O region (`coreInstance().io()`), continuing from `previous`. No copy.
 *
 * @example
 * import { coreInstance, crc32FromIo } from 'eifkit/browser';
 * let crc = 0;
 * for (const chunk of chunks) { coreInstance().io().set(chunk); crc = crc32FromIo(chunk.length, crc); }
 */
export function crc32FromIo(len: number, previous = 0): number {
  const c = coreInstance();
  const prev = checkPrevious(previous);
  if (!Number.isInteger(len) || len < 0 || len > c.ioSize) {
    throw new EifError('CORE_BAD_ARGUMENT', `crc32FromIo length must be an integer in 0..${c.ioSize}`);
  }
  return c.exports.crc32Update(prev, len) >>> 0;
}

// ---- combine: crc(A‖B) from crc(A), crc(B) and len(B), without the data ----
// CRC is linear over GF(2): crc(A‖B) = crc(A)·x^(8·lenB) mod P  xor  crc(B). This is zlib's crc32_combine
// (zlib >= 1.2.12 computes x^(8·lenB) by squaring, x2nmodp, instead of the older 32x32 matrix squaring; same result).

const POLY = 0xedb88320;

/** a·b mod P, both reflected 32-bit polynomials (bit 31 = x^0). */
function multModP(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    b = b & 1 ? (b >>> 1) ^ POLY : b >>> 1;
  }
  return p >>> 0;
}

/** X2N[k] = x^(2^k) mod P. The sequence has period 32 in k (zlib relies on the same fact). */
const X2N: number[] = (() => {
  const t: number[] = [];
  let p = 0x40000000; // x^1
  t.push(p);
  for (let k = 1; k < 32; k++) t.push((p = multModP(p, p)));
  return t;
})();

/** x^(n·2^k) mod P for a non-negative bigint n. */
function x2nModP(n: bigint, k: number): number {
  let p = 0x80000000; // x^0
  while (n > 0n) {
    if (n & 1n) p = multModP(X2N[k & 31]!, p);
    n >>= 1n;
    k++;
  }
  return p;
}

/**
 * CRC-32 of A‖B given `crcA` = crc32(A), `crcB` = crc32(B) and `lenB` = B's length in bytes (a safe integer
 * number or a bigint ≥ 0). Needs no WASM. Used by the EIF writer to prepend the header's CRC to the sections'.
 *
 * @example
 * import { crc32, crc32Combine } from 'eifkit/browser';
 * const crcAB = crc32Combine(crc32(a), crc32(b), b.length); // === crc32 of a‖b, without re-reading a
 */
export function crc32Combine(crcA: number, crcB: number, lenB: number | bigint): number {
  checkPrevious(crcA);
  checkPrevious(crcB);
  let n: bigint;
  if (typeof lenB === 'bigint') n = lenB;
  else if (Number.isSafeInteger(lenB)) n = BigInt(lenB);
  else throw new EifError('CORE_BAD_ARGUMENT', 'crc32Combine length must be a safe integer or a bigint');
  if (n < 0n) throw new EifError('CORE_BAD_ARGUMENT', 'crc32Combine length must not be negative');
  return (multModP(x2nModP(n, 3), crcA) ^ crcB) >>> 0;
}
