/**
 * Bridge from a file inspection to the signature verdict (src/signing/verdict.ts, eif-format.md §4.6). The signing
 * code (COSE, CBOR, X.509: ~50 ms to load) is imported only when an image has a signature section, so describing
 * or verifying an unsigned image does not pay for it.
 */
import type { SignatureVerdict } from '../signing/verdict.js';
import type { EifFileInspection } from './reader.js';

export type { SignatureVerdict };

/** The verdict on the image's signature section (an unsigned image: its measurements, no inspection, no error). */
export async function fileSignatureVerdict(i: EifFileInspection): Promise<SignatureVerdict> {
  if (i.signatureBytes === undefined) return { measurements: i.measurements };
  const { signatureVerdict } = await import('../signing/verdict.js');
  return signatureVerdict(i.signatureBytes, i.measurements);
}
