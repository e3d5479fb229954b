/**
 * Application-level checks of an authentic attestation document (attestation.md §2.1 step 4, §2.2 steps 6–7),
 * fail-closed:
 *  - expected PCRs (any subset of 0..31) compared as bytes with exact length; from values, a JSON policy, or the
 *    measurements of an EIF (PCR0/1/2, and PCR8 when signed);
 *  - a debug-mode document (PCR0/1/2 all zero) is rejected unless `allowDebug`;
 *  - nonce, user_data and public_key compared as bytes (never as text: §2.2 step 7);
 *  - `maxAgeMs` against the document timestamp, and a timestamp in the future (beyond `clockSkewMs`) rejected;
 *  - a policy with nothing to check is refused, not passed (the "empty policy passes" bug class, §2.2 step 7).
 * Browser-safe.
 */
import { EifError } from '../errors.js';
import { expectedImagePcrs, type ImageMeasurements, pcrMapOfJson } from '../eif/pcr.js';
import { bytesEqual, fromHex, toHex } from '../util/hex.js';
import { AttestationFailure, issue, type AttestationIssue } from './errors.js';
import { BYTE_FIELD_RULES, type ByteFieldKey } from './field-rules.js';
import { PCR_LENGTH, type AttestationDocument } from './document.js';

/**
 * PCR measurements of an enclave image, as `eif describe` / nitro-cli print them (lowercase hex). PCR8 is present
 * for signed images; its absence means the image is unsigned, so the enclave must report PCR8 as zeros
 * (`expectedImagePcrs`, eif-format.md §3.2) — never "PCR8 not checked".
 */
export interface EifMeasurements {
  readonly PCR0: string;
  readonly PCR1: string;
  readonly PCR2: string;
  /** Present for signed images. */
  readonly PCR8?: string;
  /** `eif describe`'s IsSigned, when known: true without PCR8 is refused. */
  readonly IsSigned?: boolean;
}

/** The expected PCRs of an image's measurements (fail-closed PCR8), as a policy's PCR map. ATT_POLICY_INVALID. */
function imagePcrs(m: ImageMeasurements): Record<number, unknown> {
  try {
    const e = expectedImagePcrs(m);
    return { 0: e.PCR0, 1: e.PCR1, 2: e.PCR2, 8: e.PCR8 };
  } catch (err) {
    if (err instanceof EifError) invalid(err.message);
    throw err;
  }
}

/** Expected PCR values: index (0..31, number or numeric string) → hex string or bytes. */
export type ExpectedPcrs = Readonly<Record<number | string, string | Uint8Array>>;

export interface AttestationPolicy {
  /** PCRs that must be present with exactly these values. */
  readonly expectedPcrs?: ExpectedPcrs;
  /** An enclave image (bytes) or its measurements: PCR0/1/2 (and PCR8 when signed) are expected. */
  readonly eif?: Uint8Array | EifMeasurements;
  /** Bytes the document's nonce must equal (a string is refused: the comparison is byte-exact). */
  readonly nonce?: Uint8Array;
  readonly userData?: Uint8Array;
  readonly publicKey?: Uint8Array;
  /** Maximum age of the document (verification time − timestamp), in ms. */
  readonly maxAgeMs?: number;
  /** Accept a debug-mode document (PCR0/1/2 all zero). Default false. */
  readonly allowDebug?: boolean;
  /** How far the document timestamp may lie in the future of the verification time (ms). Default 60000. */
  readonly clockSkewMs?: number;
}

export const DEFAULT_CLOCK_SKEW_MS = 60_000;


interface PcrExpectation {
  readonly index: number;
  readonly value: Uint8Array;
  readonly source: string;
}

/** A policy with every value checked and converted to bytes. */
export interface NormalizedPolicy extends Readonly<Record<ByteFieldKey, Uint8Array | undefined>> {
  readonly pcrs: readonly PcrExpectation[];
  readonly maxAgeMs: number | undefined;
  readonly allowDebug: boolean;
  readonly clockSkewMs: number;
}

