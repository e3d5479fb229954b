/**
 * The one-pass pipeline behind `eif build`, `describe` and `verify` (Node): every byte is read once, CRC'd,
 * optionally written to the output, and handed to the PCR streams by its role bits (src/eif/roles.ts). It is the
 * Node sink of the section walk (src/eif/walk.ts): the walker hands it whole file ranges, read here into the ring.
 *
 * Large images: the two SHA-384 streams run in two worker threads, each with its own WASM instance, fed through a
 * ring of 1 MiB slots inside the shared WASM memory both instances import (src/core/shared.ts), so a chunk is read
 * once and hashed in place by both (Atomics, no per-chunk messages). The main thread reads, CRCs and
 * writes. Small images (below `PARALLEL_THRESHOLD`) are hashed on the main thread: a worker costs ~60 ms to start.
 * Memory stays constant: the ring, one 1 MiB read buffer per thread, nothing proportional to the image.
 */
import type { Worker } from 'node:worker_threads';
import { createRequire } from 'node:module';
import { readSync, writeSync } from 'node:fs';
import * as zlib from 'node:zlib';
import { EifError } from '../errors.js';
import { coreInstance, crc32 as wasmCrc32, crc32FromIo } from '../core/index.js';
import { type InnerDigests, PcrStreams, ROLE_FORK, pieceRoles } from '../eif/roles.js';
import type { ByteSource } from '../eif/layout.js';
import type { SectionSink } from '../eif/walk.js';
import { CONSUMED_A, CONSUMED_B, FAILED, META, PUBLISHED, WANT_A, WANT_B } from './hash-ring.js';
import { SHARED_RING_BASE, sharedMemoryPages } from '../core/shared.js';
import { PARALLEL_THRESHOLD, takeHashWorkers } from './hash-workers.js';

export { PARALLEL_THRESHOLD };

/**
 * CRC-32 for the pipeline's main thread, whose CPU is on the critical path of a two-core build. In order of
 * preference: @node-rs/crc32 (optional dependency; PCLMUL, ~2x zlib here), zlib.crc32 (Node >= 20.15; ~2x the WASM
 * table code), the WASM core's. All compute the same function (tests compare them). EIF_CRC=node-rs|zlib|wasm
 * picks one; a choice that is not available falls back down the list.
 */
type Crc32 = (data: Uint8Array, previous: number) => number;
const require = createRequire(import.meta.url);

function nodeRsCrc32(): Crc32 | undefined {
  try {
    const m = require('@node-rs/crc32') as { crc32(d: Uint8Array, initial?: number): number };
    return (d, p) => m.crc32(d, p);
  } catch {
    return undefined; // not installed (optional dependency) or no prebuilt binary for this platform
  }
}

function zlibCrc32(): Crc32 | undefined {
  const f = (zlib as unknown as { crc32?: (d: Uint8Array, v?: number) => number }).crc32;
  return f ? (d, p) => f(d, p) : undefined;
}

export function pickCrc32(choice: string | undefined): { name: string; fn: Crc32 } {
  const order = ['node-rs', 'zlib', 'wasm'];
  const start = choice && order.includes(choice) ? order.indexOf(choice) : 0;
  for (const name of order.slice(start)) {
    const fn = name === 'node-rs' ? nodeRsCrc32() : name === 'zlib' ? zlibCrc32() : (d: Uint8Array, p: number) => wasmCrc32(d, p);
    if (fn) return { name, fn };
  }
  throw new EifError('INTERNAL', 'no CRC-32 implementation');
}

const picked = pickCrc32(process.env.EIF_CRC);
/** Which CRC-32 the pipeline's main thread uses: 'node-rs', 'zlib' or 'wasm'. */
export const PIPELINE_CRC32: string = picked.name;
export const pipelineCrc32: Crc32 = picked.fn;
const crc32 = pipelineCrc32;

