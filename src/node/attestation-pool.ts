/**
 * A pool of verifier threads for services that check many attestation documents (issue 9): each thread
 * (./attestation-worker.ts) runs the browser-safe verifier with the pool's options, checked once, and its own
 * certificate caches. Requests go to the thread with the fewest documents outstanding; a batch is cut into
 * chunks spread over the threads and reassembled in order. Results are those of `verifyAttestation`, except that
 * a result's `document` holds copies of the bytes (they crossed a thread), not views into the caller's buffer.
 *
 * Threads are unref'ed while idle, so a forgotten pool never keeps the process alive; `close()` waits for the
 * work in flight and ends them. A thread that dies fails only its own requests (ATT_INTERNAL) and is replaced.
 * Each thread verifies a warm document's signature itself, synchronously on node:crypto (./p384-verify.ts), so
 * N threads use N cores; the checks of a new chain go to libuv's thread pool (WebCrypto), shared by the process
 * (4 threads unless UV_THREADPOOL_SIZE says more).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { AttestationFailure, type AttestationIssue } from '../attestation/errors.js';
import type { AttestationResult, VerifyOptions } from '../attestation/verify.js';
import type { PoolRequest, PoolResponse } from './attestation-worker.js';

export interface AttestationVerifierPoolOptions extends VerifyOptions {
  /** Verifier threads (1..64; default: the number of CPUs the process may use, at most 8). */
  readonly threads?: number;
  /** Documents in flight per thread (default 8). */
  readonly concurrency?: number;
}

export interface AttestationVerifierPool {
  /** Number of verifier threads. */
  readonly threads: number;
  /** Verify one document with the pool's options (or `options`, replacing them for this call). */
  verify(doc: Uint8Array | string, options?: VerifyOptions): Promise<AttestationResult>;
  /** Verify many documents; one result per document, in order. */
  verifyMany(docs: readonly (Uint8Array | string)[], options?: VerifyOptions): Promise<AttestationResult[]>;
  /** Finish the work in flight, then end the threads. Later calls reject with ATT_POOL_CLOSED. */
  close(): Promise<void>;
}

/** Documents per message of a batch: large enough that messaging costs little, small enough to balance. */
const CHUNK = 32;

function workerUrl(): URL {
  const here = import.meta.url;
  // Under the test runner this module runs from src/*.ts; workers need the compiled file.
  if (here.endsWith('.ts')) return new URL('../../dist/node/attestation-worker.js', here);
  return new URL('./attestation-worker.js', here);
}

/**
 * The parent's Node flags minus those a worker refuses or must not run again: `--input-type` (only valid with
 * code given on the command line) and that code itself (`-e`/`--eval`/`-p`/`--print` and its argument).
 */
function workerExecArgv(): string[] {
  const out: string[] = [];
  const argv = process.execArgv;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--input-type=')) continue;
    if (a === '--input-type' || a === '-e' || a === '--eval' || a === '-p' || a === '--print') {
      i++; // and its value
      continue;
    }
    out.push(a);
  }
  return out;
}

interface Pending {
  readonly size: number;
  readonly resolve: (results: readonly AttestationResult[]) => void;
}

interface Thread {
  readonly worker: Worker;
  readonly pending: Map<number, Pending>;
  load: number;
  dead: boolean;
}

function failed(size: number, issue: AttestationIssue): AttestationResult[] {
  return Array.from({ length: size }, () => ({ ok: false, errors: [issue], document: null }));
}

/**
 * Start a pool of verifier threads.
 *
 * @example
 * ```ts
 * import { createAttestationVerifierPool } from 'eifkit';
 * const pool = createAttestationVerifierPool({ threads: 2, eif: measurements, maxAgeMs: 5 * 60_000 });
 * const r = await pool.verify(docBytes);            // one document
 * const rs = await pool.verifyMany(documents);      // many, results in order
 * await pool.close();
 * ```
 */
