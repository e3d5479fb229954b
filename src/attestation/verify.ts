/**
 * The attestation verifier's entry points (attestation.md §2.2):
 *  - {@link inspectAttestation}: authenticity only — envelope and payload rules, the chain to a pinned root at
 *    time T, and the COSE signature over the received bytes;
 *  - {@link verifyAttestation}: the same plus a fail-closed policy (./policy.ts).
 * Both resolve to `{ ok, errors, document }` and never throw or reject on bad input: every problem becomes an
 * `{code, message}` item with a stable code (./errors.ts). `document` is the decoded payload whenever it could
 * be decoded — also when `ok` is false, so callers must check `ok` before trusting it. Browser-safe: bytes in,
 * clock and trust anchors injectable, ECDSA through WebCrypto.
 */
import { measureEifBytes } from '../inspect/eif.js';
import { ES384 } from '../pki/algorithms.js';
import { cryptoProvider, ecdsaSignatureShapeProblem, ecdsaVerify } from '../pki/ecdsa.js';
import { beginChain, type TrustAnchor } from './chain.js';
import { prepareLeaf } from './leaf-cache.js';
import { syncP384Verifier, type SyncP384Verifier } from './sync-verify.js';
import { decodeAttestationDocument, PROTECTED_ES384, type AttestationDocument } from './document.js';
import { issue, toIssue, type AttestationIssue } from './errors.js';
import { awsNitroAnchors, decodeAttestationInput, parseTrustAnchors } from './input.js';
import { checkPolicy, normalizePolicy, type AttestationPolicy, type EifMeasurer, type NormalizedPolicy } from './policy.js';

export interface InspectOptions {
  /**
   * Verification time: a Date or ms since the epoch. Default: now. `inspectAttestation` also takes `'document'`:
   * the document's own timestamp, read from the one decoding the check does (a caller need not decode it first).
   */
  readonly at?: Date | number | 'document';
  /** Trust anchors (PEM text or DER bytes) replacing the embedded AWS Nitro root. */
  readonly roots?: readonly (Uint8Array | string)[];
  /** Limit for public_key / user_data / nonce in bytes (default 1024). */
  readonly maxOptionalFieldBytes?: number;
  /** Use the caches of verified intermediate and leaf certificates (default true). */
  readonly cache?: boolean;
}

export interface VerifyOptions extends InspectOptions, AttestationPolicy {
  /** How to measure `eif` when it is given as bytes (default: measureEifBytes of src/inspect/eif.ts). */
  readonly measureEif?: EifMeasurer;
}

export interface AttestationResult {
  /** True only when there are no errors. */
  readonly ok: boolean;
  readonly errors: readonly AttestationIssue[];
  /** The decoded document (also when `ok` is false, if it could be decoded), else null. */
  readonly document: AttestationDocument | null;
}

/** EIF bytes → PCR0/1/2 (+PCR8 when signed), through the browser-safe EIF reader (src/inspect/eif.ts). */
const defaultMeasurer: EifMeasurer = (eif) => measureEifBytes(eif);

function verificationTime(at: Date | number | undefined): number {
  const t = at === undefined ? Date.now() : at instanceof Date ? at.getTime() : at;
  if (typeof t !== 'number' || !Number.isFinite(t)) throw new TypeError('at must be a valid Date or a number of ms');
  return t;
}

interface Prepared {
  /** 'document': the decoded document's timestamp (inspectAttestation only). */
  at: number | 'document';
  anchors: readonly TrustAnchor[];
}

/** A policy (maxAgeMs, future timestamps) needs a time that is not the document's own: only inspection takes 'document'. */
function prepare(options: InspectOptions, documentTimeAllowed = false): Prepared | AttestationIssue {
  if (options === null || typeof options !== 'object') return issue('ATT_OPTIONS_INVALID', 'options must be an object');
  let at: number | 'document';
  try {
    if (options.at === 'document' && !documentTimeAllowed) throw new TypeError("at: 'document' is for inspectAttestation only (a policy's freshness needs another time)");
    at = options.at === 'document' ? 'document' : verificationTime(options.at);
  } catch (e) {
    return issue('ATT_OPTIONS_INVALID', (e as Error).message);
  }

  const lim = options.maxOptionalFieldBytes;
  if (lim !== undefined && !(Number.isInteger(lim) && lim >= 0)) {
    return issue('ATT_OPTIONS_INVALID', 'maxOptionalFieldBytes must be a non-negative integer');
  }
  try {
    return { at, anchors: options.roots === undefined ? awsNitroAnchors() : parseTrustAnchors(options.roots) };
  } catch (e) {
    return toIssue(e, 'ATT_ROOTS_INVALID');
  }
}

/**
 * Authenticity: decode, chain, signature. Appends issues to `errors`; returns the document if decodable.
 * `allowSync`: a warm document's COSE check may use the registered synchronous verifier (./sync-verify.ts).
 */
