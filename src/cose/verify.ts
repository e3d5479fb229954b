/**
 * Verifying a COSE_Sign1 with ECDSA through WebCrypto (RFC 9052 §4.4, RFC 9053 §2.1): ES256 / ES384 / ES512,
 * signature as fixed-width r‖s (IEEE P1363, which is what WebCrypto takes directly), computed over the
 * Sig_structure built from the received protected-header and payload bytes (attestation.md §1.1). Low-S is NOT
 * required: about half of real NSM signatures are high-S (attestation.md §0 finding 2). Browser-safe.
 */
import { mapGet } from '../cbor/node.js';
import { algorithmForCoseAlg, ES256, ES384, ES512, type EcdsaAlgorithm } from '../signing/algorithms.js';
import { fromHex } from '../util/hex.js';
import { sigStructure1 } from './sign1-encode.js';
import { CoseError, type CoseSign1 } from './sign1.js';

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

/** The algorithm named by the protected header's `alg` (label 1). Only the protected header counts. */
export function coseSign1Algorithm(sign1: CoseSign1): EcdsaAlgorithm {
  const alg = mapGet(sign1.protectedHeader, 1);
  if (alg === undefined) throw new CoseError('COSE_ALG', 'protected header has no alg (label 1)');
  if (alg.kind !== 'int') throw new CoseError('COSE_ALG', `alg must be an integer, found ${alg.kind}`);
  const a = alg.value >= -1000n && alg.value <= 1000n ? algorithmForCoseAlg(Number(alg.value)) : undefined;
  if (!a) throw new CoseError('COSE_ALG', `unsupported alg ${alg.value} (supported: -7 ES256, -35 ES384, -36 ES512)`);
  return a;
}

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
 * 2 × the order size (96 bytes for ES384) and both scalars must lie in 1..n−1.
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

/** Throw COSE_SIGNATURE_FORMAT when {@link ecdsaSignatureShapeProblem} finds a problem. */
export function checkEcdsaSignatureShape(signature: Uint8Array, alg: EcdsaAlgorithm): void {
  const problem = ecdsaSignatureShapeProblem(signature, alg);
  if (problem) throw new CoseError('COSE_SIGNATURE_FORMAT', problem);
}

/** Import an EC public key (SubjectPublicKeyInfo DER, or a raw uncompressed point) for ECDSA verification. */
export function importEcdsaPublicKey(key: Uint8Array, alg: EcdsaAlgorithm, format: 'spki' | 'raw' = 'spki'): Promise<CryptoKey> {
  return crypto.subtle.importKey(format, key as BufferSource, { name: 'ECDSA', namedCurve: alg.curve }, false, ['verify']);
}

/** ECDSA verification of `data` with an r‖s signature; false (never a throw) for a malformed signature. */
export async function ecdsaVerify(key: CryptoKey, alg: EcdsaAlgorithm, signature: Uint8Array, data: Uint8Array): Promise<boolean> {
  if (ecdsaSignatureShapeProblem(signature, alg) !== undefined) return false;
  return crypto.subtle.verify({ name: 'ECDSA', hash: alg.hash }, key, signature as BufferSource, data as BufferSource);
}

export interface CoseVerifyOptions {
  /** Algorithm to require; default: the one the protected header names. */
  readonly algorithm?: EcdsaAlgorithm;
  /** external_aad of the Sig_structure (default empty). */
  readonly externalAad?: Uint8Array;
  /** Payload for a detached message (payload nil). */
  readonly detachedPayload?: Uint8Array;
}

/**
 * Verify a decoded COSE_Sign1 with `key`. Resolves true only for a valid signature. Throws CoseError when the
 * header's alg is missing/unsupported or differs from `options.algorithm`, or when there is no payload.
 */
export async function verifyCoseSign1(sign1: CoseSign1, key: CryptoKey, options: CoseVerifyOptions = {}): Promise<boolean> {
  const headerAlg = coseSign1Algorithm(sign1);
  const alg = options.algorithm ?? headerAlg;
  if (alg.coseAlg !== headerAlg.coseAlg) {
    throw new CoseError('COSE_ALG', `protected header says ${headerAlg.name}, expected ${alg.name}`);
  }
  const payload = sign1.payload ?? options.detachedPayload;
  if (!payload) throw new CoseError('COSE_STRUCTURE', 'payload is nil and no detached payload was given');
  const toBeSigned = sigStructure1(sign1.protectedBytes, payload, options.externalAad ?? new Uint8Array(0));
  return ecdsaVerify(key, alg, sign1.signature, toBeSigned);
}
