/**
 * An EIF measured in shares, one per thread (a web page's Web Workers): eif-format.md §2 (the CRC) and §3.2 (the
 * two SHA-384 streams of ../eif/roles.ts: stream A → PCR0 with the PCR1 fork, stream B → PCR2). Each share walks
 * the sections itself (../eif/walk.ts) over its own reads of the same Blob, so no memory is shared and no byte is
 * copied between threads; a share skips the sections it has nothing to do with. The page then combines the shares'
 * results with {@link inspectEifParts}: same result, same errors as {@link inspectEifBytes}, which runs everything
 * on one thread. Browser-safe; nothing here knows about workers or the DOM.
 */
import { crc32, crc32Combine, initCore } from '../core/index.js';
import { EifError } from '../errors.js';
import { CRC_OFFSET, SECTION_HEADER_SIZE } from '../eif/header.js';
import { type ByteSource, type EifLayout, bytesSource, readLayout } from '../eif/layout.js';
import { SectionType } from '../eif/header.js';
import { measurementsFromInner } from '../eif/measure.js';
import { PcrStreams, ROLE_A, ROLE_B, isMeasured, pieceRoles, sectionRoles } from '../eif/roles.js';
import { type SectionInput, type SectionSink, layoutSections, walkSections } from '../eif/walk.js';
import { type EifInspection, finishInspection, toSource } from './eif.js';
import type { RelayEnd } from './relay.js';

/**
 * What one thread computes: any of stream A (PCR0 and PCR1), stream B (PCR2) and the CRC — all of it (`true`), or
 * slice `index` of `count` equal byte ranges of what the CRC covers (the sections, headers and data, in table
 * order), so that two threads which read every byte anyway for their SHA streams share the CRC too; the page
 * combines the slices (crc32Combine, §2). With `stripe`, the share runs every `count`-th stripe of `stripe` bytes
 * from stripe `index` on instead of one range: threads in step (one reading and relaying to the other, ./relay.ts)
 * then do the same work per piece all along, where halves would make each wait for the other in turn.
 */
export interface EifMeasureShare {
  pcr0?: boolean;
  pcr2?: boolean;
  crc?: boolean | { index: number; count: number; stripe?: number };
}

/** One slice of the CRC: CRC-32 (from 0) of `length` bytes starting `offset` bytes after header[0:544]. */
export interface EifCrcSlice {
  offset: number;
  length: number;
  crc: number;
}

/** Stripes `index`, `index + count`, … of `stripe` bytes each (the last one shorter) after header[0:544]. */
export interface EifCrcStripes {
  stripe: number;
  index: number;
  count: number;
  crcs: number[];
}

/** A share's result: plain data (Uint8Arrays, numbers), so it crosses `postMessage` as is. */
export interface EifMeasurePart {
  /** Inner digest of stream A (before the PCR extend) and its fork at the end of the first ramdisk. */
  a?: Uint8Array;
  fork?: Uint8Array;
  /** Inner digest of stream B. */
  b?: Uint8Array;
  /** CRC-32 over header[0:544] and every section (header and data), when the share ran it whole. */
  crc?: number;
  /** The share's slice of the CRC, when it ran a slice. */
  crcSlice?: EifCrcSlice;
  /** The share's stripes of the CRC, when it ran stripes: CRC-32 (from 0) of each, in order (NaN: not seen). */
  crcStripes?: EifCrcStripes;
  /** The metadata and signature sections, read whole (small; every share reads them). */
  metadata?: Uint8Array;
  signature?: Uint8Array;
  /** Section bytes this share read. */
  bytesRead: number;
  /**
   * Where the share's time went, in ms (performance.now()): waiting for reads (of which waiting for the other end of
   * a relay), in SHA-384, in the CRC. Reported so
   * a bench can say where a slow run lost its time; not part of the result.
   */
  timing?: { readMs: number; shaMs: number; crcMs: number; totalMs: number; relayWaitMs?: number };
}

/**
 * Default size of the pieces a share reads: filled in two reused buffers when the source streams (a Blob: the next
 * piece is read while this one is hashed), else slices with the next one requested while the current one is hashed.
 * 1 MiB, the core's I/O region: in Chromium it waited less for reads than 4 or 16 MiB and keeps a worker's heap
 * at ~5 MiB (bench/README.md, web, 2026-12-03 16:00).
 */
