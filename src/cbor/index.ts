/** Strict CBOR (RFC 8949) decoding with byte spans. Browser-safe. (Encoding: src/signing/serde-cbor.ts.) */
export * from './node.js';
export * from './decode.js';
