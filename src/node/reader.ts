/**
 * Reading an EIF file: structure (src/eif/layout.ts), then one streaming pass for PCR0/1/2 and the CRC: the
 * section walk (src/eif/walk.ts) into the hash pipeline (./hash-pipeline.ts, two cores for large images). Memory stays flat: a 2 GiB image needs no 2 GiB buffer.
 * Output shapes follow nitro-cli `describe-eif` (eif-format.md §6.3).
 */
import { closeSync } from 'node:fs';
import { crc32, initCore } from '../core/index.js';
import { CRC_OFFSET } from '../eif/header.js';
import { type EifLayout, readLayout } from '../eif/layout.js';
import { measurementsFromInner } from '../eif/measure.js';
import { measuredSize } from '../eif/roles.js';
import { layoutSections, walkSections } from '../eif/walk.js';
import type { Measurements } from '../eif/pcr.js';
import { type DecodedMetadata, decodeMetadata } from '../eif/metadata.js';
import { HashPipeline, PARALLEL_THRESHOLD } from './hash-pipeline.js';
import { fileSource, openInput } from './file-source.js';
import { type SignatureVerdict, fileSignatureVerdict } from './signature-check.js';

export interface ReadOptions {
  /** Force (true) or forbid (false) the two-thread hashing; default: by size. */
  parallel?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export interface EifFileInspection {
  path: string;
  layout: EifLayout;
  measurements: Measurements;
  /** CRC stored in the header and CRC computed over the file (§2). */
  storedCrc: number;
  computedCrc: number;
  checkCrc: boolean;
  metadata?: DecodedMetadata;
  /** Raw metadata / signature section bytes. */
  metadataBytes?: Uint8Array;
  signatureBytes?: Uint8Array;
  /**
   * The signature verdict (src/signing/verdict.ts) of a signed image; its PCR8 is in `measurements` whenever the
   * section could be read, so every measurement of a signed image carries PCR8.
   */
  signature?: SignatureVerdict;
}

/**
 * Structure only (header + section table), no hashing.
 *
 * @example
 * import { readEifLayout } from 'eifkit';
 * const { sections, contiguous } = await readEifLayout('app.eif');
 * for (const s of sections) console.log(s.index, s.type, s.size);
 */
export async function readEifLayout(path: string): Promise<EifLayout> {
  const { fd, size } = openInput(path, 'EIF file');
  try {
    return await readLayout(fileSource(fd, size));
  } finally {
    closeSync(fd);
  }
}

/**
 * Structure, measurements (PCR8 included for a signed image), CRC, metadata and the signature verdict of an EIF
 * file, in one pass. Throws EifError on bad structure; a bad signature is in the verdict.
 *
 * @example
 * import { inspectEifFile } from 'eifkit';
 * const i = await inspectEifFile('app.eif');
 * console.log(i.measurements.PCR0, i.checkCrc, i.metadata?.ImageName, i.signature);
 */
export async function inspectEifFile(path: string, opts: ReadOptions = {}): Promise<EifFileInspection> {
  await initCore();
  const { fd, size } = openInput(path, 'EIF file');
  let pipeline: HashPipeline | undefined;
  try {
    const src = fileSource(fd, size);
    const layout = await readLayout(src);
    const measured = measuredSize(layout.sections);
    const total = layout.sections.reduce((n, s) => n + s.size, 0);
    pipeline = new HashPipeline({
      parallel: opts.parallel ?? measured >= PARALLEL_THRESHOLD,
      initialCrc: crc32(layout.headerBytes.subarray(0, CRC_OFFSET)),
      onProgress: opts.onProgress && ((done) => opts.onProgress!(done, total)),
    });
    const kept = await walkSections(layoutSections(layout, src, path), pipeline);
    const metadataBytes = kept.metadata;
    const signatureBytes = kept.signature;
    const inner = await pipeline.finishHashing();
    const computedCrc = pipeline.crc;
    const verdict = await fileSignatureVerdict(signatureBytes, measurementsFromInner(inner.a, inner.fork, inner.b));
    return {
      path,
      layout,
      measurements: verdict.measurements,
      storedCrc: layout.header.crc32,
      computedCrc,
      checkCrc: computedCrc === layout.header.crc32,
      metadata: metadataBytes ? decodeMetadata(metadataBytes) : undefined,
      metadataBytes,
      signatureBytes,
      signature: signatureBytes === undefined ? undefined : verdict,
    };
  } finally {
    pipeline?.close();
    closeSync(fd);
  }
}