export const PART_CHUNK_SIZE = 1 << 20;

/**
 * Stripe of the CRC the page's two workers take in turn (`crc: { index, count: 2, stripe }`): one piece, so the
 * worker that reads and the one it relays to do the same work per piece (bench/README.md, web, relay).
 */
export const PART_CRC_STRIPE = 1 << 20;

/**
 * Which of the CRC's bytes (after header[0:544]) a share runs: the range [lo, hi), or with `stripe` > 0 the stripes
 * k of [lo, hi) = [0, total) with k mod count = index.
 */
interface CrcPlan {
  lo: number;
  hi: number;
  stripe: number;
  index: number;
  count: number;
}

const NO_CRC: CrcPlan = { lo: 0, hi: 0, stripe: 0, index: 0, count: 1 };

/** Whether the CRC bytes [a, b) hold any byte of the plan's. */
function touches(plan: CrcPlan, a: number, b: number): boolean {
  if (!(a < plan.hi && b > plan.lo)) return false;
  if (plan.stripe === 0) return true;
  const first = Math.floor(a / plan.stripe);
  const last = Math.floor((b - 1) / plan.stripe);
  if (last - first + 1 >= plan.count) return true;
  for (let k = first; k <= last; k++) if (k % plan.count === plan.index) return true;
  return false;
}

const now = (): number => (typeof performance === 'undefined' ? Date.now() : performance.now());

/** A sink that runs only its share, reading ranges itself with one read ahead, skipping what it needs not see. */
class ShareSink implements SectionSink {
  readonly #streams: PcrStreams;
  readonly #mask: number;
  /** The CRC bytes this share runs (after header[0:544]); #pos: where the next pushed byte lies. */
  readonly #plan: CrcPlan;
  #pos = 0;
  /** With stripes: the CRC of each of this share's stripes, in order. */
  readonly stripeCrcs: number[] = [];
  readonly #chunk: number;
  readonly #progress: ((read: number) => void) | undefined;
  crcValue = 0;
  bytesRead = 0;
  readMs = 0;
  shaMs = 0;
  crcMs = 0;

  constructor(share: EifMeasureShare, initialCrc: number, chunk: number, onProgress?: (n: number) => void, plan: CrcPlan = NO_CRC) {
    this.#mask = (share.pcr0 ? ROLE_A : 0) | (share.pcr2 ? ROLE_B : 0);
    this.#streams = new PcrStreams({ streams: this.#mask });
    this.#plan = plan;
    this.crcValue = initialCrc;
    this.#chunk = chunk;
    this.#progress = onProgress;
  }

