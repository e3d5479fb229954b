/**
 * The signature verdict of an EIF — eif-format.md §4.6, Appendix B — in one function for the browser inspector
 * (src/inspect/eif.ts), `eif describe` (src/node/describe.ts) and `eif verify` (src/node/verify.ts):
 *   1. check the signature section against the image's PCR0 (./verify.ts; a malformed section is its SIG_* error);
 *   2. a COSE signature that does not verify with the section's certificate is SIG_INVALID (nitro-cli fails
 *      describe-eif on it, a distinct state from a payload for another PCR0, which is SignatureCheck false);
 *   3. PCR8 is the certificate's (§4.4), added to the measurements whenever the section could be read.
 * Callers that show a signature (inspect, describe) throw the verdict's error; `verify` reports it as a check.
 * Browser-safe.
 */
import { EifError } from '../errors.js';
import type { Measurements } from '../eif/pcr.js';
import { fromHex } from '../util/hex.js';
import { inspectSignatureSection, type SignatureInspection } from './verify.js';

export interface SignatureVerdict {
  /** The image's measurements, with PCR8 when the image is signed and its section could be read. */
  measurements: Measurements;
  /** What the section says (absent for an unsigned image, or a section that could not be read). */
  inspection?: SignatureInspection;
  /** Why the signature is not good: the section's own error (SIG_*, EIF_*), or SIG_INVALID. */
  error?: EifError;
}

/**
 * The verdict on `section` (the signature section's bytes; undefined for an unsigned image) for an image with
 * `measurements` (PCR0/1/2). Never throws an EifError: it is in the verdict.
 */
export async function signatureVerdict(section: Uint8Array | undefined, measurements: Measurements): Promise<SignatureVerdict> {
  if (section === undefined) return { measurements };
  let inspection: SignatureInspection;
  try {
    inspection = await inspectSignatureSection(section, fromHex(measurements.PCR0));
  } catch (e) {
    if (!(e instanceof EifError)) throw e;
    return { measurements, error: e };
  }
  const signed = { ...measurements, PCR8: inspection.pcr8 };
  if (!inspection.signatureValid) {
    const error = new EifError('SIG_INVALID', "the signature section's COSE signature does not verify with its certificate");
    return { measurements: signed, inspection, error };
  }
  return { measurements: signed, inspection };
}