async function authenticate(
  input: Uint8Array | string,
  options: InspectOptions,
  p: Prepared,
  errors: AttestationIssue[],
  allowSync = true,
): Promise<AttestationDocument | null> {
  let doc: AttestationDocument;
  try {
    const bytes = typeof input === 'string' ? decodeAttestationInput(input).bytes : input;
    doc = decodeAttestationDocument(bytes, { maxOptionalFieldBytes: options.maxOptionalFieldBytes });
  } catch (e) {
    errors.push(toIssue(e));
    return null;
  }
  // Order matters for speed: WebCrypto checks run on worker threads, but starting one costs the main thread ~0.1 ms.
  // A leaf seen before (./leaf-cache.ts) comes parsed with its key imported, and its own signature check is
  // skipped when its issuer's key already verified it: the COSE check is the only one left. It runs synchronously
  // when a synchronous verifier is registered (Node), else it starts on WebCrypto at once. Otherwise: parse the
  // leaf; start the certificate checks (the leaf's own, against a cached issuer key, starts at once); import the
  // leaf key and start the COSE check. Only then run the structural pass, overlapping with the ECDSA checks.
  const leaf = prepareLeaf(doc.certificate, options.cache !== false);
  const coseWith = (key: CryptoKey): Promise<boolean> =>
    ecdsaVerify(key, ES384, doc.signature, sigStructureEs384(doc.payload)).catch(() => false);
  // Only with the platform's own WebCrypto: a provider set through setCryptoProvider (src/pki/ecdsa.ts) is used as is.
  const sync = leaf.keyObject && allowSync && cryptoProvider() === globalThis.crypto?.subtle ? syncP384Verifier() : undefined;
  let cose: Promise<boolean | undefined> | undefined = leaf.keyObject && !sync ? coseWith(leaf.keyObject) : undefined;
  const started = beginChain(doc.cabundle, leaf, p.anchors, options.cache !== false);
  if (sync) {
    const ok = coseSync(sync, leaf.keyObject!, doc);
    cose = ok === undefined ? coseWith(leaf.keyObject!) : Promise.resolve(ok); // the verifier threw: WebCrypto decides
  } else if (!cose && leaf.key) {
    cose = leaf.key.then(coseWith, () => undefined);
    await leaf.key.catch(() => undefined); // lets the COSE check start now
  }
  cose ??= Promise.resolve(undefined);
  const chain = started.finish(p.at === 'document' ? doc.timestamp : p.at);
  doc.chain.push(...chain.certificates);
  errors.push(...chain.issues);
  const [linkIssues, signatureOk] = await Promise.all([chain.signatures, cose]);
  errors.push(...linkIssues);
  if (signatureOk === false) {
    errors.push(issue('ATT_SIGNATURE_INVALID', 'the COSE signature does not verify with the leaf certificate key'));
  } else if (signatureOk === undefined && leaf.key && chain.issues.length === 0) {
    errors.push(issue('ATT_CERT_MALFORMED', 'certificate (leaf): the public key is not a valid P-384 point'));
  }
  return doc;
}

/**
 * The COSE check with a synchronous verifier: false for a bad signature, undefined when the verifier itself threw
 * (e.g. a key it cannot use), so that the caller falls back to WebCrypto rather than report a false mismatch.
 */
function coseSync(verify: SyncP384Verifier, key: CryptoKey, doc: AttestationDocument): boolean | undefined {
  if (ecdsaSignatureShapeProblem(doc.signature, ES384) !== undefined) return false;
  try {
    return verify(key, doc.signature, sigStructureEs384(doc.payload));
  } catch {
    return undefined;
  }
}

/** `"Signature1"` as a CBOR text string, then the protected header `a1 01 38 22` as a bstr, then `h''`. */
const SIG_STRUCTURE_PREFIX = Uint8Array.of(
  0x84, 0x6a, 0x53, 0x69, 0x67, 0x6e, 0x61, 0x74, 0x75, 0x72, 0x65, 0x31, 0x44, ...PROTECTED_ES384, 0x40,
);

/**
 * The COSE Sig_structure (RFC 9052 §4.4) for the only protected header accepted, no external AAD, and the
 * received payload: written directly (one allocation), as the verifier's hot path runs it for every document.
 * Equal to `sigStructure1(PROTECTED_ES384, payload)` of src/cose/sign1-encode.ts (tested).
 */
export function sigStructureEs384(payload: Uint8Array): Uint8Array {
  const n = payload.length; // 1..16384 (document.ts)
  const head = n < 24 ? 1 : n < 256 ? 2 : n < 65536 ? 3 : 5;
  const out = new Uint8Array(SIG_STRUCTURE_PREFIX.length + head + n);
  out.set(SIG_STRUCTURE_PREFIX);
  let o = SIG_STRUCTURE_PREFIX.length;
  if (head === 1) out[o++] = 0x40 | n;
  else if (head === 2) (out[o++] = 0x58), (out[o++] = n);
  else if (head === 3) (out[o++] = 0x59), (out[o++] = n >>> 8), (out[o++] = n & 0xff);
  else (out[o++] = 0x5a), (out[o++] = n >>> 24), (out[o++] = (n >>> 16) & 0xff), (out[o++] = (n >>> 8) & 0xff), (out[o++] = n & 0xff);
  out.set(payload, o);
  return out;
}

