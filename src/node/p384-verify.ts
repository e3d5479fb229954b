/**
 * node:crypto's synchronous ECDSA P-384 verify for the attestation verifier's warm path
 * (src/attestation/sync-verify.ts): the WebCrypto key is converted to a KeyObject once (remembered per key) and
 * the r‖s signature is checked as IEEE P1363, over the same Sig_structure bytes WebCrypto would get.
 */
import { KeyObject, verify } from 'node:crypto';
import { setSyncP384Verifier } from '../attestation/sync-verify.js';

const keyObjects = new WeakMap<CryptoKey, KeyObject>();

export function nodeP384Verify(key: CryptoKey, signature: Uint8Array, data: Uint8Array): boolean {
  let k = keyObjects.get(key);
  if (k === undefined) {
    k = KeyObject.from(key);
    keyObjects.set(key, k);
  }
  return verify('sha384', data, { key: k, dsaEncoding: 'ieee-p1363' }, signature);
}

/** Use node:crypto for warm attestation checks in this thread (the Node entry point and verifier threads call it). */
export function installNodeP384Verifier(): void {
  setSyncP384Verifier(nodeP384Verify);
}
