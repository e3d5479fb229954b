/**
 * The attestation policy's byte-exact field rules (attestation.md §2.2 step 7). A module of its own with no
 * run-time imports, so the CLI can declare its flags from it without loading the attestation stack.
 */
import type { AttestationDocument } from './document.js';
import type { AttestationErrorCode } from './errors.js';

/**
 * The byte-exact field rules (attestation.md §2.2 step 7), one row each: the policy key, the document field, the
 * JSON policy keys, the CLI flag (`eif attest verify --<flag> HEX`) and the code of a mismatch. normalizePolicy,
 * checkPolicy, parsePolicyJson and the CLI all read this table, so a new field rule is one row here.
 */
export const BYTE_FIELD_RULES = [
  { key: 'nonce', docField: 'nonce', label: 'nonce', json: ['nonce'], flag: 'nonce', code: 'ATT_NONCE_MISMATCH' },
  { key: 'userData', docField: 'userData', label: 'user_data', json: ['userData', 'user_data'], flag: 'user-data', code: 'ATT_USER_DATA_MISMATCH' },
  { key: 'publicKey', docField: 'publicKey', label: 'public_key', json: ['publicKey', 'public_key'], flag: 'public-key', code: 'ATT_PUBLIC_KEY_MISMATCH' },
] as const satisfies readonly {
  key: string;
  docField: keyof AttestationDocument;
  label: string;
  json: readonly string[];
  flag: string;
  code: AttestationErrorCode;
}[];

/** `nonce` | `userData` | `publicKey`: the policy keys of the rules. */
export type ByteFieldKey = (typeof BYTE_FIELD_RULES)[number]['key'];
