/**
 * Bridge from a file inspection to the signature-section check in src/signing/verify.ts (eif-format.md §4.6).
 * The signing code (COSE, CBOR, X.509: ~50 ms to load) is imported only when an image has a signature section,
 * so describing or verifying an unsigned image does not pay for it.
 */
import type { SignatureInspection } from '../signing/verify.js';
import { fromHex } from '../util/hex.js';
import type { EifFileInspection } from './reader.js';

export type SignatureVerdict = SignatureInspection;

export async function inspectSignature(i: EifFileInspection): Promise<SignatureVerdict> {
  const { inspectSignatureSection } = await import('../signing/verify.js');
  return inspectSignatureSection(i.signatureBytes!, fromHex(i.measurements.PCR0));
}
