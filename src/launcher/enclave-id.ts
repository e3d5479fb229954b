/**
 * Enclave IDs and names as nitro-cli forms them (ne-device.md §4): `<instance id>-enc<slot uid hex>`, the
 * instance id read from DMI's board_asset_tag (fallback `i-0000000000000000`); names default to the EIF file
 * name without `.eif`, duplicates get `_1`, `_2`, ...
 */
import { basename, join } from 'node:path';
import { usageError } from '../errors.js';
import { readSmallText } from './env.js';

export const FALLBACK_INSTANCE_ID = 'i-0000000000000000';

export function instanceId(sysfsRoot: string): string {
  const t = (readSmallText(join(sysfsRoot, 'devices', 'virtual', 'dmi', 'id', 'board_asset_tag'), 256) ?? '').replace(/\s+/g, '');
  return t === '' ? FALLBACK_INSTANCE_ID : t;
}

/**
 * `slotUid` is the lowercase hex without padding the helper reports.
 *
 * @example
 * import { formatEnclaveId } from 'eifkit';
 * formatEnclaveId('i-0123456789abcdef0', '1B3'); // 'i-0123456789abcdef0-enc1b3'
 */
export function formatEnclaveId(instance: string, slotUid: string): string {
  return `${instance}-enc${slotUid.toLowerCase()}`;
}

/**
 * The slot uid (lowercase hex, no padding) of an enclave ID; throws a usage error for anything else.
 *
 * @example
 * import { slotUidOf } from 'eifkit';
 * slotUidOf('i-0123456789abcdef0-enc1b3'); // '1b3'
 */
export function slotUidOf(enclaveId: string): string {
  const i = enclaveId.lastIndexOf('-enc');
  const hex = i < 0 ? '' : enclaveId.slice(i + 4);
  if (!/^[0-9a-fA-F]{1,16}$/.test(hex)) {
    throw usageError(`"${enclaveId}" is not an enclave ID (expected i-...-enc<hex>, as describe-enclaves prints)`, 'ENCLAVE_ID_INVALID');
  }
  return BigInt(`0x${hex}`).toString(16);
}

/** Default name: the EIF file name without `.eif`; `_1`, `_2` ... appended while the name is taken. */
export function enclaveName(requested: string | undefined, eifPath: string, taken: ReadonlySet<string>): string {
  const base = requested ?? basename(eifPath).replace(/\.eif$/i, '');
  if (!taken.has(base)) return base;
  for (let i = 1; ; i++) if (!taken.has(`${base}_${i}`)) return `${base}_${i}`;
}
