/**
 * The signing-side WebCrypto calls (importing an EC private key, ECDSA signing, SHA-2 digests) through
 * `globalThis.crypto.subtle`, so the same code runs in Node ≥ 20 and browsers. WebCrypto's ECDSA signatures are
 * IEEE P1363 r‖s, the COSE form (RFC 8152 §8.1). Verification is src/cose/verify.ts. Browser-safe.
 */
import type { EcdsaAlgorithm } from './algorithms.js';

/** WebCrypto's BufferSource typing wants an ArrayBuffer-backed view; ours always are (no SharedArrayBuffer). */
function view(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return bytes as Uint8Array<ArrayBuffer>;
}

/** Import a PKCS#8 EC private key as a non-extractable ECDSA signing key. */
export function importEcdsaPrivateKey(pkcs8: Uint8Array, alg: EcdsaAlgorithm): Promise<CryptoKey> {
  return globalThis.crypto.subtle.importKey('pkcs8', view(pkcs8), { name: 'ECDSA', namedCurve: alg.curve }, false, ['sign']);
}

export async function ecdsaSign(alg: EcdsaAlgorithm, key: CryptoKey, message: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await globalThis.crypto.subtle.sign({ name: 'ECDSA', hash: alg.hash }, key, view(message)));
}

export async function digest(alg: EcdsaAlgorithm, message: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await globalThis.crypto.subtle.digest(alg.hash, view(message)));
}
