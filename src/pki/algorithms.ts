/**
 * The three COSE ECDSA algorithms an EIF signature can use, chosen by the signing key's curve —
 * eif-format.md §4.2: P-256 -> ES256 (-7, SHA-256), P-384 -> ES384 (-35, SHA-384), P-521 -> ES512 (-36, SHA-512).
 * Browser-safe.
 */

export type CurveName = 'P-256' | 'P-384' | 'P-521';

export interface EcdsaAlgorithm {
  /** WebCrypto namedCurve. */
  readonly curve: CurveName;
  /** Named-curve OID in SubjectPublicKeyInfo / ECPrivateKey parameters. */
  readonly curveOid: string;
  /** COSE `alg` value (RFC 8152 §8.1) in the protected header. */
  readonly coseAlg: number;
  readonly name: 'ES256' | 'ES384' | 'ES512';
  /** WebCrypto hash name. */
  readonly hash: 'SHA-256' | 'SHA-384' | 'SHA-512';
  /** Byte length of r and of s in the r‖s signature (the curve's order length). */
  readonly size: number;
  /** AWS KMS names for this curve. */
  readonly kmsKeySpec: string;
  readonly kmsSigningAlgorithm: string;
}

export const ES256: EcdsaAlgorithm = {
  curve: 'P-256',
  curveOid: '1.2.840.10045.3.1.7',
  coseAlg: -7,
  name: 'ES256',
  hash: 'SHA-256',
  size: 32,
  kmsKeySpec: 'ECC_NIST_P256',
  kmsSigningAlgorithm: 'ECDSA_SHA_256',
};

export const ES384: EcdsaAlgorithm = {
  curve: 'P-384',
  curveOid: '1.3.132.0.34',
  coseAlg: -35,
  name: 'ES384',
  hash: 'SHA-384',
  size: 48,
  kmsKeySpec: 'ECC_NIST_P384',
  kmsSigningAlgorithm: 'ECDSA_SHA_384',
};

export const ES512: EcdsaAlgorithm = {
  curve: 'P-521',
  curveOid: '1.3.132.0.35',
  coseAlg: -36,
  name: 'ES512',
  hash: 'SHA-512',
  size: 66,
  kmsKeySpec: 'ECC_NIST_P521',
  kmsSigningAlgorithm: 'ECDSA_SHA_512',
};

export const ECDSA_ALGORITHMS: readonly EcdsaAlgorithm[] = [ES256, ES384, ES512];

/** OID of `id-ecPublicKey` (RFC 5480), the algorithm of every EC key. */
export const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';

export function algorithmForCurveOid(oid: string): EcdsaAlgorithm | undefined {
  return ECDSA_ALGORITHMS.find((a) => a.curveOid === oid);
}

export function algorithmForCoseAlg(alg: number): EcdsaAlgorithm | undefined {
  return ECDSA_ALGORITHMS.find((a) => a.coseAlg === alg);
}

/** Human names for key algorithms we refuse, so the error says what was found (fail closed, nitro-cli #756). */
export const KEY_ALGORITHM_NAMES: Record<string, string> = {
  '1.2.840.113549.1.1.1': 'RSA',
  '1.2.840.113549.1.1.10': 'RSA-PSS',
  '1.3.101.110': 'X25519',
  '1.3.101.111': 'X448',
  '1.3.101.112': 'Ed25519',
  '1.3.101.113': 'Ed448',
  '1.2.840.10040.4.1': 'DSA',
  [OID_EC_PUBLIC_KEY]: 'EC',
};

export const CURVE_NAMES: Record<string, string> = {
  '1.3.132.0.10': 'secp256k1',
  '1.2.840.10045.3.1.1': 'P-192',
  '1.3.132.0.33': 'P-224',
  '1.3.36.3.3.2.8.1.1.7': 'brainpoolP256r1',
  '1.3.36.3.3.2.8.1.1.11': 'brainpoolP384r1',
  '1.3.36.3.3.2.8.1.1.13': 'brainpoolP512r1',
};
