/**
 * An optional synchronous P-384 verifier for the warm path (issue 9). WebCrypto runs every check on a worker
 * thread: good when several checks can run at once (a cold chain, a batch), but for a warm document, which needs
 * exactly one check, the hand-over to that thread and back costs more than the parsing left around it. The Node
 * entry point registers node:crypto's `verify` here (src/node/p384-verify.ts); browsers keep WebCrypto. The
 * result is the same either way: both take the same r‖s signature and the same Sig_structure bytes.
 * Browser-safe (nothing here imports Node).
 */

/** Verifies an ES384 r‖s signature over `data` with a P-384 key imported through WebCrypto. */
export type SyncP384Verifier = (key: CryptoKey, signature: Uint8Array, data: Uint8Array) => boolean;

let registered: SyncP384Verifier | undefined;

/** Register (or, with undefined, remove) the synchronous verifier used for warm documents. */
export function setSyncP384Verifier(verifier: SyncP384Verifier | undefined): void {
  registered = verifier;
}

/** The registered synchronous verifier, if any. */
export function syncP384Verifier(): SyncP384Verifier | undefined {
  return registered;
}