/** Measures EIF bytes (injected, so this module needs no EIF reader of its own). */
export type EifMeasurer = (eif: Uint8Array) => Promise<EifMeasurements>;

function invalid(message: string): never {
  throw new AttestationFailure('ATT_POLICY_INVALID', message);
}

const HEX_RE = /^[0-9a-fA-F]*$/;

/** Hex text (either case, optional 0x) → bytes; ATT_POLICY_INVALID otherwise. */
function hexValue(v: unknown, what: string, allowEmpty = false): Uint8Array {
  if (typeof v !== 'string') invalid(`${what} must be a hex string`);
  const t = v.trim().replace(/^0x/i, '');
  if ((t.length === 0 && !allowEmpty) || t.length % 2 !== 0 || !HEX_RE.test(t)) invalid(`${what} is not valid hex`);
  return fromHex(t, what);
}

/** Hex or bytes → bytes. */
function pcrBytes(v: unknown, what: string): Uint8Array {
  return v instanceof Uint8Array ? v : hexValue(v, what);
}

function pcrIndex(k: string): number {
  const m = /^(?:PCR)?(\d{1,2})$/i.exec(k.trim());
  const n = m ? Number(m[1]) : NaN;
  if (!(n >= 0 && n <= 31)) invalid(`PCR index ${JSON.stringify(k)} is not 0..31`);
  return n;
}

function exactBytes(v: unknown, what: string): Uint8Array | undefined {
  if (v === undefined) return undefined;
  if (!(v instanceof Uint8Array)) invalid(`${what} must be a Uint8Array (compared byte for byte; convert text or hex yourself)`);
  return v;
}

/** Check and normalize a policy; resolves EIF bytes through `measure`. Throws AttestationFailure. */
export async function normalizePolicy(policy: AttestationPolicy, measure?: EifMeasurer): Promise<NormalizedPolicy> {
  if (policy === null || typeof policy !== 'object') invalid('options must be an object');
  const pcrs: PcrExpectation[] = [];
  if (policy.expectedPcrs !== undefined) {
    if (policy.expectedPcrs === null || typeof policy.expectedPcrs !== 'object') invalid('expectedPcrs must be an object');
    for (const [k, v] of Object.entries(policy.expectedPcrs)) {
      const index = pcrIndex(k);
      pcrs.push({ index, value: pcrBytes(v, `expected PCR${index}`), source: 'expected' });
    }
  }
  if (policy.eif !== undefined) {
    let m: EifMeasurements;
    if (policy.eif instanceof Uint8Array) {
      if (!measure) invalid('EIF bytes given but no EIF measurer is available');
      try {
        m = await measure(policy.eif);
      } catch (e) {
        throw new AttestationFailure('ATT_EIF_UNREADABLE', `cannot measure the EIF: ${e instanceof Error ? e.message : String(e)}`);
      }
    } else {
      m = policy.eif;
    }
    if (m === null || typeof m !== 'object') invalid('eif must be EIF bytes or its measurements');
    for (const [index, v] of Object.entries(imagePcrs(m))) {
      pcrs.push({ index: Number(index), value: pcrBytes(v, `EIF PCR${index}`), source: 'EIF' });
    }
  }
  for (const p of pcrs) {
    if (p.value.length !== PCR_LENGTH) invalid(`expected PCR${p.index} is ${p.value.length} bytes; PCRs are ${PCR_LENGTH} bytes (SHA-384)`);
  }
  const fields = {} as Record<ByteFieldKey, Uint8Array | undefined>;
  for (const r of BYTE_FIELD_RULES) fields[r.key] = exactBytes(policy[r.key], r.key);
  const maxAgeMs = policy.maxAgeMs;
  if (maxAgeMs !== undefined && !(typeof maxAgeMs === 'number' && Number.isFinite(maxAgeMs) && maxAgeMs >= 0)) {
    invalid('maxAgeMs must be a non-negative number of milliseconds');
  }
  const skew = policy.clockSkewMs ?? DEFAULT_CLOCK_SKEW_MS;
  if (!(typeof skew === 'number' && Number.isFinite(skew) && skew >= 0)) invalid('clockSkewMs must be a non-negative number');
  if (pcrs.length === 0 && BYTE_FIELD_RULES.every((r) => fields[r.key] === undefined) && maxAgeMs === undefined) {
    throw new AttestationFailure(
      'ATT_POLICY_EMPTY',
      'the policy checks nothing: give expected PCRs, an EIF, a nonce, user data, a public key or a maximum age (for authenticity alone use inspectAttestation or `eif attest inspect`)',
    );
  }
  return { pcrs, ...fields, maxAgeMs, allowDebug: policy.allowDebug === true, clockSkewMs: skew };
}

