/**
 * Stable error codes of attestation verification (docs/attestation.md lists them with their meaning). Results
 * carry `{ code, message }` items; codes never change, messages may. Internally a check throws
 * {@link AttestationFailure} to stop at the first structural problem.
 */
import { EifError } from '../errors.js';

export const ATTESTATION_ERROR_CODES = [
  // input and envelope (attestation.md §2.2 steps 1–2)
  'ATT_INPUT',
  'ATT_INPUT_TOO_LARGE',
  'ATT_INPUT_NOT_DOCUMENT',
  'ATT_CBOR_TRUNCATED',
  'ATT_CBOR_TRAILING_BYTES',
  'ATT_CBOR_NON_MINIMAL',
  'ATT_CBOR_INDEFINITE',
  'ATT_CBOR_DUPLICATE_KEY',
  'ATT_CBOR_TOO_DEEP',
  'ATT_CBOR_TOO_MANY_ITEMS',
  'ATT_CBOR_TOO_LONG',
  'ATT_CBOR_MALFORMED',
  'ATT_CBOR_BAD_UTF8',
  'ATT_CBOR_TAG_NOT_ALLOWED',
  'ATT_CBOR_TYPE_NOT_ALLOWED',
  'ATT_COSE_TAG',
  'ATT_COSE_STRUCTURE',
  'ATT_COSE_HEADER',
  'ATT_SIGNATURE_FORMAT',
  'ATT_SIGNATURE_INVALID',
  // payload (§1.2, §2.2 step 3)
  'ATT_PAYLOAD_NOT_MAP',
  'ATT_PAYLOAD_KEY',
  'ATT_PAYLOAD_UNKNOWN_FIELD',
  'ATT_PAYLOAD_MISSING_FIELD',
  'ATT_MODULE_ID_INVALID',
  'ATT_DIGEST_INVALID',
  'ATT_TIMESTAMP_INVALID',
  'ATT_PCRS_INVALID',
  'ATT_CERTIFICATE_INVALID',
  'ATT_CABUNDLE_INVALID',
  'ATT_OPTIONAL_FIELD_INVALID',
  // certificate chain (§2.2 step 4)
  'ATT_ROOTS_INVALID',
  'ATT_ROOT_UNTRUSTED',
  'ATT_CERT_MALFORMED',
  'ATT_CERT_ALGORITHM',
  'ATT_CERT_CRITICAL_EXTENSION',
  'ATT_CERT_CONSTRAINTS',
  'ATT_CERT_KEY_USAGE',
  'ATT_CHAIN_ISSUER_MISMATCH',
  'ATT_CERT_VALIDITY',
  'ATT_CERT_SIGNATURE_INVALID',
  // policy (§2.2 steps 6–7)
  'ATT_OPTIONS_INVALID',
  'ATT_POLICY_EMPTY',
  'ATT_POLICY_INVALID',
  'ATT_EIF_UNREADABLE',
  'ATT_PCR_MISSING',
  'ATT_PCR_MISMATCH',
  'ATT_DEBUG_MODE',
  'ATT_NONCE_MISMATCH',
  'ATT_USER_DATA_MISMATCH',
  'ATT_PUBLIC_KEY_MISMATCH',
  'ATT_TIMESTAMP_STALE',
  'ATT_TIMESTAMP_FUTURE',
  // a bug in the verifier or the platform (never expected)
  'ATT_INTERNAL',
] as const;

export type AttestationErrorCode = (typeof ATTESTATION_ERROR_CODES)[number];

/** One reason a document was rejected. */
export interface AttestationIssue {
  readonly code: AttestationErrorCode;
  readonly message: string;
}

/** Thrown inside the verifier to stop at a structural failure; turned into an {@link AttestationIssue}. */
export class AttestationFailure extends EifError {
  declare readonly code: AttestationErrorCode;
  constructor(code: AttestationErrorCode, message: string) {
    super(code, message);
  }
}

/** Throw an {@link AttestationFailure}. */
export function fail(code: AttestationErrorCode, message: string): never {
  throw new AttestationFailure(code, message);
}

export function issue(code: AttestationErrorCode, message: string): AttestationIssue {
  return { code, message };
}

const KNOWN = new Set<string>(ATTESTATION_ERROR_CODES);

/**
 * Any error thrown by a lower layer as an issue: CBOR_X -> ATT_CBOR_X, COSE_TAG / COSE_STRUCTURE / COSE_HEADER ->
 * ATT_COSE_*, an AttestationFailure as itself, anything else as ATT_INTERNAL (a bug, reported, not thrown).
 */
export function toIssue(e: unknown, fallback: AttestationErrorCode = 'ATT_INTERNAL'): AttestationIssue {
  if (e instanceof EifError) {
    if (KNOWN.has(e.code)) return { code: e.code as AttestationErrorCode, message: e.message };
    const mapped = `ATT_${e.code}`;
    if (KNOWN.has(mapped)) return { code: mapped as AttestationErrorCode, message: e.message };
    if (e.code === 'COSE_SIGNATURE_FORMAT') return { code: 'ATT_SIGNATURE_FORMAT', message: e.message };
    if (e.code === 'COSE_ALG') return { code: 'ATT_COSE_HEADER', message: e.message };
    return { code: fallback, message: `${e.code}: ${e.message}` };
  }
  const msg = e instanceof Error ? e.message : String(e);
  return { code: fallback, message: fallback === 'ATT_INTERNAL' ? `unexpected error: ${msg}` : msg };
}
