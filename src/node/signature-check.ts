/**
 * Bridge from the file reader (./reader.ts) to the signature verdict (src/signing/verdict.ts, eif-format.md §4.6). The signing
 * code (COSE, CBOR, X.509: ~50 ms to load) is imported only when an image has a signature section, so describing
 * or verifying an unsigned image does not pay for it.
 */
import type { Measurements } from '../eif/pcr.js';
import type { SignatureVerdict } from '../signing/verdict.js';

export type { SignatureVerdict };

/** The verdict on an image's signature section (unsigned: its measurements, no inspection, no error). */
export async function fileSignatureVerdict(section: Uint8Array | undefined, measurements: Measurements): Promise<SignatureVerdict> {
  if (section === undefined) return { measurements };
  const { signatureVerdict } = await import('../signing/verdict.js');
  return signatureVerdict(section, measurements);
}
