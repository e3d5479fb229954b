/**
 * Verifying a COSE_Sign1 with ECDSA through WebCrypto (RFC 9052 §4.4, RFC 9053 §2.1): ES256 / ES384 / ES512,
 * signature as fixed-width r‖s (IEEE P1363, which is what WebCrypto takes directly), computed over the
 * Sig_structure built from the received protected-header and payload bytes (attestation.md §1.1). The ECDSA
 * primitives (key import, verify, the scalar range check; high-S accepted) are src/pki/ecdsa.ts. Browser-safe.
 */
import { mapGet } from '../cbor/node.js';
import { algorithmForCoseAlg, type EcdsaAlgorithm } from '../pki/algorithms.js';
import { ecdsaSignatureShapeProblem, ecdsaVerify } from '../pki/ecdsa.js';
import { sigStructure1 } from './sign1-encode.js';
import { CoseError, type CoseSign1 } from './sign1.js';

/** The algorithm named by the protected header's `alg` (label 1). Only the protected header counts. */
export function coseSign1Algorithm(sign1: CoseSign1): EcdsaAlgorithm {
  const alg = mapGet(sign1.protectedHeader, 1);
  if (alg === undefined) throw new CoseError('COSE_ALG', 'protected header has no alg (label 1)');
  if (alg.kind !== 'int') throw new CoseError('COSE_ALG', `alg must be an integer, found ${alg.kind}`);
  const a = alg.value >= -1000n && alg.value <= 1000n ? algorithmForCoseAlg(Number(alg.value)) : undefined;
  if (!a) throw new CoseError('COSE_ALG', `unsupported alg ${alg.value} (supported: -7 ES256, -35 ES384, -36 ES512)`);
  return a;
}

/** Throw COSE_SIGNATURE_FORMAT when {@link ecdsaSignatureShapeProblem} finds a problem. */
export function checkEcdsaSignatureShape(signature: Uint8Array, alg: EcdsaAlgorithm): void {
  const problem = ecdsaSignatureShapeProblem(signature, alg);
  if (problem) throw new CoseError('COSE_SIGNATURE_FORMAT', problem);
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
