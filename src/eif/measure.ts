/**
 * Measuring an EIF on the calling thread (browsers, small images, the in-memory builder) — eif-format.md §2 and
 * §3.2: the section walk (./walk.ts) into a sink that runs the CRC and both PCR streams (./roles.ts). The Node
 * pipeline is the other sink (src/node/hash-pipeline.ts).
 */
import { crc32 } from '../core/index.js';
import { toHex } from '../util/hex.js';
import { HASH_ALGORITHM, type Measurements, pcrExtend } from './pcr.js';
import { CRC_OFFSET } from './header.js';
import type { ByteSource, EifLayout } from './layout.js';
import { PcrStreams } from './roles.js';
import { type SectionSink, layoutSections, walkSections } from './walk.js';

/**
 * A sink that CRCs every byte and hashes measured bytes by their roles, on this thread; the in-memory builder also
 * has it keep the pieces (references, no copies) to lay out the file.
 */
export class MeasureSink implements SectionSink {
  #crc: number;
  readonly #streams = new PcrStreams();
  readonly #pieces: Uint8Array[] | undefined;

  /**
   * `initialCrc`: the CRC of what came before (header[0:544] for a reader; 0 for a builder's body). `pieces`:
   * receives every pushed piece in order.
   */
  constructor(initialCrc = 0, pieces?: Uint8Array[]) {
    this.#crc = initialCrc;
    this.#pieces = pieces;
  }

  push(bytes: Uint8Array, roles: number): void {
    this.#crc = crc32(bytes, this.#crc);
    if (roles !== 0) this.#streams.feed(bytes, roles);
    this.#pieces?.push(bytes);
  }

  /** The running CRC. */
  get crc(): number {
    return this.#crc >>> 0;
  }

  /** End the PCR streams: nitro-cli-shaped measurements (PCR0/1/2). */
  measurements(): Measurements {
    const r = this.#streams.finish();
    return measurementsFromInner(r.a!, r.fork!, r.b!);
  }
}

/** Turn the inner digests into nitro-cli-shaped measurements. */
export function measurementsFromInner(a: Uint8Array, fork: Uint8Array, b: Uint8Array, pcr8?: string): Measurements {
  const m: Measurements = {
    HashAlgorithm: HASH_ALGORITHM,
    PCR0: toHex(pcrExtend(a)),
    PCR1: toHex(pcrExtend(fork)),
    PCR2: toHex(pcrExtend(b)),
  };
  if (pcr8 !== undefined) m.PCR8 = pcr8;
  return m;
}

export interface MeasureResult {
  measurements: Measurements;
  /** CRC computed over header[0:544] and each section (header + data) in table order (§2). */
  computedCrc: number;
  checkCrc: boolean;
  /** Raw bytes of the metadata and signature sections, when present (small: ≤ 32 KiB for the signature). */
  metadata?: Uint8Array;
  signature?: Uint8Array;
}

/**
 * Measure an EIF on the current thread (browser and small files): one pass over every section, PCRs and CRC
 * together. `onProgress` gets the number of section bytes done.
 */
export async function measureSource(
  src: ByteSource,
  layout: EifLayout,
  onProgress?: (done: number) => void,
): Promise<MeasureResult> {
  const sink = new MeasureSink(crc32(layout.headerBytes.subarray(0, CRC_OFFSET)));
  const kept = await walkSections(layoutSections(layout, src), sink, onProgress);
  return {
    measurements: sink.measurements(),
    computedCrc: sink.crc,
    checkCrc: sink.crc === layout.header.crc32,
    metadata: kept.metadata,
    signature: kept.signature,
  };
}
