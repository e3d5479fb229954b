/**
 * Taking the first-call costs off the first real document (issue 13: "attestation verdict ≤ 10 ms after the
 * document is dropped", also for the first document of a freshly loaded page). Measured in Chromium, the first
 * verification of a page costs ~3× a later one with a new chain: the verifier's code runs for the first time
 * (CBOR decoding, the strict X.509 parser, SHA-256, PEM decoding are compiled lazily by the JS engine), the pinned
 * root is decoded, fingerprinted, parsed and its key imported, and WebCrypto's ECDSA P-384 is used for the first
 * time. {@link warmUpAttestation} pays all of that ahead, at load or idle time.
 *
 * First it verifies a complete document under a throw-away PKI of its own (generated once by
 * scripts/gen-warm-up-document.mjs; its keys are gone), as its own trust anchor: every success path a genuine
 * document takes (all links accepted, the COSE signature valid, the caches filled) runs, then every cache and
 * that anchor are cleared. Then it verifies a self-made stand-in document whose `cabundle` is the pinned AWS root
 * four times and whose leaf is the same root: the whole path runs (decoding, every parser, keys imported, and real P-384 verifications — the
 * root's own self-signature for each link, several at once as with a real chain), and the stand-in is rejected
 * (the leaf is a CA, the COSE signature is r = s = 1). Afterwards the certificate caches are cleared again, except the prepared pinned
 * roots (trust configuration, not verified data), so the first real document is still checked in full: it only
 * no longer pays for compiling the verifier. Browser-safe.
 */
import { encodeCbor } from '../cbor/encode.js';
import { encodeCoseSign1 } from '../cose/sign1-encode.js';
import { clearCertificateCache } from './chain.js';
import { PROTECTED_ES384 } from './document.js';
import { toIssue } from './errors.js';
import { awsNitroAnchors } from './input.js';
import { inspectAttestation, type AttestationResult } from './verify.js';
import { WARM_UP_DOCUMENT_BASE64, WARM_UP_ROOT_BASE64 } from './warm-up-document.generated.js';

/** Inside the AWS root's validity (2019-10-28 to 2049-10-28). */
const STAND_IN_TIME = Date.UTC(2024, 0, 1);

/**
 * The stand-in document: well-formed, shaped like a real one (a cabundle of four, then the leaf: four certificate
 * links and the COSE signature checked concurrently, as for a real chain), every certificate the AWS root itself;
 * COSE signature r = s = 1.
 */
function standInDocument(): Uint8Array {
  const root = awsNitroAnchors()[0]!.der;
  const payload = encodeCbor(
    new Map<string, unknown>([
      ['module_id', 'eifkit-warm-up'],
      ['digest', 'SHA384'],
      ['timestamp', STAND_IN_TIME],
      ['pcrs', new Map([[0, new Uint8Array(48)], [1, new Uint8Array(48)], [2, new Uint8Array(48)]])],
      ['certificate', root],
      ['cabundle', [root, root, root, root]],
      ['public_key', null],
      ['user_data', null],
      ['nonce', null],
    ]) as Parameters<typeof encodeCbor>[0],
  );
  const signature = new Uint8Array(96);
  signature[47] = 1; // r = 1
  signature[95] = 1; // s = 1: in range, so WebCrypto really runs (and says no)
  return encodeCoseSign1(PROTECTED_ES384, payload, signature, { tagged: true });
}

/** Options of {@link warmUpAttestation}. */
export interface WarmUpOptions {
  /**
   * How many times to verify the complete warm-up document (default 1). Each run is a new chain (caches cleared
   * between runs); more runs let the JS engine move the verifier's code to its optimising tiers — the page runs
   * it 24 times at load (bench/web.mjs, "first document of a fresh page").
   */
  readonly rounds?: number;
}

/**
 * Run the attestation verifier ahead of the first real document so that it does not pay for the verifier's first
 * use (code compiled and optimised on first calls, the pinned AWS root prepared, WebCrypto's first P-384 import
 * and verify). Two documents: a complete one under a throw-away root of its own
 * (./warm-up-document.generated.ts, `rounds` times: every success path, as a genuine document takes them), then
 * the stand-in whose every certificate is the AWS root (always rejected; prepares the pinned root). Call it at
 * load or idle time; it never throws, resolves to the stand-in's result (always NOT authentic), and leaves no
 * verified certificate in the caches (pinned roots prepared before are prepared again on their next use).
 * Calling it again is harmless.
 *
 * @example
 * import { warmUpAttestation, inspectAttestation } from 'eifkit/browser';
 * void warmUpAttestation({ rounds: 24 }); // at page load
 * // later: the first document's verdict comes ~3x sooner
 * const r = await inspectAttestation(doc);
 */
export async function warmUpAttestation(options: WarmUpOptions = {}): Promise<AttestationResult> {
  const rounds = Math.max(0, Math.min(100, Math.floor(options.rounds ?? 1)));
  if (rounds > 0) {
    const doc = fromBase64(WARM_UP_DOCUMENT_BASE64);
    const roots = [fromBase64(WARM_UP_ROOT_BASE64)];
    for (let i = 0; i < rounds; i++) {
      await inspectAttestation(doc, { at: 'document', roots }).catch(() => undefined);
      clearCertificateCache(false); // the next round, and the first real document, meet a new chain
    }
    clearCertificateCache(true); // the throw-away root is no anchor of anything afterwards
  }
  let r: AttestationResult;
  try {
    r = await inspectAttestation(standInDocument(), { at: STAND_IN_TIME });
  } catch (e) {
    r = { ok: false, errors: [toIssue(e)], document: null }; // inspectAttestation reports rather than throws
  }
  clearCertificateCache(false);
  return r;
}

function fromBase64(b64: string): Uint8Array {
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}
