/**
 * Streaming PCR0/1/2 + CRC over an EIF's sections — eif-format.md §2 and §3.2.
 *
 * The measured bytes are split into two streams so they can run on two cores:
 *   stream A: kernel ‖ cmdline ‖ ramdisk0 ‖ ramdisk1 … → PCR0; its state is forked at the end of ramdisk0 → PCR1
 *             (no second hash of the kernel, cmdline and bootstrap ramdisk);
 *   stream B: ramdisk1 ‖ … → PCR2.
 * Every chunk carries role bits saying which stream(s) take it. {@link PcrAccumulator} applies them; the Node
 * layer runs one accumulator per worker thread (roles masked), the browser runs one with all roles.
 */
import { type Sha384, createSha384 } from '../core/index.js';
import { crc32 } from '../core/index.js';
import { toHex } from '../util/hex.js';
import { HASH_ALGORITHM, type Measurements, pcrExtend } from './pcr.js';
import { CRC_OFFSET, SECTION_HEADER_SIZE, SectionType } from './header.js';
import { type ByteSource, type EifLayout, type Section, isMeasured } from './layout.js';

/** Role bits of a chunk of measured data. */
export const ROLE_A = 1; // into the PCR0 stream
export const ROLE_B = 2; // into the PCR2 stream
export const ROLE_FORK = 4; // the PCR1 fork is taken after this chunk (last chunk of the first ramdisk)

/**
 * Hashes chunks according to their role bits, both streams on this thread's core (browsers, small images). The
 * Node pipeline's workers apply the same bits each to its own stream (src/node/hash-worker.ts).
 */
export class PcrAccumulator {
  readonly #a: Sha384 = createSha384();
  readonly #b: Sha384 = createSha384();
  #pcr1Inner: Uint8Array | undefined;

  /** Feed one chunk. */
  feed(chunk: Uint8Array, roles: number): void {
    if (roles & ROLE_A) this.#a.update(chunk);
    if (roles & ROLE_B) this.#b.update(chunk);
    if (roles & ROLE_FORK) this.#pcr1Inner = this.#a.clone().digest();
  }

  /** Same, for data already placed at the start of the WASM I/O region (no copy). */
  feedFromIo(len: number, roles: number): void {
    if (roles & ROLE_A) this.#a.updateFromIo(len);
    if (roles & ROLE_B) this.#b.updateFromIo(len);
    if (roles & ROLE_FORK) this.#pcr1Inner = this.#a.clone().digest();
  }

  /** Inner digests (before the extend), hex: stream A (PCR0), its fork (PCR1), stream B (PCR2). */
  finishInner(): { a: Uint8Array; fork: Uint8Array | undefined; b: Uint8Array } {
    return { a: this.#a.digest(), fork: this.#pcr1Inner, b: this.#b.digest() };
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

/**
 * Role bits for each section in table order: kernel/cmdline → A; ramdisk0 → A (+FORK on its last chunk);
 * later ramdisks → A|B; metadata/signature → 0 (CRC only). Requires kernel and cmdline before the ramdisks
 * (checked by readLayout).
 */
export function sectionRoles(sections: readonly Section[]): number[] {
  let ramdisks = 0;
  return sections.map((s) => {
    if (!isMeasured(s.type)) return 0;
    if (s.type !== SectionType.Ramdisk) return ROLE_A;
    return ramdisks++ === 0 ? ROLE_A | ROLE_FORK : ROLE_A | ROLE_B;
  });
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

/** Size of the pieces read from a source while measuring. */
export const CHUNK_SIZE = 1 << 20;

/** Bytes of small sections kept for describe (metadata; signature is bounded by the layout check). */
const KEEP_LIMIT = 1 << 20;

/**
 * Measure an EIF on the current thread (browser and small files): one pass over every section, PCRs and CRC
 * together. `onProgress` gets the number of section bytes done.
 */
export async function measureSource(
  src: ByteSource,
  layout: EifLayout,
  onProgress?: (done: number) => void,
): Promise<MeasureResult> {
  const acc = new PcrAccumulator();
  let crc = crc32(layout.headerBytes.subarray(0, CRC_OFFSET));
  const roles = sectionRoles(layout.sections);
  let done = 0;
  let metadata: Uint8Array | undefined;
  let signature: Uint8Array | undefined;
  for (const s of layout.sections) {
    crc = crc32(await src.read(s.offset, SECTION_HEADER_SIZE), crc);
    const role = roles[s.index]!;
    const keep = (s.type === SectionType.Metadata || s.type === SectionType.Signature) && s.size <= KEEP_LIMIT;
    const kept = keep ? new Uint8Array(s.size) : undefined;
    for (let off = 0; off < s.size; off += CHUNK_SIZE) {
      const len = Math.min(CHUNK_SIZE, s.size - off);
      const chunk = await src.read(s.dataOffset + off, len);
      crc = crc32(chunk, crc);
      if (kept) kept.set(chunk, off);
      const last = off + len === s.size;
      if (role) acc.feed(chunk, last ? role : role & ~ROLE_FORK);
      done += len;
      onProgress?.(done);
    }
    if (role & ROLE_FORK && s.size === 0) acc.feed(new Uint8Array(0), role);
    if (s.type === SectionType.Metadata) metadata = kept;
    if (s.type === SectionType.Signature) signature = kept;
  }
  const inner = acc.finishInner();
  return {
    measurements: measurementsFromInner(inner.a, inner.fork!, inner.b),
    computedCrc: crc >>> 0,
    checkCrc: crc >>> 0 === layout.header.crc32,
    metadata,
    signature,
  };
}

