/**
 * The PCR roles of an EIF's bytes — eif-format.md §3.2, the one place that says which section feeds which PCR.
 *
 * The measured bytes are split into two SHA-384 streams, so they can run on two cores:
 *   stream A: kernel ‖ cmdline ‖ ramdisk0 ‖ ramdisk1 … → PCR0; its state is forked at the end of ramdisk0 → PCR1
 *             (no second hash of the kernel, cmdline and bootstrap ramdisk);
 *   stream B: ramdisk1 ‖ … → PCR2.
 * Metadata and signature sections, and every section header, feed only the CRC (§2): role 0.
 * Every piece of bytes carries role bits; {@link PcrStreams} applies them — on the calling thread for browsers and
 * small images, and in each Node hash worker for its own stream (src/node/hash-worker.ts).
 */
import { type CoreInstance, Sha384 } from '../core/index.js';
import { SectionType } from './header.js';

/** Into the PCR0 stream (A). */
export const ROLE_A = 1;
/** Into the PCR2 stream (B). */
export const ROLE_B = 2;
/** The PCR1 fork of stream A is taken after this piece's last byte (the end of the first ramdisk). */
export const ROLE_FORK = 4;

/** True for the sections measured into PCR0/1/2: kernel, cmdline, ramdisks (§3.2). */
export function isMeasured(t: SectionType): boolean {
  return t === SectionType.Kernel || t === SectionType.Cmdline || t === SectionType.Ramdisk;
}

/** Bytes measured into the PCRs: what the hash streams will see (sizes the Node pipeline's choice of threads). */
export function measuredSize(sections: readonly { type: SectionType; size: number }[]): number {
  return sections.reduce((n, s) => n + (isMeasured(s.type) ? s.size : 0), 0);
}

/**
 * Role bits of each section, given the section types in table order: kernel/cmdline → A; ramdisk0 → A|FORK;
 * later ramdisks → A|B; metadata/signature → 0 (CRC only). The format requires kernel and cmdline before the
 * ramdisks (checked by readLayout, written so by the builders).
 */
export function sectionRoles(types: readonly SectionType[]): number[] {
  let ramdisks = 0;
  return types.map((t) => {
    if (!isMeasured(t)) return 0;
    if (t !== SectionType.Ramdisk) return ROLE_A;
    return ramdisks++ === 0 ? ROLE_A | ROLE_FORK : ROLE_A | ROLE_B;
  });
}

/** The roles of one piece of a section with roles `roles`: the fork applies after the section's last byte only. */
export function pieceRoles(roles: number, last: boolean): number {
  return last ? roles : roles & ~ROLE_FORK;
}

/** Inner digests (before the PCR extend): stream A (PCR0), its fork (PCR1), stream B (PCR2). */
export interface InnerDigests {
  a: Uint8Array;
  fork: Uint8Array;
  b: Uint8Array;
}

/**
 * Applies role bits to the SHA-384 streams this thread runs: both (default), or one (`streams` = ROLE_A or ROLE_B,
 * a hash worker, on its shared-memory core). The digests of streams not run here are absent from the result.
 */
export class PcrStreams {
  readonly #a: Sha384 | undefined;
  readonly #b: Sha384 | undefined;
  #fork: Uint8Array | undefined;

  constructor(o: { core?: CoreInstance; streams?: number } = {}) {
    const streams = o.streams ?? ROLE_A | ROLE_B;
    this.#a = streams & ROLE_A ? Sha384.create(o.core) : undefined;
    this.#b = streams & ROLE_B ? Sha384.create(o.core) : undefined;
  }

  #after(roles: number): void {
    if (roles & ROLE_FORK && this.#a) this.#fork = this.#a.forkDigest();
  }

  /** Feed bytes held anywhere (copied through the core's I/O region). */
  feed(bytes: Uint8Array, roles: number): void {
    if (roles & ROLE_A) this.#a?.update(bytes);
    if (roles & ROLE_B) this.#b?.update(bytes);
    this.#after(roles);
  }

  /** Feed the first `len` bytes of the core's I/O region, which the caller filled (no copy). */
  feedFromIo(len: number, roles: number): void {
    if (roles & ROLE_A) this.#a?.updateFromIo(len);
    if (roles & ROLE_B) this.#b?.updateFromIo(len);
    this.#after(roles);
  }

  /**
   * Feed `len` bytes at `offset` of the core's memory where they lie (a ring slot), in calls of at most `piece`
   * bytes (a worker hashes a slot in a few calls, so that code V8 optimises meanwhile is used for the rest).
   */
  feedInMemory(offset: number, len: number, roles: number, piece = len): void {
    for (const h of [roles & ROLE_A ? this.#a : undefined, roles & ROLE_B ? this.#b : undefined]) {
      if (!h) continue;
      for (let off = 0; off < len; off += piece) h.updateInMemory(offset + off, Math.min(piece, len - off));
    }
    this.#after(roles);
  }

  /** Finish: the inner digests of the streams run here. */
  finish(): Partial<InnerDigests> {
    return { a: this.#a?.digest(), fork: this.#a ? this.#fork : undefined, b: this.#b?.digest() };
  }
}