/** Apply a normalized policy to a decoded document at time `at` (ms). Returns every violation. */
export function checkPolicy(doc: AttestationDocument, p: NormalizedPolicy, at: number): AttestationIssue[] {
  const out: AttestationIssue[] = [];
  if (doc.debug && !p.allowDebug) {
    out.push(issue('ATT_DEBUG_MODE', 'PCR0, PCR1 and PCR2 are all zero: the enclave runs in debug mode (pass allowDebug to accept)'));
  }
  for (const e of p.pcrs) {
    const actual = doc.pcrs[e.index];
    if (actual === undefined) {
      out.push(issue('ATT_PCR_MISSING', `PCR${e.index} is not in the document (expected ${toHex(e.value)}, from ${e.source})`));
    } else if (!bytesEqual(actual, e.value)) {
      out.push(issue('ATT_PCR_MISMATCH', `PCR${e.index} is ${toHex(actual)}, expected ${toHex(e.value)} (from ${e.source})`));
    }
  }
  for (const r of BYTE_FIELD_RULES) {
    const expected = p[r.key];
    const actual = doc[r.docField];
    if (expected === undefined) continue;
    if (actual === null) out.push(issue(r.code, `the document has no ${r.label} (expected ${expected.length} bytes)`));
    else if (!bytesEqual(actual, expected)) out.push(issue(r.code, `${r.label} differs from the expected value (${actual.length} bytes, expected ${expected.length})`));
  }
  if (doc.timestamp - at > p.clockSkewMs) {
    out.push(
      issue(
        'ATT_TIMESTAMP_FUTURE',
        `timestamp ${new Date(doc.timestamp).toISOString()} is ${doc.timestamp - at} ms after the verification time ${new Date(at).toISOString()}`,
      ),
    );
  }
  if (p.maxAgeMs !== undefined && at - doc.timestamp > p.maxAgeMs) {
    out.push(
      issue('ATT_TIMESTAMP_STALE', `document is ${at - doc.timestamp} ms old (timestamp ${new Date(doc.timestamp).toISOString()}), maximum ${p.maxAgeMs} ms`),
    );
  }
  return out;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * "500ms", "30s", "5m", "2h", "1d" or a plain number of milliseconds → ms. Throws ATT_POLICY_INVALID.
 *
 * @example
 * import { parseDuration } from 'eifkit/browser';
 * parseDuration('5m'); // 300000
 * parseDuration(1500); // 1500
 */
export function parseDuration(text: string | number): number {
  if (typeof text === 'number') {
    if (Number.isFinite(text) && text >= 0) return text;
    invalid(`bad duration ${text}`);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/i.exec(text);
  if (!m) invalid(`bad duration ${JSON.stringify(text)} (use e.g. 500ms, 30s, 5m, 2h, 1d)`);
  return Math.round(Number(m[1]) * UNITS[(m[2] ?? 'ms').toLowerCase()]!);
}

const POLICY_KEYS = new Set(['pcrs', ...BYTE_FIELD_RULES.flatMap((r) => r.json), 'maxAge', 'maxAgeMs', 'allowDebug']);

/**
 * A policy from JSON. Accepted shapes:
 *  - nitro-cli / `eif build` / `eif describe` / eif_build output — `{"Measurements": {"HashAlgorithm": …, "PCR0": "…",
 *    …}, "IsSigned": …}` or the bare map with `HashAlgorithm` — is an image's measurements: PCR0, PCR1, PCR2 and
 *    PCR8 are all expected, PCR8 as zeros when the image is unsigned (see {@link EifMeasurements}); other keys ignored;
 *  - `{"PCR0": "…", "PCR8": "…", …}` without HashAlgorithm: exactly these PCRs;
 *  - `{"pcrs": {"0": "…"}, "nonce": "hex", "userData": "hex", "publicKey": "hex", "maxAge": "5m",
 *    "allowDebug": false}` (unknown keys are refused, so a typo cannot silently drop a check).
 * Throws ATT_POLICY_INVALID.
 *
 * @example
 * import { parsePolicyJson, verifyAttestation } from 'eifkit/browser';
 * const policy = parsePolicyJson(policyText); // e.g. `eif describe` output, or {"pcrs": {"0": "…"}, "maxAge": "5m"}
 * const r = await verifyAttestation(doc, { ...policy, nonce });
 */
export function parsePolicyJson(text: string): AttestationPolicy {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    invalid(`policy is not valid JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) invalid('policy JSON must be an object');
  const o = v as Record<string, unknown>;
  const pcrsFrom = (src: Record<string, unknown>, strict: boolean): Record<number, string> => {
    const out: Record<number, string> = {};
    for (const [k, val] of Object.entries(src)) {
      if (!/^PCR\d+$/i.test(k)) {
        if (strict) invalid(`unknown key ${JSON.stringify(k)}`);
        continue;
      }
      if (typeof val !== 'string') invalid(`${k} must be a hex string`);
      out[pcrIndex(k)] = val;
    }
    return out;
  };
  if ('Measurements' in o && (o.Measurements === null || typeof o.Measurements !== 'object' || Array.isArray(o.Measurements))) {
    invalid('Measurements must be an object');
  }
  let stated: { image: boolean; map: Record<string, unknown> };
  try {
    stated = pcrMapOfJson(o);
  } catch (err) {
    if (err instanceof EifError) invalid(err.message);
    throw err;
  }
  if (stated.image) return { expectedPcrs: pcrsFrom(stated.map, false) };
  if (Object.keys(o).some((k) => /^PCR\d+$/i.test(k))) return { expectedPcrs: pcrsFrom(o, true) };
  for (const k of Object.keys(o)) if (!POLICY_KEYS.has(k)) invalid(`unknown policy key ${JSON.stringify(k)}`);
  const hex = (k: string): Uint8Array | undefined => (o[k] === undefined ? undefined : hexValue(o[k], k, true));
  let expectedPcrs: Record<number, string> | undefined;
  if (o.pcrs !== undefined) {
    if (o.pcrs === null || typeof o.pcrs !== 'object' || Array.isArray(o.pcrs)) invalid('pcrs must be an object');
    expectedPcrs = {};
    for (const [k, val] of Object.entries(o.pcrs as Record<string, unknown>)) {
      if (typeof val !== 'string') invalid(`pcrs.${k} must be a hex string`);
      expectedPcrs[pcrIndex(k)] = val;
    }
  }
  if (o.allowDebug !== undefined && typeof o.allowDebug !== 'boolean') invalid('allowDebug must be true or false');
  let maxAgeMs: number | undefined;
  if (o.maxAge !== undefined) maxAgeMs = parseDuration(o.maxAge as string);
  if (o.maxAgeMs !== undefined) maxAgeMs = parseDuration(o.maxAgeMs as number);
  return {
    expectedPcrs,
    ...Object.fromEntries(BYTE_FIELD_RULES.map((r) => [r.key, r.json.map(hex).find((v) => v !== undefined)])),
    maxAgeMs,
    allowDebug: o.allowDebug as boolean | undefined,
  };
}
