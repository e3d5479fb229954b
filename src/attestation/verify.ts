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
import { ecdsaVerify } from '../pki/ecdsa.js';
import { sigStructure1 } from '../cose/sign1-encode.js';
import { beginChain, importLeafKey, parseLeaf, type TrustAnchor } from './chain.js';
import { decodeAttestationDocument, PROTECTED_ES384, type AttestationDocument } from './document.js';
import { issue, toIssue, type AttestationIssue } from './errors.js';
import { awsNitroAnchors, decodeAttestationInput, parseTrustAnchors } from './input.js';
import { checkPolicy, normalizePolicy, type AttestationPolicy, type EifMeasurer, type NormalizedPolicy } from './policy.js';

export interface InspectOptions {
  /** Verification time: a Date or ms since the epoch. Default: now. */
  readonly at?: Date | number;
  /** Trust anchors (PEM text or DER bytes) replacing the embedded AWS Nitro root. */
  readonly roots?: readonly (Uint8Array | string)[];
  /** Limit for public_key / user_data / nonce in bytes (default 1024). */
  readonly maxOptionalFieldBytes?: number;
  /** Use the cache of verified intermediate certificates (default true). */
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
  at: number;
  anchors: readonly TrustAnchor[];
}

function prepare(options: InspectOptions): Prepared | AttestationIssue {
  if (options === null || typeof options !== 'object') return issue('ATT_OPTIONS_INVALID', 'options must be an object');
  let at: number;
  try {
    at = verificationTime(options.at);
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

/** Authenticity: decode, chain, signature. Appends issues to `errors`; returns the document if decodable. */
async function authenticate(
  input: Uint8Array | string,
  options: InspectOptions,
  p: Prepared,
  errors: AttestationIssue[],
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
  // So: parse the leaf; start the certificate checks (the leaf's own, against a cached issuer key, starts at once);
  // import the leaf key and start the COSE check; only then run the structural pass, overlapping with both.
  const leaf = parseLeaf(doc.certificate);
  const started = beginChain(doc.cabundle, doc.certificate, leaf, p.anchors, options.cache !== false);
  const leafKey = importLeafKey(leaf);
  const cose = leafKey
    ? leafKey.then(
        (key) => ecdsaVerify(key, ES384, doc.signature, sigStructure1(PROTECTED_ES384, doc.payload)).catch(() => false),
        () => undefined,
      )
    : Promise.resolve(undefined);
  if (leafKey) await leafKey.catch(() => undefined); // lets the COSE check start now
  const chain = started.finish(p.at);
  doc.chain.push(...chain.certificates);
  errors.push(...chain.issues);
  const [linkIssues, signatureOk] = await Promise.all([chain.signatures, cose]);
  errors.push(...linkIssues);
  if (signatureOk === false) {
    errors.push(issue('ATT_SIGNATURE_INVALID', 'the COSE signature does not verify with the leaf certificate key'));
  } else if (signatureOk === undefined && leafKey && chain.issues.length === 0) {
    errors.push(issue('ATT_CERT_MALFORMED', 'certificate (leaf): the public key is not a valid P-384 point'));
  }
  return doc;
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
 * pinned root at `options.at` (default now) and the COSE signature. No policy (PCRs, nonce, freshness) — use
 * {@link verifyAttestation} to decide whether to trust the enclave.
 *
 * @example
 * import { inspectAttestation } from 'eifkit/browser';
 * const r = await inspectAttestation(doc); // bytes, base64 or hex
 * if (r.ok) console.log(r.document!.moduleId, r.document!.pcrs[0]);
 * else console.log(r.errors.map((e) => e.code));
 */
export function inspectAttestation(doc: Uint8Array | string, options: InspectOptions = {}): Promise<AttestationResult> {
  return guarded(async () => {
    const p = prepare(options);
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
    const errors: AttestationIssue[] = [];
    const policyErrors: AttestationIssue[] = [];
    const policy = normalizePolicy(options, options.measureEif ?? defaultMeasurer).catch((e: unknown) => {
      policyErrors.push(toIssue(e, 'ATT_POLICY_INVALID'));
      return undefined;
    });
    const [document, normalized] = await Promise.all([authenticate(doc, options, p, errors), policy]);
    const all = [...policyErrors, ...errors];
    if (document && normalized) all.push(...checkPolicy(document, normalized as NormalizedPolicy, p.at));
    return { ok: all.length === 0, errors: all, document };
  });
}