async function guarded(run: () => Promise<AttestationResult>): Promise<AttestationResult> {
  try {
    return await run();
  } catch (e) {
    return { ok: false, errors: [toIssue(e)], document: null };
  }
}

/**
 * Is this a genuine attestation document? Checks the envelope and payload rules, the certificate chain to the
 * pinned root at `options.at` (default now; `'document'`: the document's own timestamp) and the COSE signature. No policy (PCRs, nonce, freshness) — use
 * {@link verifyAttestation} to decide whether to trust the enclave.
 *
 * @example
 * import { inspectAttestation } from 'eifkit/browser';
 * const r = await inspectAttestation(doc); // bytes, base64 or hex
 * if (r.ok) console.log(r.document!.moduleId, r.document!.pcrs[0]);
 * else console.log(r.errors.map((e) => e.code));
 * // authentic when it was issued (NSM certificates live ~3 h): one decoding, at the document's own time
 * const then = await inspectAttestation(doc, { at: 'document' });
 */
export function inspectAttestation(doc: Uint8Array | string, options: InspectOptions = {}): Promise<AttestationResult> {
  return guarded(async () => {
    const p = prepare(options, true);
    if (!('at' in p)) return { ok: false, errors: [p], document: null };
    const errors: AttestationIssue[] = [];
    const document = await authenticate(doc, options, p, errors);
    return { ok: errors.length === 0, errors, document };
  });
}

/**
 * Authenticity (as {@link inspectAttestation}) plus the policy in `options`: expected PCRs (values or an EIF),
 * debug mode refused unless `allowDebug`, nonce / user data / public key as bytes, `maxAgeMs`, and no timestamp
 * in the future. A policy that checks nothing is refused with ATT_POLICY_EMPTY.
 *
 * @example
 * import { verifyAttestation, measureEifBytes } from 'eifkit/browser';
 * const r = await verifyAttestation(doc, { eif: await measureEifBytes(eifBytes), nonce, maxAgeMs: 5 * 60_000 });
 * if (!r.ok) throw new Error(r.errors.map((e) => `${e.code}: ${e.message}`).join('; '));
 */
export function verifyAttestation(doc: Uint8Array | string, options: VerifyOptions = {}): Promise<AttestationResult> {
  return guarded(async () => {
    const p = prepare(options);
    if (!('at' in p)) return { ok: false, errors: [p], document: null };
    return verifyWith(doc, options, p, () => policyOf(options));
  });
}

/** The policy of `options`, checked (an EIF given as bytes is measured); a bad one becomes an issue. */
interface PolicyOutcome {
  readonly policy: NormalizedPolicy | undefined;
  readonly errors: readonly AttestationIssue[];
}

function policyOf(options: VerifyOptions): Promise<PolicyOutcome> {
  return normalizePolicy(options, options.measureEif ?? defaultMeasurer).then(
    (policy) => ({ policy, errors: [] }),
    (e: unknown) => ({ policy: undefined, errors: [toIssue(e, 'ATT_POLICY_INVALID')] }),
  );
}

/**
 * Authenticity, then the policy. `authenticate` runs first: on a warm cache it starts the COSE check before its
 * first await, so the policy's own work (hex decoding, an EIF measured) overlaps with that check.
 */
async function verifyWith(
  doc: Uint8Array | string,
  options: VerifyOptions,
  p: Prepared,
  policy: () => Promise<PolicyOutcome>,
  allowSync = true,
): Promise<AttestationResult> {
  const errors: AttestationIssue[] = [];
  const auth = authenticate(doc, options, p, errors, allowSync);
  const [document, outcome] = await Promise.all([auth, policy()]);
  const all = [...outcome.errors, ...errors];
  if (document && outcome.policy) all.push(...checkPolicy(document, outcome.policy, p.at as number)); // prepare() refuses 'document' here
  return { ok: all.length === 0, errors: all, document };
}

/**
 * `verifyAttestation` for many documents with the same options (./batch.ts): the options, trust anchors and
 * policy are checked once (an EIF given as bytes is measured once), not per document. Returns the per-document
 * verifier; with no `at` in the options each document is verified at the time its own check starts.
 * `allowSync: false` keeps every ECDSA check on WebCrypto's threads (several documents in flight on one thread).
 */
export function preparedVerifier(
  options: VerifyOptions,
  allowSync = true,
): (doc: Uint8Array | string) => Promise<AttestationResult> {
  const refused = (bad: AttestationIssue) => (): Promise<AttestationResult> => Promise.resolve({ ok: false, errors: [bad], document: null });
  const first = prepare(options);
  if (!('at' in first)) return refused(first);
  const now = options.at === undefined;
  let policy: Promise<PolicyOutcome> | undefined;
  const policyOnce = (): Promise<PolicyOutcome> => (policy ??= policyOf(options));
  return (doc) => guarded(() => verifyWith(doc, options, now ? { at: Date.now(), anchors: first.anchors } : first, policyOnce, allowSync));
}
