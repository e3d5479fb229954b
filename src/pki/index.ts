/**
 * The primitives floor (docs/architecture.md): DER, PEM, the ECDSA algorithm table, ECDSA over an injectable
 * WebCrypto provider, and the one X.509 reader. Imports nothing from a feature room. Browser-safe.
 */
export * from './der.js';
export * from './pem.js';
export * from './algorithms.js';
export * from './ecdsa.js';
export * from './x509.js';
export * from './x509-name.js';
export * from './x509-time.js';
