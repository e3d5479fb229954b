/**
 * Stable error codes of attestation verification (docs/attestation.md lists them with their meaning). Results
 * carry `{ code, message }` items; codes never change, messages may. Internally a check throws
 * {@link AttestationFailure} to stop at the first structural problem.
 */
import { EifError } from '../errors.js';
import { ERROR_CODES, type ErrorCode } from '../error-codes.js';

/** The ATT_* codes (src/error-codes.ts holds every code; docs/attestation.md explains these). */
export type AttestationErrorCode = Extract<ErrorCode, `ATT_${string}`>;

export const ATTESTATION_ERROR_CODES: readonly AttestationErrorCode[] = ERROR_CODES.filter((c): c is AttestationErrorCode => c.startsWith('ATT_'));

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