  push(bytes: Uint8Array, roles: number): void {
    const t0 = now();
    const len = bytes.length;
    const plan = this.#plan;
    if (plan.stripe > 0) {
      for (let off = 0; off < len; ) {
        const at = this.#pos + off;
        const k = Math.floor(at / plan.stripe);
        const n = Math.min(len - off, (k + 1) * plan.stripe - at);
        if (k % plan.count === plan.index) {
          const j = (k - plan.index) / plan.count;
          this.stripeCrcs[j] = crc32(n === len ? bytes : bytes.subarray(off, off + n), this.stripeCrcs[j] ?? 0);
        }
        off += n;
      }
    } else {
      const lo = Math.max(plan.lo - this.#pos, 0);
      const hi = Math.min(plan.hi - this.#pos, len);
      if (lo < hi) this.crcValue = crc32(lo === 0 && hi === len ? bytes : bytes.subarray(lo, hi), this.crcValue);
    }
    this.#pos += len;
    const t1 = now();
    if (roles & this.#mask) this.#streams.feed(bytes, roles);
    this.crcMs += t1 - t0;
    this.shaMs += now() - t1;
  }

  async pushRange(source: ByteSource, offset: number, size: number, roles: number): Promise<void> {
    if ((roles & this.#mask) === 0 && !touches(this.#plan, this.#pos, this.#pos + size)) {
      this.#pos += size; // nothing of ours: not even read
      return;
    }
    if (source.stream) {
      let off = 0;
      let t = now();
      for await (const piece of source.stream(offset, size, this.#chunk)) {
        this.readMs += now() - t;
        off += piece.length;
        this.push(piece, pieceRoles(roles, off === size)); // used before the next piece overwrites it
        this.bytesRead += piece.length;
        this.#progress?.(this.bytesRead);
        t = now();
      }
      if (off !== size) throw new EifError('EIF_TRUNCATED', `the file ended ${size - off} bytes before the end of a section`);
      if (size === 0) this.push(new Uint8Array(0), roles);
      return;
    }
    let next: Promise<Uint8Array> | Uint8Array | undefined = size > 0 ? source.read(offset, Math.min(this.#chunk, size)) : undefined;
    for (let off = 0; off < size; ) {
      const t = now();
      const piece = await next!;
      this.readMs += now() - t;
      const len = piece.length;
      if (len === 0) throw new EifError('EIF_TRUNCATED', `the file ended ${size - off} bytes before the end of a section`);
      const end = off + len;
      next = end < size ? source.read(offset + end, Math.min(this.#chunk, size - end)) : undefined;
      this.push(piece, pieceRoles(roles, end === size));
      off = end;
      this.bytesRead += len;
      this.#progress?.(this.bytesRead);
    }
    if (size === 0) this.push(new Uint8Array(0), roles);
  }

  finish(): Pick<EifMeasurePart, 'a' | 'fork' | 'b'> {
    const r = this.#streams.finish();
    return { a: r.a, fork: r.fork, b: r.b };
  }
}

/** Bytes the CRC covers after header[0:544]: every section, its 12-byte header and its data (§2). */
function crcLength(layout: EifLayout): number {
  return layout.sections.reduce((n, s) => n + SECTION_HEADER_SIZE + s.size, 0);
}

/** The CRC bytes a share runs: all, a slice, stripes, or none. */
function crcPlan(layout: EifLayout, crc: EifMeasureShare['crc']): CrcPlan {
  const total = crcLength(layout);
  if (crc === true) return { ...NO_CRC, hi: total };
  if (!crc) return NO_CRC;
  const { index, count, stripe } = crc;
  if (!Number.isInteger(count) || count < 1 || !Number.isInteger(index) || index < 0 || index >= count) {
    throw new EifError('CORE_BAD_ARGUMENT', `a CRC slice must be { index, count } with integers 0 ≤ index < count (got ${index} of ${count})`);
  }
  if (stripe !== undefined) {
    if (!Number.isSafeInteger(stripe) || stripe < 1) throw new EifError('CORE_BAD_ARGUMENT', `a CRC stripe must be a positive integer of bytes (got ${stripe})`);
    return { lo: 0, hi: total, stripe, index, count };
  }
  return { ...NO_CRC, lo: Math.floor((total * index) / count), hi: Math.floor((total * (index + 1)) / count) };
}

/**
 * The CRC of the whole image from the parts: one part's whole CRC, else slices that tile the sections exactly
 * (crc32Combine after the CRC of header[0:544]); undefined when neither.
 */
function combinedCrc(layout: EifLayout, parts: readonly EifMeasurePart[]): number | undefined {
  const whole = parts.find((p) => p.crc !== undefined)?.crc;
  if (whole !== undefined) return whole;
  const slices = parts.flatMap((p) => (p.crcSlice ? [p.crcSlice] : [])).sort((x, y) => x.offset - y.offset);
  if (slices.length === 0) return stripedCrc(layout, parts);
  let crc = crc32(layout.headerBytes.subarray(0, CRC_OFFSET));
  let pos = 0;
  for (const s of slices) {
    if (s.offset !== pos) return undefined; // a gap or an overlap
    crc = crc32Combine(crc, s.crc, s.length);
    pos += s.length;
  }
  return pos === crcLength(layout) ? crc : undefined;
}

/** The CRC of the whole image from parts that ran stripes of one size and count, every index once; else undefined. */
function stripedCrc(layout: EifLayout, parts: readonly EifMeasurePart[]): number | undefined {
  const striped = parts.flatMap((p) => (p.crcStripes ? [p.crcStripes] : []));
  if (striped.length === 0) return undefined;
  const { stripe, count } = striped[0]!;
  const byIndex = new Map(striped.filter((s) => s.stripe === stripe && s.count === count).map((s) => [s.index, s.crcs]));
  if (byIndex.size !== count) return undefined;
  const total = crcLength(layout);
  let crc = crc32(layout.headerBytes.subarray(0, CRC_OFFSET));
  for (let k = 0, pos = 0; pos < total; k++, pos += stripe) {
    const c = byIndex.get(k % count)?.[Math.floor(k / count)];
    if (!Number.isInteger(c)) return undefined; // a stripe no part ran
    crc = crc32Combine(crc, c!, Math.min(stripe, total - pos));
  }
  return crc;
}

/**
 * Run one share of an EIF's measurement (one per Web Worker; a File crosses `postMessage` without being read).
 * With `relay` (./relay.ts: a sender or receiver over the same file as `input`), the share reads through it — one
 * worker reads the file and hands its pieces to the others — and finishes it when done or failed; the result is the
 * same as without. `onProgress` gets the section bytes this share has read, and how many of the measured sections' bytes it will read
 * in all (the metadata and signature sections, read whole, are not counted). Throws EifError for a malformed image, as
 * inspectEifBytes does.
 *
 * @example
 * // worker.ts — the page posts { file, share } and gets the part back
 * import { measureEifPart } from 'eifkit/browser';
 * onmessage = async (e) => postMessage(await measureEifPart(e.data.file, e.data.share)); // share: { pcr0: true }
 */
export async function measureEifPart(
  input: Uint8Array | Blob | ByteSource,
  share: EifMeasureShare,
  opts: { onProgress?: (bytesRead: number, plannedBytes: number) => void; chunkSize?: number; relay?: RelayEnd } = {},
): Promise<EifMeasurePart> {
  const relay = opts.relay;
  try {
    const part = await measureShare(relay ?? toSource(input), share, opts);
    relay?.finish();
    // of the read wait, the time spent waiting for the other end of the relay
    if (relay && part.timing) part.timing.relayWaitMs = relay.stats.waitMs;
    return part;
  } catch (e) {
    relay?.finish(e);
    throw e;
  }
}

async function measureShare(
  src: ByteSource,
  share: EifMeasureShare,
  opts: { onProgress?: (bytesRead: number, plannedBytes: number) => void; chunkSize?: number },
): Promise<EifMeasurePart> {
  await initCore();
  const started = now();
  const layout = await readLayout(src);
  const sections = layoutSections(layout, src);
  const mask = (share.pcr0 ? ROLE_A : 0) | (share.pcr2 ? ROLE_B : 0);
  const roles = sectionRoles(sections.map((s) => s.type));
  const plan = crcPlan(layout, share.crc);
  let pos = 0; // where each section's data lies in the CRC's bytes
  let planned = 0;
  for (const [i, s] of sections.entries()) {
    pos += SECTION_HEADER_SIZE;
    if (isMeasured(s.type) && (roles[i]! & mask || touches(plan, pos, pos + s.size))) planned += s.size;
    pos += s.size;
  }
  const progress = opts.onProgress && ((read: number) => opts.onProgress!(read, planned));
  const whole = share.crc === true;
  const initial = whole ? crc32(layout.headerBytes.subarray(0, CRC_OFFSET)) : 0;
  const sink = new ShareSink(share, initial, opts.chunkSize ?? PART_CHUNK_SIZE, progress, plan);
  const kept = await walkSections(sections, sink);
  return {
    ...sink.finish(),
    crc: whole ? sink.crcValue >>> 0 : undefined,
    crcSlice: share.crc && !whole && plan.stripe === 0 ? { offset: plan.lo, length: plan.hi - plan.lo, crc: sink.crcValue >>> 0 } : undefined,
    crcStripes: plan.stripe > 0 ? { stripe: plan.stripe, index: plan.index, count: plan.count, crcs: Array.from(sink.stripeCrcs, (c) => (c === undefined ? NaN : c >>> 0)) } : undefined,
    metadata: kept.metadata,
    signature: kept.signature,
    bytesRead: sink.bytesRead,
    timing: { readMs: sink.readMs, shaMs: sink.shaMs, crcMs: sink.crcMs, totalMs: now() - started },
  };
}

/**
 * Combine the parts of {@link measureEifPart} (stream A, stream B and the CRC, in any split over any number of
 * parts) into the inspection {@link inspectEifBytes} gives for the same image: PCRs, CRC check, signature verdict,
 * metadata, describe JSON. Re-reads only the header and section table. Throws like inspectEifBytes.
 *
 * @example
 * import { inspectEifParts } from 'eifkit/browser';
 * const parts = await Promise.all([{ pcr0: true }, { pcr2: true, crc: true }].map((share) => runInWorker(file, share)));
 * const { measurements, describe } = await inspectEifParts(file, parts);
 */
export async function inspectEifParts(input: Uint8Array | Blob | ByteSource, parts: readonly EifMeasurePart[]): Promise<EifInspection> {
  await initCore();
  const layout = await readLayout(toSource(input));
  const pick = <K extends keyof EifMeasurePart>(k: K): EifMeasurePart[K] | undefined => parts.find((p) => p[k] !== undefined)?.[k];
  const a = pick('a');
  const fork = pick('fork');
  const b = pick('b');
  const crc = combinedCrc(layout, parts);
  if (!a || !fork || !b || crc === undefined) {
    throw new EifError('EIF_PARTS_INCOMPLETE', 'the parts do not cover stream A (PCR0/PCR1), stream B (PCR2) and the CRC');
  }
  return finishInspection(layout, {
    measurements: measurementsFromInner(a, fork, b),
    computedCrc: crc,
    checkCrc: crc === layout.header.crc32,
    metadata: pick('metadata'),
    signature: pick('signature'),
  });
}

/** The inputs of an image not built yet: what `eif build` would put in its sections (eif-format.md §3.2). */
export interface ImageInputs {
  /** Kernel and command line: without them only PCR2 can be known. */
  kernel?: ByteSource;
  cmdline?: Uint8Array;
  /** Bootstrap ramdisk first (PCR1), then the others (PCR2), as `eif build --ramdisk` takes them. */
  ramdisks: readonly ByteSource[];
}

/**
 * The PCRs an image built from these inputs would have, without building it: the inputs are walked as the image's
 * sections (../eif/walk.ts, roles of ../eif/roles.ts), streaming. With a kernel and command line: PCR0, PCR1 and
 * PCR2; without: PCR2 only (it covers the ramdisks after the first, so a container image's customer ramdisk
 * alone gives it — the first ramdisk may then be empty). `onProgress` gets the bytes read so far.
 *
 * @example
 * import { measureImageInputs, bytesSource } from 'eifkit/browser';
 * const { PCR2 } = await measureImageInputs({ ramdisks: [bytesSource(new Uint8Array(0)), customerRamdisk] });
 */
export async function measureImageInputs(
  inputs: ImageInputs,
  opts: { onProgress?: (bytesRead: number) => void; chunkSize?: number } = {},
): Promise<{ PCR0?: string; PCR1?: string; PCR2: string }> {
  await initCore();
  if (inputs.ramdisks.length === 0) throw new EifError('NO_RAMDISK', 'at least one ramdisk is required');
  const full = inputs.kernel !== undefined && inputs.cmdline !== undefined;
  const empty = bytesSource(new Uint8Array(0));
  const sections: SectionInput[] = [
    { type: SectionType.Kernel, size: inputs.kernel?.size ?? 0, data: { source: inputs.kernel ?? empty, offset: 0 }, what: 'kernel' },
    { type: SectionType.Cmdline, size: inputs.cmdline?.length ?? 0, data: inputs.cmdline ?? new Uint8Array(0), what: 'cmdline' },
    ...inputs.ramdisks.map((r, i) => ({ type: SectionType.Ramdisk, size: r.size, data: { source: r, offset: 0 }, what: `ramdisk ${i}` })),
  ];
  const sink = new ShareSink({ pcr0: full, pcr2: true }, 0, opts.chunkSize ?? PART_CHUNK_SIZE, opts.onProgress);
  await walkSections(sections, sink);
  const r = sink.finish();
  const m = measurementsFromInner(r.a ?? r.b!, r.fork ?? r.b!, r.b!);
  return full ? { PCR0: m.PCR0, PCR1: m.PCR1, PCR2: m.PCR2 } : { PCR2: m.PCR2 };
}