export function createAttestationVerifierPool(options: AttestationVerifierPoolOptions = {}): AttestationVerifierPool {
  if (options === null || typeof options !== 'object') throw new AttestationFailure('ATT_OPTIONS_INVALID', 'options must be an object');
  const { threads: wanted, concurrency = 8, ...verifyOptions } = options;
  const threads = wanted ?? Math.min(8, availableParallelism());
  if (!(Number.isInteger(threads) && threads >= 1 && threads <= 64)) {
    throw new AttestationFailure('ATT_OPTIONS_INVALID', 'threads must be an integer in 1..64');
  }
  if (!(Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= 1024)) {
    throw new AttestationFailure('ATT_OPTIONS_INVALID', 'concurrency must be an integer in 1..1024');
  }
  if (verifyOptions.measureEif !== undefined) {
    throw new AttestationFailure('ATT_OPTIONS_INVALID', 'measureEif cannot cross to the verifier threads: pass the measurements as eif');
  }
  let nextId = 1;
  let closed = false;
  let inFlight = 0;
  let drained: (() => void) | undefined;

  const spawn = (): Thread => {
    const t: Thread = {
      worker: new Worker(workerUrl(), { workerData: { options: verifyOptions, concurrency }, execArgv: workerExecArgv() }),
      pending: new Map(),
      load: 0,
      dead: false,
    };
    t.worker.on('message', (m: PoolResponse) => {
      const p = t.pending.get(m.id);
      if (!p) return;
      t.pending.delete(m.id);
      settle(t, p, m.results);
    });
    const died = (why: string): void => {
      if (t.dead) return;
      t.dead = true;
      const lost = [...t.pending.values()];
      t.pending.clear();
      for (const p of lost) settle(t, p, failed(p.size, { code: 'ATT_INTERNAL', message: `verifier thread ${why}` }));
    };
    t.worker.on('error', (e) => died(`failed: ${e.message}`));
    t.worker.on('exit', (code) => died(`exited (code ${code})`));
    t.worker.unref(); // after the listeners: adding a 'message' listener refs the worker's port again
    return t;
  };

  const settle = (t: Thread, p: Pending, results: readonly AttestationResult[]): void => {
    t.load -= p.size;
    if (t.pending.size === 0 && !t.dead) t.worker.unref();
    inFlight--;
    p.resolve(results);
    if (inFlight === 0) drained?.();
  };

  const pool: Thread[] = Array.from({ length: threads }, spawn);

  const send = (docs: readonly (Uint8Array | string)[], opts: VerifyOptions | undefined): Promise<readonly AttestationResult[]> => {
    let i = pool.findIndex((t) => t.dead);
    while (i >= 0) {
      pool[i] = spawn(); // replace a thread that died
      i = pool.findIndex((t) => t.dead);
    }
    const t = pool.reduce((a, b) => (b.load < a.load ? b : a));
    const id = nextId++;
    return new Promise((resolve) => {
      t.pending.set(id, { size: docs.length, resolve });
      t.load += docs.length;
      inFlight++;
      if (t.pending.size === 1) t.worker.ref();
      const req: PoolRequest = opts === undefined ? { id, docs } : { id, docs, options: opts };
      try {
        t.worker.postMessage(req);
      } catch (e) {
        // e.g. options that cannot be cloned (a function): only this request fails
        t.pending.delete(id);
        settle(t, { size: docs.length, resolve }, failed(docs.length, {
          code: 'ATT_OPTIONS_INVALID',
          message: `cannot send to the verifier thread: ${e instanceof Error ? e.message : String(e)}`,
        }));
      }
    });
  };

  const refuseClosed = (): Promise<never> =>
    Promise.reject(new AttestationFailure('ATT_POOL_CLOSED', 'the attestation verifier pool is closed'));

  return {
    threads,
    async verify(doc, opts) {
      if (closed) return refuseClosed();
      return (await send([doc], opts))[0]!;
    },
    async verifyMany(docs, opts) {
      if (closed) return refuseClosed();
      if (!Array.isArray(docs)) throw new AttestationFailure('ATT_INPUT', 'docs must be an array of documents');
      const parts: Promise<readonly AttestationResult[]>[] = [];
      for (let i = 0; i < docs.length; i += CHUNK) parts.push(send(docs.slice(i, i + CHUNK), opts));
      return (await Promise.all(parts)).flat();
    },
    async close() {
      if (closed) return;
      closed = true;
      if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve));
      await Promise.all(pool.map((t) => t.worker.terminate()));
    },
  };
}
