/**
 * `describe` and `verify` for EIF files: one streaming read (./reader.ts), the signature section checked by
 * src/signing, and the nitro-cli JSON (src/eif/describe.ts).
 */
import { EifError } from '../errors.js';
import type { Measurements } from '../eif/pcr.js';
import { describeObject } from '../eif/describe.js';
import { type EifFileInspection, type ReadOptions, inspectEifFile } from './reader.js';
import { inspectSignature, type SignatureVerdict } from './signature-check.js';

export interface DescribeResult {
  describe: Record<string, unknown>;
  inspection: EifFileInspection;
  signature?: SignatureVerdict;
  warnings: string[];
}

export async function describeEif(path: string, opts: ReadOptions = {}): Promise<DescribeResult> {
  const inspection = await inspectEifFile(path, opts);
  const signature = inspection.signatureBytes ? await inspectSignature(inspection) : undefined;
  if (signature && !signature.signatureValid) {
    // nitro-cli fails describe-eif when the COSE signature does not verify (spec §4.6): a distinct error state.
    throw new EifError('SIG_INVALID', 'the signature section\'s COSE signature does not verify with its certificate');
  }
  if (signature) inspection.measurements.PCR8 = signature.pcr8;
  const describe = describeObject({
    version: inspection.layout.header.version,
    measurements: inspection.measurements,
    checkCrc: inspection.checkCrc,
    signature: signature && { certificate: signature.certificate, signatureCheck: signature.payloadMatches },
    metadata: inspection.metadata,
  });
  return { describe, inspection, signature, warnings: inspection.layout.warnings };
}

/**
 * PCR0/1/2, and PCR8 when the image is signed (its signature is checked first: SIG_INVALID when the COSE signature
 * does not verify), of an EIF file. An image without PCR8 is unsigned: policies built from these measurements
 * expect PCR8 to be zero (eif-format.md §3.2, src/eif/pcr.ts `expectedImagePcrs`).
 */
export async function measureEif(path: string, opts: ReadOptions = {}): Promise<Measurements> {
  return (await describeEif(path, opts)).inspection.measurements;
}
