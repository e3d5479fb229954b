/**
 * A thread of the attestation verifier pool (./attestation-pool.ts). It verifies with the browser-safe verifier
 * (src/attestation), against the pool's options checked once at start, and keeps its own certificate caches, so
 * each thread verifies a known enclave's documents warm. Messages: `{ id, docs, options? }` → `{ id, results }`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { verifyAll } from '../attestation/batch.js';
import { preparedVerifier, type AttestationResult, type VerifyOptions } from '../attestation/verify.js';
import { installNodeP384Verifier } from './p384-verify.js';

/** A request: documents to verify, with options that replace the pool's for this request only. */
export interface PoolRequest {
  readonly id: number;
  readonly docs: readonly (Uint8Array | string)[];
  readonly options?: VerifyOptions;
}

export interface PoolResponse {
  readonly id: number;
  readonly results: readonly AttestationResult[];
}

// This thread is one core's worth of verification: a warm document's check runs here, synchronously, rather than
// being handed to libuv's threads (shared by the whole process: 4 unless UV_THREADPOOL_SIZE says more).
installNodeP384Verifier();
const { options, concurrency } = workerData as { options: VerifyOptions; concurrency: number };
const verify = preparedVerifier(options);

function handle(req: PoolRequest): Promise<AttestationResult[]> {
  if (req.options) return verifyAll(req.docs, preparedVerifier(req.options), concurrency);
  return verifyAll(req.docs, verify, concurrency);
}

parentPort!.on('message', (req: PoolRequest) => {
  handle(req).then(
    (results) => parentPort!.postMessage({ id: req.id, results } satisfies PoolResponse),
    (e: unknown) => {
      const message = `verifier thread: ${e instanceof Error ? e.message : String(e)}`;
      const code = (e as { code?: string } | null)?.code === 'ATT_OPTIONS_INVALID' ? 'ATT_OPTIONS_INVALID' : 'ATT_INTERNAL';
      const results = req.docs.map(() => ({ ok: false, errors: [{ code, message }], document: null }));
      parentPort!.postMessage({ id: req.id, results });
    },
  );
});
