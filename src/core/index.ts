/** The WASM core's public API: loader, SHA-384, CRC-32 (docs/core.md). Browser-safe. */
export { initCore, isCoreReady, coreInstance, type CoreInstance, type CoreExports } from './wasm.js';
export { Sha384, createSha384, sha384, SHA384_DIGEST_SIZE, SHA384_STATE_SIZE } from './sha384.js';
export { crc32, crc32FromIo, crc32Combine } from './crc32.js';
