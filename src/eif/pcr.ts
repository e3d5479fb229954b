/**
 * PCR measurements — eif-format.md §3. Every EIF PCR is one TPM-style extend of an all-zero 48-byte register:
 * `PCR = SHA384(0^48 ‖ SHA384(measured bytes))`. PCR0 = kernel ‖ cmdline ‖ all ramdisks; PCR1 = kernel ‖ cmdline ‖
 * first ramdisk; PCR2 = the other ramdisks; PCR8 = DER of the signing certificate; PCR3 / PCR4 = the raw UTF-8 of
 * the parent's IAM role ARN / instance ID (§3.2).
 */
import { createSha384, sha384 } from '../core/index.js';
import { EifError } from '../errors.js';
import { toHex } from '../util/hex.js';

export const PCR_LENGTH = 48;
const ZERO = new Uint8Array(PCR_LENGTH);

/**
 * `SHA384(previous ‖ data)`, previous defaulting to the all-zero register (data is normally a 48-byte digest).
 *
 * @example
 * import { pcrExtend, sha384 } from 'eifkit/browser';
 * const pcr = pcrExtend(sha384(data));        // SHA384(0^48 ‖ SHA384(data))
 * const next = pcrExtend(sha384(more), pcr);  // extend again
 */
export function pcrExtend(digest: Uint8Array, previous: Uint8Array = ZERO): Uint8Array {
  return createSha384().update(previous).update(digest).digest();
}

/**
 * The PCR of a single measured byte string (`nitro-cli pcr --input`).
 *
 * @example
 * import { pcrOfBytes } from 'eifkit/browser';
 * const pcr = pcrOfBytes(new TextEncoder().encode('hello')); // 48 bytes, as `nitro-cli pcr --input`
 */
export function pcrOfBytes(bytes: Uint8Array): Uint8Array {
  return pcrExtend(sha384(bytes));
}

/**
 * PCR3: the hypervisor extends the zero register with the parent's IAM role ARN itself — raw UTF-8, not a
 * digest of it: `SHA384(0^48 ‖ arn)` (§3.2).
 *
 * @example
 * import { pcr3FromRoleArn, verifyAttestation } from 'eifkit/browser';
 * const pcr3 = pcr3FromRoleArn('arn:aws:iam::123456789012:role/app'); // 96 hex digits
 * const r = await verifyAttestation(doc, { expectedPcrs: { 3: pcr3 }, nonce });
 */
export function pcr3FromRoleArn(arn: string): string {
  return toHex(pcrExtend(new TextEncoder().encode(arn)));
}

/**
 * PCR4: likewise with the parent instance ID: `SHA384(0^48 ‖ "i-…")` (§3.2).
 *
 * @example
 * import { pcr4FromInstanceId } from 'eifkit/browser';
 * const pcr4 = pcr4FromInstanceId('i-0123456789abcdef0'); // 96 hex digits, for expectedPcrs: { 4: pcr4 }
 */
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

/** PCR8 of an enclave booted from an unsigned image: the register is never extended, so 48 zero bytes (§3.2). */
export const UNSIGNED_PCR8 = '0'.repeat(PCR_LENGTH * 2);

/**
 * An image's measurements as tools print them (`eif build` / `eif describe` / nitro-cli / eif_build), optionally with
 * describe's `IsSigned`.
 */
export interface ImageMeasurements {
  readonly PCR0?: unknown;
  readonly PCR1?: unknown;
  readonly PCR2?: unknown;
  readonly PCR8?: unknown;
  readonly IsSigned?: unknown;
}

/**
 * What an enclave booted from an image must report, fail-closed (§3.2, §4.4): PCR0, PCR1, PCR2 and PCR8 — the
 * image's PCR8 when it is signed, else {@link UNSIGNED_PCR8}. An absent PCR8 therefore never means "not checked": a
 * document from the same image signed by someone else has a non-zero PCR8 and fails. Measurements without PCR0/1/2,
 * or that say `IsSigned: true` but carry no PCR8, are refused (EifError MEASUREMENTS_INCOMPLETE). Values are returned
 * as given; callers check their form.
 */
export function expectedImagePcrs(m: ImageMeasurements): { PCR0: unknown; PCR1: unknown; PCR2: unknown; PCR8: unknown } {
  const missing = (['PCR0', 'PCR1', 'PCR2'] as const).filter((k) => m[k] === undefined || m[k] === null);
  if (missing.length) {
    throw new EifError('MEASUREMENTS_INCOMPLETE', `the image measurements lack ${missing.join(', ')} (an image is pinned by PCR0, PCR1 and PCR2 together)`);
  }
  const hasPcr8 = m.PCR8 !== undefined && m.PCR8 !== null;
  if (m.IsSigned !== undefined && typeof m.IsSigned !== 'boolean') {
    throw new EifError('MEASUREMENTS_INCOMPLETE', 'IsSigned must be true or false');
  }
  if (m.IsSigned === true && !hasPcr8) {
    throw new EifError('MEASUREMENTS_INCOMPLETE', 'the measurements say the image is signed (IsSigned: true) but carry no PCR8, so its signer cannot be checked');
  }
  if (m.IsSigned === false && hasPcr8) {
    throw new EifError('MEASUREMENTS_INCOMPLETE', 'the measurements say the image is unsigned (IsSigned: false) but carry a PCR8');
  }
  return { PCR0: m.PCR0, PCR1: m.PCR1, PCR2: m.PCR2, PCR8: hasPcr8 ? m.PCR8 : UNSIGNED_PCR8 };
}

/**
 * The PCR map a JSON object states, for `--policy` files and `eif verify --expect`: a tool's output for a whole image
 * — `{"Measurements": {…}, "IsSigned": …}` (nitro-cli, `eif build` / `eif describe`) or a bare map carrying nitro-cli's
 * `HashAlgorithm` (eif_build) — is an image's measurements, with PCR0/1/2 and PCR8 pinned by
 * {@link expectedImagePcrs} (its other keys kept); any other object lists exactly the PCRs it pins (`image: false`,
 * returned as is). Throws MEASUREMENTS_INCOMPLETE like expectedImagePcrs.
 */
export function pcrMapOfJson(o: Record<string, unknown>): { image: boolean; map: Record<string, unknown> } {
  const m = o.Measurements;
  const wrapped = m !== null && typeof m === 'object' && !Array.isArray(m);
  if (!wrapped && !('HashAlgorithm' in o)) return { image: false, map: o };
  const fields = (wrapped ? m : o) as Record<string, unknown>;
  return { image: true, map: { ...fields, ...expectedImagePcrs({ ...fields, IsSigned: wrapped ? o.IsSigned : undefined }) } };
}
