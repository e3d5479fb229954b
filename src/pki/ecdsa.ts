/**
 * ECDSA on P-256 / P-384 / P-521 through WebCrypto (a `SubtleCrypto`), so the same code runs in Node ≥ 20 and in
 * browsers: key import, signing, verification and SHA-2 digests for the EIF signature (eif-format.md §4.2, §4.6)
 * and attestation documents and chains (attestation.md §2.2 steps 4–5). Signatures are fixed-width r‖s
 * (IEEE P1363), the form COSE uses (RFC 9053 §2.1) and WebCrypto takes directly.
 *
 * The provider is injectable ({@link setCryptoProvider}, or a `subtle` argument) for hosts without
 * `globalThis.crypto.subtle` or with a hardware-backed one; the default is looked up on each call, never
 * captured at import. Browser-safe.
 */
import { fromHex } from '../util/hex.js';
import { ES256, ES384, ES512, type EcdsaAlgorithm } from './algorithms.js';

/** The part of WebCrypto's `SubtleCrypto` this module calls. */
export type CryptoProvider = Pick<SubtleCrypto, 'importKey' | 'sign' | 'verify' | 'digest'>;

let provider: CryptoProvider | undefined;

/** Use `subtle` for every call that is not given its own; `undefined` restores `globalThis.crypto.subtle`. */
export function setCryptoProvider(subtle: CryptoProvider | undefined): void {
  provider = subtle;
}

/** The provider in use: the one set, else `globalThis.crypto.subtle`. */
export function cryptoProvider(): CryptoProvider {
  const p = provider ?? globalThis.crypto?.subtle;
  if (!p) throw new Error('no WebCrypto: globalThis.crypto.subtle is missing; call setCryptoProvider()');
  return p;
}

/** WebCrypto's BufferSource typing wants an ArrayBuffer-backed view; ours always are (no SharedArrayBuffer). */
function view(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes as Uint8Array<ArrayBuffer>;
}

/** Import a PKCS#8 EC private key as a non-extractable ECDSA signing key. */
export function importEcdsaPrivateKey(pkcs8: Uint8Array, alg: EcdsaAlgorithm, subtle = cryptoProvider()): Promise<CryptoKey> {
  return subtle.importKey('pkcs8', view(pkcs8), { name: 'ECDSA', namedCurve: alg.curve }, false, ['sign']);
}

/** Import an EC public key (SubjectPublicKeyInfo DER, or a raw uncompressed point) for ECDSA verification. */
export function importEcdsaPublicKey(key: Uint8Array, alg: EcdsaAlgorithm, format: 'spki' | 'raw' = 'spki', subtle = cryptoProvider()): Promise<CryptoKey> {
  return subtle.importKey(format, view(key), { name: 'ECDSA', namedCurve: alg.curve }, false, ['verify']);
}

/** ECDSA signature of `message` (hashed with the algorithm's SHA-2), as r‖s. */
export async function ecdsaSign(alg: EcdsaAlgorithm, key: CryptoKey, message: Uint8Array, subtle = cryptoProvider()): Promise<Uint8Array> {
  return new Uint8Array(await subtle.sign({ name: 'ECDSA', hash: alg.hash }, key, view(message)));
}

/** ECDSA verification of `data` with an r‖s signature; false (never a throw) for a malformed signature. */
export async function ecdsaVerify(key: CryptoKey, alg: EcdsaAlgorithm, signature: Uint8Array, data: Uint8Array, subtle = cryptoProvider()): Promise<boolean> {
  if (ecdsaSignatureShapeProblem(signature, alg) !== undefined) return false;
  return subtle.verify({ name: 'ECDSA', hash: alg.hash }, key, view(signature), view(data));
}

/** The algorithm's SHA-2 digest of `message`. */
export async function digest(alg: EcdsaAlgorithm, message: Uint8Array, subtle = cryptoProvider()): Promise<Uint8Array> {
  return new Uint8Array(await subtle.digest(alg.hash, view(message)));
}

/** Group orders n (big-endian, `alg.size` bytes) for the scalar range check 0 < r, s < n. */
const ORDERS: Record<string, Uint8Array> = {
  [ES256.name]: fromHex('ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551'),
  [ES384.name]: fromHex(
    'ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973',
  ),
  [ES512.name]: fromHex(
    '01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409',
  ),
};

/** Is `a` (big-endian) zero? */
function isZero(a: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== 0) return false;
  return true;
}

/** Compare two equal-length big-endian integers: a < b. */
function lessThan(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! < b[i]!;
  return false;
}

/**
 * Why an r‖s signature cannot be valid for `alg`, or undefined when its shape is fine: the length must be exactly
 * 2 × the order size (96 bytes for ES384) and both scalars must lie in 1..n−1. Low-S is NOT required: about half
 * of real NSM signatures are high-S (attestation.md §0 finding 2).
 */
export function ecdsaSignatureShapeProblem(signature: Uint8Array, alg: EcdsaAlgorithm): string | undefined {
  if (signature.length !== 2 * alg.size) {
    return `${alg.name} signature must be ${2 * alg.size} bytes (r||s), found ${signature.length}`;
  }
  const n = ORDERS[alg.name]!;
  const r = signature.subarray(0, alg.size);
  const s = signature.subarray(alg.size);
  if (isZero(r) || !lessThan(r, n)) return 'signature scalar r out of range (must be 0 < r < n)';
  if (isZero(s) || !lessThan(s, n)) return 'signature scalar s out of range (must be 0 < s < n)';
  return undefined;
}
