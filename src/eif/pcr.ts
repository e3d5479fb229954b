/**
 * PCR measurements — eif-format.md §3. Every EIF PCR is one TPM-style extend of an all-zero 48-byte register:
 * `PCR = SHA384(0^48 ‖ SHA384(measured bytes))`. PCR0 = kernel ‖ cmdline ‖ all ramdisks; PCR1 = kernel ‖ cmdline ‖
 * first ramdisk; PCR2 = the other ramdisks; PCR8 = DER of the signing certificate; PCR3 / PCR4 = the raw UTF-8 of
 * the parent's IAM role ARN / instance ID (§3.2).
 */
import { createSha384, sha384 } from '../core/index.js';
import { toHex } from '../util/hex.js';

export const PCR_LENGTH = 48;
const ZERO = new Uint8Array(PCR_LENGTH);

/** `SHA384(previous ‖ data)`, previous defaulting to the all-zero register (data is normally a 48-byte digest). */
export function pcrExtend(digest: Uint8Array, previous: Uint8Array = ZERO): Uint8Array {
  return createSha384().update(previous).update(digest).digest();
}

/** The PCR of a single measured byte string (`nitro-cli pcr --input`). */
export function pcrOfBytes(bytes: Uint8Array): Uint8Array {
  return pcrExtend(sha384(bytes));
}

/**
 * PCR3: the hypervisor extends the zero register with the parent's IAM role ARN itself — raw UTF-8, not a
 * digest of it: `SHA384(0^48 ‖ arn)` (§3.2).
 */
export function pcr3FromRoleArn(arn: string): string {
  return toHex(pcrExtend(new TextEncoder().encode(arn)));
}

/** PCR4: likewise with the parent instance ID: `SHA384(0^48 ‖ "i-…")` (§3.2). */
export function pcr4FromInstanceId(instanceId: string): string {
  return toHex(pcrExtend(new TextEncoder().encode(instanceId)));
}

/** Measurements in nitro-cli's shape (`{"HashAlgorithm": …, "PCR0": …}`, keys in BTreeMap order). */
export interface Measurements {
  HashAlgorithm: string;
  PCR0: string;
  PCR1: string;
  PCR2: string;
  PCR8?: string;
}

/** nitro-cli ≤ 1.4 / eif_build print the Debug form of the sha2 0.9 hasher (§6.2). Treat as opaque. */
export const HASH_ALGORITHM = 'Sha384 { ... }';