export const SLOT_SIZE = 1 << 20;
export const SLOTS = 8;

const CTRL_WORDS = META + 2 * SLOTS;
const STALL_MS = 60_000;
/** Chunks between two yields to the event loop. */
const YIELD_EVERY = 16;

export type { InnerDigests };

export interface PipelineOptions {
  /** CRC of what came before (e.g. header[0:544] for a reader; 0 for the builder's body). */
  initialCrc?: number;
  /** Write everything pushed to this fd, starting at `outPosition`. */
  outFd?: number;
  outPosition?: number;
  /** Use two worker threads for the SHA-384 streams. */
  parallel: boolean;
  onProgress?: (bytes: number) => void;
}

/**
 * Read exactly `length` bytes at `position` into `target`; a short read means the input changed under us. An
 * operating-system error becomes `IO_<ERRNO>` naming what was read (`what` names the file: docs/errors.md).
 */
function readFully(fd: number, target: Uint8Array, length: number, position: number, what: string): void {
  let done = 0;
  while (done < length) {
    let n: number;
    try {
      n = readSync(fd, target, done, length - done, position + done);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (typeof code !== 'string' || !/^E[A-Z0-9]+$/.test(code)) throw e;
      throw new EifError(`IO_${code}`, `cannot read ${what} at byte ${position + done}: ${(e as Error).message}`, { cause: e });
    }
    if (n === 0) throw new EifError('INPUT_CHANGED', `${what} ended early (it changed while being read?)`);
    done += n;
  }
}

export class HashPipeline implements SectionSink {
  #crc: number;
  #outPos: number;
  readonly #outFd: number | undefined;
  readonly #onProgress: ((bytes: number) => void) | undefined;
  #progress = 0;
  #hashing = true;
  // inline mode
  readonly #acc: PcrStreams | undefined;
  // parallel mode
  readonly #workers: Worker[] = [];
  readonly #results: Promise<Partial<InnerDigests>>[] = [];
  readonly #ctrl: Int32Array | undefined;
  readonly #ring: Uint8Array | undefined;
  #seq = 0;

  constructor(o: PipelineOptions) {
    this.#crc = o.initialCrc ?? 0;
    this.#outFd = o.outFd;
    this.#outPos = o.outPosition ?? 0;
    this.#onProgress = o.onProgress;
    if (!o.parallel) {
      this.#acc = new PcrStreams();
      return;
    }
    const ctrlSab = new SharedArrayBuffer(CTRL_WORDS * 4);
    // The ring lives in the WASM memory both workers' instances import (src/core/shared.ts): no copies.
    const pages = sharedMemoryPages(SLOTS * SLOT_SIZE);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    this.#ctrl = new Int32Array(ctrlSab);
    this.#ring = new Uint8Array(memory.buffer, SHARED_RING_BASE, SLOTS * SLOT_SIZE);
    const workers = takeHashWorkers();
    for (const [i, role] of (['A', 'B'] as const).entries()) {
      const w = workers[i]!;
      w.postMessage({ ctrlSab, memory, ringBase: SHARED_RING_BASE, slots: SLOTS, slotSize: SLOT_SIZE });
      this.#workers.push(w);
      this.#results.push(
        new Promise((resolve, reject) => {
          w.once('message', (m: { ok: boolean; error?: string } & Partial<InnerDigests>) =>
            m.ok ? resolve(m) : reject(new EifError('HASH_WORKER_FAILED', `hash worker ${role} failed: ${m.error}`)),
          );
          w.once('error', (e) => reject(new EifError('HASH_WORKER_FAILED', `hash worker ${role} failed: ${e.message}`)));
          w.once('exit', (code) => reject(new EifError('HASH_WORKER_FAILED', `hash worker ${role} exited (${code}) before finishing`)));
        }),
      );
    }
    // Do not leave unhandled rejections if the caller aborts early.
    for (const p of this.#results) p.catch(() => undefined);
  }

