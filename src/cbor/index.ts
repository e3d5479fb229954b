/** CBOR (RFC 8949): strict decoding with byte spans, and shortest-form encoding (serde_cbor's bytes). Browser-safe. */
export * from './node.js';
export * from './decode.js';
export * from './encode.js';
