/**
 * `describe` for EIF files: one streaming read with the signature verdict (./reader.ts, src/signing/verdict.ts),
 * and the nitro-cli JSON (src/eif/describe.ts).
 */
import type { Measurements } from '../eif/pcr.js';
import { describeObject } from '../eif/describe.js';
import type { SignatureInspection } from '../signing/verify.js';
import { type EifFileInspection, type ReadOptions, inspectEifFile } from './reader.js';

/** describe's JSON with what the CLI also shows: the reader's warnings, the inspection and the signature verdict. */
export interface DescribeDetails {
  describe: Record<string, unknown>;
  inspection: EifFileInspection;
  signature?: SignatureInspection;
  warnings: string[];
}

/** {@link describeEifFile} with the inspection and warnings behind it (the CLI's describe, the launcher's pre-flight). */
export async function describeEifFileDetails(path: string, opts: ReadOptions = {}): Promise<DescribeDetails> {
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
 * nitro-cli `describe-eif` JSON of an EIF file (eif-format.md §6.3): the same shape as `describeEifBytes` gives for
 * bytes. Streams the file (two cores for large images); throws EifError on a malformed image and SIG_INVALID when the
 * signature does not verify.
 *
 * @example
 * import { describeEifFile } from 'eifkit';
 * const d = await describeEifFile('app.eif');
 * console.log(d.Measurements, d.IsSigned, d.CheckCRC);
 */
export async function describeEifFile(path: string, opts: ReadOptions = {}): Promise<Record<string, unknown>> {
  return (await describeEifFileDetails(path, opts)).describe;
}

/**
 * PCR0/1/2, and PCR8 when the image is signed (its signature is checked first: SIG_INVALID when the COSE signature
 * does not verify), of an EIF file. An image without PCR8 is unsigned: policies built from these measurements
 * expect PCR8 to be zero (eif-format.md §3.2, src/eif/pcr.ts `expectedImagePcrs`).
 *
 * @example
 * import { measureEifFile, verifyAttestation } from 'eifkit';
 * const pcrs = await measureEifFile('app.eif'); // { HashAlgorithm, PCR0, PCR1, PCR2, PCR8? }
 * const r = await verifyAttestation(doc, { eif: pcrs, nonce });
 */
export async function measureEifFile(path: string, opts: ReadOptions = {}): Promise<Measurements> {
  return (await describeEifFileDetails(path, opts)).inspection.measurements;
}
