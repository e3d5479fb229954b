/**
 * EIF signing (eif-format.md §4): signers that produce the signature section, and the strict reader/checker of a
 * section. Browser-safe (the KMS and command signers live in src/node/). `EifSigner` itself is exported by the
 * builder (src/eif/builder.ts), which declares it; ./signer.ts implements it.
 */
export {
  createPemSigner,
  createEifSigner,
  prepareCertificate,
  EXPIRY_WARNING_DAYS,
  type SignerOptions,
  type SignRequest,
  type SignFunction,
  type SigningCertificate,
} from './signer.js';
export { inspectSignatureSection, decodeEifCoseSign1, type SignatureInspection, type EifCoseSign1 } from './verify.js';
export {
  pcr8FromCertificatePem,
  parseCertificatePem,
  certificateInfo,
  type CertificateInfo,
  type ParsedCertificate as ParsedSigningCertificate,
} from './certificate.js';
export {
  encodeSignatureSection,
  decodeSignatureSection,
  encodePcrPayload,
  SIGNATURE_SECTION_MAX_SIZE,
  type SignatureSectionContents,
} from './section.js';
export { ES256, ES384, ES512, type EcdsaAlgorithm, type CurveName } from '../pki/algorithms.js';
