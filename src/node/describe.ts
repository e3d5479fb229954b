/**
 * `describe` for EIF files: one streaming read with the signature verdict (./reader.ts, src/signing/verdict.ts),
 * and the nitro-cli JSON (src/eif/describe.ts).
 */
import type { Measurements } from '../eif/pcr.js';
import { describeObject } from '../eif/describe.js';
import type { SignatureInspection } from '../signing/verify.js';
import { type EifFileInspection, type ReadOptions, inspectEifFile } from './reader.js';

export interface DescribeResult {
  describe: Record<string, unknown>;
  inspection: EifFileInspection;
  signature?: SignatureInspection;
  warnings: string[];
}

export async function describeEif(path: string, opts: ReadOptions = {}): Promise<DescribeResult> {
  const inspection = await inspectEifFile(path, opts);
  // nitro-cli fails describe-eif when the section is malformed or its COSE signature does not verify (spec §4.6).
  if (inspection.signature?.error) throw inspection.signature.error;
  const signature = inspection.signature?.inspection;
  const describe = describeObject({
    version: inspection.layout.header.version,
    measurements: inspection.measurements,
    checkCrc: inspection.checkCrc,
    signature: signature && { certificate: signature.certificate, signatureCheck: signature.payloadMatches },
    metadata: inspection.metadata,
  });
  const { layout } = inspection;
  return { describe, inspection, signature, warnings: [...layout.warnings, ...layout.headerFindings.map((f) => `${f.code}: ${f.message}`)] };
}

/**
 * PCR0/1/2, and PCR8 when the image is signed (its signature is checked first: SIG_INVALID when the COSE signature
 * does not verify), of an EIF file. An image without PCR8 is unsigned: policies built from these measurements
 * expect PCR8 to be zero (eif-format.md §3.2, src/eif/pcr.ts `expectedImagePcrs`).
 */
export async function measureEif(path: string, opts: ReadOptions = {}): Promise<Measurements> {
  return (await describeEif(path, opts)).inspection.measurements;
}
