/**
 * eifkit — browser-safe entry point: bytes and streams in, no `fs`, clock and trust anchors injected.
 * Also re-exported by the Node entry (./index.ts).
 */
export { EifError } from './errors.js';
// --- browser-safe core (each area adds its exports below) ---
export * from './core/index.js';
export * from './attestation/index.js';
