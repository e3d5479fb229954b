/** COSE_Sign1 (RFC 9052 §4.2): reading from received bytes, ECDSA verification via WebCrypto, writing. Browser-safe. */
export * from './sign1.js';
export * from './verify.js';
export * from './sign1-encode.js';
