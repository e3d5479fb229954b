/**
 * CBOR output byte-identical to what serde_cbor 0.11 writes for the signature section's Rust types
 * (eif-format.md §4.1, §4.3): definite lengths in shortest form, structs as text-keyed maps in field order,
 * and `Vec<u8>` as an ARRAY of unsigned integers (not a byte string — the Rust fields lack `serde_bytes`).
 *
 * This is cbor-x, configured so: no record extension (`useRecords: false`), plain maps for objects with exact
 * length heads (`variableMapSize`), and no typed-array tags. The reference vectors pin the result byte for byte
 * (test/signing/serde-cbor.test.ts). Browser-safe.
 */
import { Encoder } from 'cbor-x';

const encoder = new Encoder({
  useRecords: false,
  mapsAsObjects: false,
  variableMapSize: true,
  tagUint8Array: false,
  useFloat32: 0,
  pack: false,
});

/**
 * Encode a value built from plain objects (text keys, insertion order), `Map`s (any keys), arrays, safe integers,
 * strings and `Uint8Array`s (byte strings). Returns a fresh copy (cbor-x reuses its output buffer).
 */
export function encodeCbor(value: unknown): Uint8Array {
  return new Uint8Array(encoder.encode(value));
}

/** Rust `Vec<u8>` as serde_cbor writes it: a CBOR array of uints (each byte `b` as `b` or `18 b`). */
export function byteArray(bytes: Uint8Array): number[] {
  return Array.from(bytes);
}
