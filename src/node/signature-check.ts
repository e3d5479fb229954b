/** Bridge from a file inspection to the signature-section check in src/signing/verify.ts (eif-format.md §4.6). */
import { inspectSignatureSection, type SignatureInspection } from '../signing/verify.js';
import { fromHex } from '../util/hex.js';
import type { EifFileInspection } from './reader.js';

export type SignatureVerdict = SignatureInspection;

export function inspectSignature(i: EifFileInspection): Promise<SignatureVerdict> {
  return inspectSignatureSection(i.signatureBytes!, fromHex(i.measurements.PCR0));
}