  /** The running CRC of everything pushed so far (starting from `initialCrc`). */
  get crc(): number {
    return this.#crc >>> 0;
  }

  #emitted(len: number): void {
    this.#progress += len;
    this.#onProgress?.(this.#progress);
  }

  #write(view: Uint8Array): void {
    if (this.#outFd === undefined) return;
    let done = 0;
    while (done < view.length) done += writeSync(this.#outFd, view, done, view.length - done, this.#outPos + done);
    this.#outPos += view.length;
  }

  /**
   * Wait until the ring slot for sequence `seq` is free (both workers past `seq - SLOTS`). When it is not, wait
   * until half the ring has drained, so the main thread sleeps and wakes once per SLOTS/2 slots (./hash-ring.ts).
   */
  #waitForSlot(seq: number): void {
    const ctrl = this.#ctrl!;
    for (const [idx, want] of [[CONSUMED_A, WANT_A], [CONSUMED_B, WANT_B]] as const) {
      if (Atomics.load(ctrl, idx) > seq - SLOTS) continue;
      const target = seq - SLOTS + SLOTS / 2;
      Atomics.store(ctrl, want, target);
      const started = Date.now();
      for (;;) {
        const c = Atomics.load(ctrl, idx);
        if (c >= target) break;
        if (Atomics.load(ctrl, FAILED) !== 0) throw new EifError('HASH_WORKER_FAILED', 'a hash worker failed');
        Atomics.wait(ctrl, idx, c, 1000);
        if (Date.now() - started > STALL_MS) throw new EifError('HASH_WORKER_STALLED', 'hash workers made no progress for 60 s');
      }
    }
  }

  /** Publish `len` bytes already in slot `seq % SLOTS` with `roles` (or the end marker, len = -1). */
  #publish(len: number, roles: number): void {
    const ctrl = this.#ctrl!;
    const slot = this.#seq % SLOTS;
    ctrl[META + 2 * slot] = len;
    ctrl[META + 2 * slot + 1] = roles;
    this.#seq++;
    Atomics.store(ctrl, PUBLISHED, this.#seq);
    Atomics.notify(ctrl, PUBLISHED);
  }

  #slotView(len: number): Uint8Array {
    this.#waitForSlot(this.#seq);
    const start = (this.#seq % SLOTS) * SLOT_SIZE;
    return this.#ring!.subarray(start, start + len);
  }

  #checkRoles(roles: number): void {
    if (roles !== 0 && !this.#hashing) throw new EifError('INTERNAL', 'measured data pushed after hashing finished');
  }

  /** Push bytes held in memory (section headers, cmdline, metadata, signature). */
  push(bytes: Uint8Array, roles: number): void {
    this.#checkRoles(roles);
    if (roles === 0 || this.#acc) {
      this.#crc = crc32(bytes, this.#crc);
      this.#write(bytes);
      if (roles !== 0) this.#acc!.feed(bytes, roles);
      this.#emitted(bytes.length);
      return;
    }
    if (bytes.length === 0 && roles & ROLE_FORK) {
      this.#slotView(0);
      this.#publish(0, roles);
      return;
    }
    for (let off = 0; off < bytes.length; off += SLOT_SIZE) {
      const len = Math.min(SLOT_SIZE, bytes.length - off);
      const piece = bytes.subarray(off, off + len);
      const view = this.#slotView(len);
      view.set(piece);
      this.#crc = crc32(view, this.#crc);
      this.#write(view);
      this.#publish(len, pieceRoles(roles, off + len === bytes.length));
      this.#emitted(len);
    }
  }

  /**
   * {@link SectionSink.pushRange}: a file (`fileSource`, ./file-source.ts) is read straight into the ring; any other
   * ByteSource (a ramdisk generated while it is written, src/oci/types.ts `RamdiskSource`) is read in order, one
   * slot at a time, and copied in.
   */
  async pushRange(source: ByteSource, offset: number, size: number, roles: number, what: string): Promise<void> {
    const fd = (source as { fd?: number }).fd;
    if (fd !== undefined) await this.pushFile(fd, offset, size, roles, what);
    else await this.pushSource(source, offset, size, roles, what);
  }

  /**
   * Stream `length` bytes of a ByteSource from `position`, in order, in slot-sized reads (a generated source is
   * asked for each byte once, front to back). A read that returns fewer bytes than asked is INPUT_CHANGED.
   */
  async pushSource(source: ByteSource, position: number, length: number, roles: number, what: string): Promise<void> {
    this.#checkRoles(roles);
    if (length === 0) {
      this.push(new Uint8Array(0), roles);
      return;
    }
    for (let off = 0; off < length; off += SLOT_SIZE) {
      const len = Math.min(SLOT_SIZE, length - off);
      const r = pieceRoles(roles, off + len === length);
      const piece = await source.read(position + off, len);
      if (piece.length !== len) {
        throw new EifError('INPUT_CHANGED', `${what} gave ${piece.length} bytes at ${position + off} where ${len} were expected`);
      }
      if (this.#acc || roles === 0) {
        this.#crc = crc32(piece, this.#crc);
        if (r !== 0) this.#acc!.feed(piece, r);
        this.#write(piece);
      } else {
        const view = this.#slotView(len);
        view.set(piece);
        this.#crc = crc32(view, this.#crc);
        this.#write(view);
        this.#publish(len, r);
      }
      this.#emitted(len);
      if ((off / SLOT_SIZE) % YIELD_EVERY === YIELD_EVERY - 1) await new Promise((r) => setImmediate(r));
    }
  }

  /**
   * Stream `length` bytes of a file from `position`. The FORK role applies after the last byte. Yields to the
   * event loop every few MiB so that Ctrl-C (and the temp-file cleanup) is handled at once.
   */
  async pushFile(fd: number, position: number, length: number, roles: number, what: string): Promise<void> {
    this.#checkRoles(roles);
    if (length === 0) {
      this.push(new Uint8Array(0), roles);
      return;
    }
    for (let off = 0; off < length; off += SLOT_SIZE) {
      const len = Math.min(SLOT_SIZE, length - off);
      const r = pieceRoles(roles, off + len === length);
      if (this.#acc || roles === 0) {
        // Read straight into the WASM I/O region: CRC and hash without a copy.
        const c = coreInstance();
        const io = c.io().subarray(0, len);
        readFully(fd, io, len, position + off, what);
        this.#crc = crc32FromIo(len, this.#crc);
        if (r !== 0) this.#acc!.feedFromIo(len, r);
        this.#write(c.io().subarray(0, len));
      } else {
        const view = this.#slotView(len);
        readFully(fd, view, len, position + off, what);
        this.#crc = crc32(view, this.#crc);
        this.#write(view);
        this.#publish(len, r);
      }
      this.#emitted(len);
      if ((off / SLOT_SIZE) % YIELD_EVERY === YIELD_EVERY - 1) await new Promise((r) => setImmediate(r));
    }
  }

  /** End the measured stream and collect the inner digests. Later pushes may still add CRC'd, unmeasured bytes. */
  async finishHashing(): Promise<InnerDigests> {
    this.#hashing = false;
    if (this.#acc) {
      const r = this.#acc.finish();
      return { a: r.a!, fork: r.fork!, b: r.b! };
    }
    this.#slotView(0);
    this.#publish(-1, 0);
    try {
      const [ra, rb] = await Promise.all(this.#results);
      return { a: ra!.a!, fork: ra!.fork!, b: rb!.b! };
    } finally {
      this.close();
    }
  }

  /** Stop the workers (idempotent). */
  close(): void {
    for (const w of this.#workers) {
      w.removeAllListeners('exit');
      void w.terminate();
    }
    this.#workers.length = 0;
  }

}
