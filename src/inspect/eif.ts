/**
 * Browser-safe inspection of an EIF held as bytes or a Blob/File (web pages checking PCRs): structure, PCRs, CRC,
 * signature and nitro-cli's describe JSON, in one pass on the calling thread. Node callers with files use
 * src/node/describe.ts, which streams on two cores.
 *
 * This room sits above the format codecs (src/eif) and the signature code (src/signing), and uses both: the
 * codecs never import the signature code, which imports the codecs (PCR8).
 */
import { initCore } from '../core/index.js';
import { type SignatureInspection } from '../signing/verify.js';
import { signatureVerdict } from '../signing/verdict.js';
import { describeObject } from '../eif/describe.js';
import { type ByteSource, type EifLayout, bytesSource, readLayout } from '../eif/layout.js';
import { measureSource } from '../eif/measure.js';
import { type DecodedMetadata, decodeMetadata } from '../eif/metadata.js';
import type { Measurements } from '../eif/pcr.js';

/**
 * Random access over a Blob (a File from an `<input type=file>`), without loading it whole.
 *
 * @example
 * import { blobSource, readLayout } from 'eifkit/browser';
 * const src = blobSource(input.files![0]!); // input: an HTMLInputElement of type file
 * const layout = await readLayout(src); // reads only the header and the section headers
 */
export function blobSource(blob: Blob): ByteSource {
  return {
    size: blob.size,
    read: async (offset, length) => new Uint8Array(await blob.slice(offset, offset + length).arrayBuffer()),
  };
}

export interface EifInspection {
  layout: EifLayout;
  measurements: Measurements;
  checkCrc: boolean;
  computedCrc: number;
  metadata?: DecodedMetadata;
  signature?: SignatureInspection;
  /** nitro-cli describe-eif JSON. */
  describe: Record<string, unknown>;
}

function toSource(input: Uint8Array | Blob | ByteSource): ByteSource {
  if (input instanceof Uint8Array) return bytesSource(input);
  if (typeof Blob !== 'undefined' && input instanceof Blob) return blobSource(input);
  return input as ByteSource;
}

/**
 * Inspect an EIF; throws EifError for malformed images and SIG_INVALID for a signature that does not verify.
 *
 * @example
 * import { inspectEifBytes } from 'eifkit/browser';
 * const i = await inspectEifBytes(file); // a Uint8Array, a Blob (an <input type=file> File) or a ByteSource
 * console.log(i.measurements.PCR0, i.checkCrc, i.metadata?.ImageName, i.signature?.pcr8);
 */
export async function inspectEifBytes(
  input: Uint8Array | Blob | ByteSource,
  opts: { onProgress?: (done: number) => void } = {},
): Promise<EifInspection> {
  await initCore();
  const src = toSource(input);
  const layout = await readLayout(src);
  const m = await measureSource(src, layout, opts.onProgress);
  const verdict = await signatureVerdict(m.signature, m.measurements);
  if (verdict.error) throw verdict.error; // like nitro-cli describe-eif (§4.6)
  const signature = verdict.inspection;
  const metadata = m.metadata ? decodeMetadata(m.metadata) : undefined;
  return {
    layout,
    measurements: verdict.measurements,
    checkCrc: m.checkCrc,
    computedCrc: m.computedCrc,
    metadata,
    signature,
    describe: describeObject({
      version: layout.header.version,
      measurements: verdict.measurements,
      checkCrc: m.checkCrc,
      signature: signature && { certificate: signature.certificate, signatureCheck: signature.payloadMatches },
      metadata,
    }),
  };
}

/**
 * nitro-cli describe-eif JSON of an EIF given as bytes or a Blob.
 *
 * @example
 * import { describeEifBytes } from 'eifkit/browser';
 * const d = await describeEifBytes(eifBytes);
 * console.log(d.Measurements, d.IsSigned, d.CheckCRC);
 */
export async function describeEifBytes(input: Uint8Array | Blob | ByteSource): Promise<Record<string, unknown>> {
  return (await inspectEifBytes(input)).describe;
}

/**
 * PCR0/1/2 (+PCR8 when signed) of an EIF given as bytes or a Blob.
 *
 * @example
 * import { measureEifBytes } from 'eifkit/browser';
 * const { PCR0, PCR1, PCR2, PCR8 } = await measureEifBytes(file); // PCR8 only for a signed image
 */
export async function measureEifBytes(input: Uint8Array | Blob | ByteSource): Promise<Measurements> {
  return (await inspectEifBytes(input)).measurements;
}
