/**
 * Taking the first-call costs off the first real document (issue 13: "attestation verdict ≤ 10 ms after the
 * document is dropped", also for the first document of a freshly loaded page). Measured in Chromium, the first
 * verification of a page costs ~3× a later one with a new chain: the verifier's code runs for the first time
 * (CBOR decoding, the strict X.509 parser, SHA-256, PEM decoding are compiled lazily by the JS engine), the pinned
 * root is decoded, fingerprinted, parsed and its key imported, and WebCrypto's ECDSA P-384 is used for the first
 * time. {@link warmUpAttestation} pays all of that ahead, at load or idle time.
 *
 * It verifies a self-made stand-in document whose `cabundle` is the pinned AWS root four times and whose leaf is
 * the same root: the whole path runs (decoding, every parser, keys imported, and real P-384 verifications — the
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

/**
 * Run the attestation verifier once on a stand-in document so that the first real document does not pay for the
 * verifier's first use (code compiled on first call, the pinned AWS root prepared, WebCrypto's first P-384
 * import and verify). Call it at load or idle time; it never throws, resolves to the stand-in's result (always
 * NOT authentic), and leaves no verified certificate in the caches. Calling it again is harmless.
 *
 * @example
 * import { warmUpAttestation, inspectAttestation } from 'eifkit/browser';
 * void warmUpAttestation(); // at page load
 * // later: the first document's verdict comes ~3x sooner
 * const r = await inspectAttestation(doc);
 */
export async function warmUpAttestation(): Promise<AttestationResult> {
  let r: AttestationResult;
  try {
    r = await inspectAttestation(standInDocument(), { at: STAND_IN_TIME });
  } catch (e) {
    r = { ok: false, errors: [toIssue(e)], document: null }; // inspectAttestation reports rather than throws
  }
  clearCertificateCache(false);
  return r;
}
