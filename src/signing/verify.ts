/**
 * Checking an EIF signature section — eif-format.md §4.6 and Appendix B: parse it strictly, verify the COSE_Sign1
 * with the embedded certificate's EC key (alg must match the key's curve), and compare the signed payload with
 * the canonical encoding of `{register_index: 0, register_value: PCR0}`. A signature that does not verify and a
 * payload for another PCR0 are reported separately (nitro-cli errors on the first, prints SignatureCheck false on
 * the second). COSE reading and ECDSA verification are the shared src/cose modules; this file maps their errors
 * to the SIG_COSE_* codes of the signature section. Browser-safe: WebCrypto, the WASM core for PCR8.
 */
import type { ErrorCode } from '../error-codes.js';
import { EifError } from '../errors.js';
import { CborError } from '../cbor/decode.js';
import { initCore } from '../core/index.js';
import { CoseError, decodeCoseSign1, type CoseSign1 } from '../cose/sign1.js';
import { coseSign1Algorithm, verifyCoseSign1 } from '../cose/verify.js';
import { pcrOfBytes } from '../eif/pcr.js';
import { bytesEqual, toHex } from '../util/hex.js';
import type { EcdsaAlgorithm } from '../pki/algorithms.js';
import { certificateAlgorithm, certificateInfo, certificatePublicKey, parseCertificatePem, type CertificateInfo } from './certificate.js';
import { decodeSignatureSection, encodePcrPayload } from './section.js';

export interface SignatureInspection {
  /** extend(SHA384(certificate DER)), lowercase hex (§4.4). */
  pcr8: string;
  /** DER of the first certificate in the section's PEM. */
  certificateDer: Uint8Array;
  /** nitro-cli's `SigningCertificate` fields (§6.3). */
  certificate: CertificateInfo;
  notBefore: Date;
  notAfter: Date;
  /** COSE alg of the signature: ES256, ES384 or ES512. */
  algorithm: string;
  /** The COSE signature verifies with the certificate's public key, and its alg matches the key's curve. */
  signatureValid: boolean;
  /** The signed payload is byte-identical to the serde_cbor encoding of {register_index: 0, register_value: pcr0}. */
  payloadMatches: boolean;
}

/** A COSE_Sign1 as the EIF carries it: attached payload, a supported alg, an r‖s signature of that alg's size. */
export interface EifCoseSign1 {
  readonly message: CoseSign1;
  readonly payload: Uint8Array;
  readonly algorithm: EcdsaAlgorithm;
}

const COSE_CODES: Record<string, ErrorCode> = {
  COSE_TAG: 'SIG_COSE_BAD_TAG',
  COSE_STRUCTURE: 'SIG_COSE_BAD_STRUCTURE',
  COSE_HEADER: 'SIG_COSE_BAD_STRUCTURE',
  COSE_ALG: 'SIG_COSE_BAD_ALG',
};

/**
 * Parse the COSE_Sign1 of a signature section (untagged, or tag 18 as `D2` or `D9 00 12`). Codes: SIG_COSE_NOT_CBOR, SIG_COSE_BAD_TAG (a tag other than 18),
 * SIG_COSE_BAD_STRUCTURE (not a 4-element array of the right types, detached payload, alg also unprotected),
 * SIG_COSE_BAD_ALG (not ES256/384/512), SIG_COSE_BAD_SIGNATURE_LENGTH (r‖s not 2 × the curve size: truncated).
 *
 * @example
 * import { decodeSignatureSection, decodeEifCoseSign1 } from 'eifkit/browser';
 * const { coseSign1 } = decodeSignatureSection(sectionData);
 * const { payload, algorithm } = decodeEifCoseSign1(coseSign1);
 */
export function decodeEifCoseSign1(bytes: Uint8Array): EifCoseSign1 {
  // Tag 18 is accepted in its two-byte-argument form `D9 00 12` too, as the AWS COSE crate may write it (§4.2);
  // the strict decoder would call that non-minimal, so it is rewritten to the one-byte form `D2` first.
  const input = bytes[0] === 0xd9 && bytes[1] === 0x00 && bytes[2] === 0x12 ? new Uint8Array([0xd2, ...bytes.subarray(3)]) : bytes;
  let message: CoseSign1;
  let algorithm: EcdsaAlgorithm;
  try {
    message = decodeCoseSign1(input);
    algorithm = coseSign1Algorithm(message);
  } catch (e) {
    if (e instanceof CborError) throw new EifError('SIG_COSE_NOT_CBOR', `COSE_Sign1 is not well-formed CBOR (${e.code}: ${e.message})`, { cause: e });
    if (e instanceof CoseError) throw new EifError(COSE_CODES[e.code] ?? 'SIG_COSE_BAD_STRUCTURE', `COSE_Sign1: ${e.message}`, { cause: e });
    throw e;
  }
  if (message.payload === null) throw new EifError('SIG_COSE_BAD_STRUCTURE', 'COSE_Sign1 payload is detached (nil); the EIF signature carries it');
  if (message.unprotectedHeader.entries.some(([k]) => k.kind === 'int' && k.value === 1n)) {
    throw new EifError('SIG_COSE_BAD_STRUCTURE', 'COSE alg must be in the protected header only');
  }
  if (message.signature.length !== 2 * algorithm.size) {
    throw new EifError(
      'SIG_COSE_BAD_SIGNATURE_LENGTH',
      `${algorithm.name} signature must be ${2 * algorithm.size} bytes (r‖s), found ${message.signature.length}`,
    );
  }
  return { message, payload: message.payload, algorithm };
}

/**
 * Inspect a signature section against the image's PCR0 (48 bytes). Throws EifError for malformed input (codes
 * in docs/signing.md); a signature that does not verify, or a payload for another PCR0, is reported in the result.
 *
 * @example
 * import { inspectSignatureSection } from 'eifkit/browser';
 * const s = await inspectSignatureSection(sectionData, pcr0); // pcr0: the image's PCR0, 48 bytes
 * const good = s.signatureValid && s.payloadMatches;
 */
export async function inspectSignatureSection(data: Uint8Array, pcr0: Uint8Array): Promise<SignatureInspection> {
  if (!(pcr0 instanceof Uint8Array)) throw new EifError('SIG_BAD_PCR0', 'PCR0 must be a Uint8Array');
  const { certificatePem, coseSign1 } = decodeSignatureSection(data);
  const cose = decodeEifCoseSign1(coseSign1);
  const cert = parseCertificatePem(certificatePem);
  await initCore();

  let keyAlg: EcdsaAlgorithm | undefined;
  try {
    keyAlg = certificateAlgorithm(cert);
  } catch (e) {
    if (!(e instanceof EifError)) throw e; // a non-EC (or odd-curve) certificate cannot have made this signature
  }
  const signatureValid = keyAlg === cose.algorithm && (await verifyCoseSign1(cose.message, await certificatePublicKey(cert, keyAlg)));

  return {
    pcr8: toHex(pcrOfBytes(cert.der)),
    certificateDer: cert.der,
    certificate: certificateInfo(cert),
    notBefore: new Date(cert.notBefore),
    notAfter: new Date(cert.notAfter),
    algorithm: cose.algorithm.name,
    signatureValid,
    payloadMatches: bytesEqual(cose.payload, encodePcrPayload(pcr0)),
  };
}
