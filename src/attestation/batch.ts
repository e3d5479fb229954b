/**
 * Verifying many attestation documents with one policy (a service checking the documents of its enclaves):
 * `verifyAttestations(docs, options)` gives exactly what `verifyAttestation(doc, options)` gives for each
 * document, in the order of `docs`. The options, trust anchors and policy are checked once (an EIF given as bytes
 * is measured once). Several documents are in flight at a time, so the ECDSA checks, which WebCrypto runs on
 * worker threads, keep every core busy while this thread parses the next documents. One bad document only
 * yields its own `{ ok: false, errors }`. Browser-safe; for more cores than one thread can feed, see
 * `createAttestationVerifierPool` (src/node/attestation-pool.ts).
 */
import { AttestationFailure } from './errors.js';
import { preparedVerifier, type AttestationResult, type VerifyOptions } from './verify.js';

/** Documents in flight by default: enough to keep a few cores' WebCrypto threads busy. */
export const DEFAULT_BATCH_CONCURRENCY = 16;

export interface VerifyManyOptions extends VerifyOptions {
  /** Documents verified at the same time (1..1024, default 16). */
  readonly concurrency?: number;
}

/**
 * Verify every document of `docs` (bytes, or base64 / hex text) against the same options and policy. Resolves
 * to one result per document, in order; never rejects because of a document's content. Rejects (ATT_INPUT,
 * ATT_OPTIONS_INVALID) only when `docs` is not an array or iterable, or `concurrency` is not 1..1024.
 *
 * @example
 * ```ts
 * import { verifyAttestations } from 'eifkit';
 * const results = await verifyAttestations(documents, { eif: measurements, maxAgeMs: 5 * 60_000 });
 * results.forEach((r, i) => { if (!r.ok) console.log(i, r.errors[0].code); });
 * ```
 */
export async function verifyAttestations(
  docs: Iterable<Uint8Array | string>,
  options: VerifyManyOptions = {},
): Promise<AttestationResult[]> {
  if (docs === null || typeof docs !== 'object' || typeof (docs as Iterable<unknown>)[Symbol.iterator] !== 'function') {
    throw new AttestationFailure('ATT_INPUT', 'docs must be an array (or iterable) of documents');
  }
  const concurrency = options?.concurrency ?? DEFAULT_BATCH_CONCURRENCY;
  if (!(Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= 1024)) {
    throw new AttestationFailure('ATT_OPTIONS_INVALID', 'concurrency must be an integer in 1..1024');
  }
  const list = Array.isArray(docs) ? (docs as readonly (Uint8Array | string)[]) : Array.from(docs);
  // With documents in flight together, every check stays on WebCrypto's threads (a synchronous verify would hold
  // this thread and run them one after another); with concurrency 1 the warm path may verify synchronously.
  return verifyAll(list, preparedVerifier(options, concurrency === 1), concurrency);
}

/**
 * Run `verify` over `list` with at most `concurrency` documents in flight; results in order. The first document
 * goes alone: when the caches are cold (a new enclave), the others then find its chain and leaf verified instead
 * of all checking the same certificates at once.
 */
export async function verifyAll(
  list: readonly (Uint8Array | string)[],
  verify: (doc: Uint8Array | string) => Promise<AttestationResult>,
  concurrency: number,
): Promise<AttestationResult[]> {
  const results: AttestationResult[] = new Array(list.length);
  if (list.length === 0) return results;
  results[0] = await verify(list[0]!);
  let next = 1;
  const lane = async (): Promise<void> => {
    while (next < list.length) {
      const i = next++;
      results[i] = await verify(list[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, list.length - 1) }, lane));
  return results;
}
