/**
 * Creating a COSE_Sign1 (RFC 8152 §4.2, §4.4) the way the AWS tools write the EIF signature
 * (eif-format.md §4.2): protected header `{1: alg}` as a byte string, empty unprotected map, the payload byte
 * string, and the r‖s signature; untagged (no tag 18). Parsing is ./sign1.ts, verification ./verify.ts; this file
 * only writes, through the shortest-head encoder of src/cbor/encode.ts. Browser-safe.
 */
import { encodeCbor } from '../cbor/encode.js';

/** The serialized protected header `{1: alg}`: `A1 01 26` (ES256), `A1 01 38 22` (ES384), `A1 01 38 23` (ES512). */
export function encodeProtectedHeader(alg: number): Uint8Array {
  return encodeCbor(new Map([[1, alg]]));
}

/**
 * The bytes that are signed (RFC 8152 §4.4): `["Signature1", protected, external_aad, payload]`, with the
 * protected header and payload exactly as they appear in the message and an empty external_aad by default.
 */
export function sigStructure1(protectedHeader: Uint8Array, payload: Uint8Array, externalAad: Uint8Array = new Uint8Array(0)): Uint8Array {
  return encodeCbor(['Signature1', protectedHeader, externalAad, payload]);
}

/** `[protected, {}, payload, signature]`, untagged unless `tagged` (then prefixed with tag 18, `D2`). */
export function encodeCoseSign1(
  protectedHeader: Uint8Array,
  payload: Uint8Array,
  signature: Uint8Array,
  options: { tagged?: boolean } = {},
): Uint8Array {
  const body = encodeCbor([protectedHeader, new Map(), payload, signature]);
  if (!options.tagged) return body;
  const out = new Uint8Array(body.length + 1);
  out[0] = 0xd2;
  out.set(body, 1);
  return out;
}
