/** AWS Nitro Enclaves attestation documents: strict decoding and verification (attestation.md §2.2). Browser-safe. */
export { inspectAttestation, verifyAttestation } from './verify.js';
export type { AttestationResult, InspectOptions, VerifyOptions } from './verify.js';
export { verifyAttestations, DEFAULT_BATCH_CONCURRENCY } from './batch.js';
export type { VerifyManyOptions } from './batch.js';
export type { AttestationDocument } from './document.js';
export { decodeAttestationDocument, decodeEmulatedDocument, DEFAULT_MAX_OPTIONAL_FIELD_BYTES, MAX_DOCUMENT_BYTES } from './document.js';
export { ATTESTATION_ERROR_CODES } from './errors.js';
export type { AttestationErrorCode, AttestationIssue } from './errors.js';
export { parsePolicyJson, parseDuration, DEFAULT_CLOCK_SKEW_MS } from './policy.js';
export type { AttestationPolicy, EifMeasurements, ExpectedPcrs, EifMeasurer } from './policy.js';
export { decodeAttestationInput, parseTrustAnchors } from './input.js';
export { clearCertificateCache } from './chain.js';
export { warmUpAttestation, type WarmUpOptions } from './warm-up.js';
export type { CertificateSummary, TrustAnchor } from './chain.js';
export { AWS_NITRO_ROOT_PEM, AWS_NITRO_ROOT_SHA256 } from './aws-root.js';
