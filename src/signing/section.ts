/**
 * The EIF signature section (type 4) and the payload it signs — eif-format.md §4.1, §4.3.
 *
 *   section = [ { "signing_certificate": [PEM file bytes as uints], "signature": [COSE_Sign1 bytes as uints] } ]
 *   payload = { "register_index": 0, "register_value": [PCR0 bytes as uints] }
 *
 * Writing is byte-identical to serde_cbor (src/cbor/encode.ts; a `Vec<u8>` is an array of uints, see
 * {@link serdeBytes}). Reading is strict (the shared strict CBOR decoder, then an exact shape check) and every
 * deviation has its own stable code. Browser-safe.
 */
import { EifError } from '../errors.js';
import { decodeCbor } from '../cbor/decode.js';
import { describeKind, type CborNode } from '../cbor/node.js';
import { CborUintArray, encodeCbor } from '../cbor/encode.js';

/** `SIGNATURE_MAX_SIZE`: the largest signature section the tools accept (eif-format.md §1.3). */
export const SIGNATURE_SECTION_MAX_SIZE = 32768;

const CERT_KEY = 'signing_certificate';
const SIG_KEY = 'signature';

/**
 * A Rust `Vec<u8>` as serde_cbor writes it without `serde_bytes`: a CBOR ARRAY of uints (each byte `b` as `b` or
 * `18 b`), not a byte string (§4.1).
 */
export function serdeBytes(bytes: Uint8Array): CborUintArray {
  return new CborUintArray(bytes);
}

/**
 * serde_cbor encoding of `PcrInfo { register_index: 0, register_value: pcr0 }` — the signed payload (§4.3).
 *
 * @example
 * import { encodePcrPayload } from 'eifkit/browser';
 * const payload = encodePcrPayload(pcr0); // pcr0: 48 bytes; what the image's COSE_Sign1 must carry
 */
export function encodePcrPayload(pcr0: Uint8Array): Uint8Array {
  return encodeCbor({ register_index: 0, register_value: serdeBytes(pcr0) }, 2 * pcr0.length + 40);
}

/**
 * serde_cbor encoding of `vec![PcrSignature { signing_certificate, signature }]` (§4.1).
 *
 * @example
 * import { encodeSignatureSection, decodeSignatureSection } from 'eifkit/browser';
 * const section = encodeSignatureSection(certificatePem, coseSign1);
 * decodeSignatureSection(section); // { certificatePem, coseSign1 }
 */
export function encodeSignatureSection(certificatePem: Uint8Array, coseSign1: Uint8Array): Uint8Array {
  const entry = { [CERT_KEY]: serdeBytes(certificatePem), [SIG_KEY]: serdeBytes(coseSign1) };
  return encodeCbor([entry], 2 * (certificatePem.length + coseSign1.length) + 64); // ≤ 2 bytes per byte
}

export interface SignatureSectionContents {
  /** The raw bytes of the signing certificate file (PEM text). */
  readonly certificatePem: Uint8Array;
  /** The COSE_Sign1 message bytes. */
  readonly coseSign1: Uint8Array;
}

/**
 * Parse a signature section strictly. Stable codes: SIG_SECTION_TOO_LARGE, SIG_NOT_CBOR, SIG_BAD_STRUCTURE,
 * SIG_EMPTY, SIG_EXTRA_ENTRIES, SIG_BAD_KEYS, SIG_NOT_INT_ARRAY.
 *
 * @example
 * import { decodeSignatureSection } from 'eifkit/browser';
 * const { certificatePem, coseSign1 } = decodeSignatureSection(sectionData);
 */
export function decodeSignatureSection(data: Uint8Array): SignatureSectionContents {
  if (data.length > SIGNATURE_SECTION_MAX_SIZE) {
    throw new EifError('SIG_SECTION_TOO_LARGE', `signature section is ${data.length} bytes; the limit is ${SIGNATURE_SECTION_MAX_SIZE}`);
  }
  let root: CborNode;
  try {
    root = decodeCbor(data, { allowTags: false, allowFloats: false, allowSimple: false, maxDepth: 4 });
  } catch (e) {
    const inner = e instanceof EifError ? `${e.code}: ${e.message}` : String(e);
    throw new EifError('SIG_NOT_CBOR', `signature section is not well-formed CBOR (${inner})`, { cause: e });
  }
  if (root.kind !== 'array') throw new EifError('SIG_BAD_STRUCTURE', `signature section must be a CBOR array, found ${describeKind(root)}`);
  if (root.items.length === 0) throw new EifError('SIG_EMPTY', 'signature section holds no signature (empty array)');
  if (root.items.length > 1) {
    throw new EifError('SIG_EXTRA_ENTRIES', `signature section holds ${root.items.length} entries; the tools write and use exactly one (PCR0)`);
  }
  const entry = root.items[0]!;
  if (entry.kind !== 'map') throw new EifError('SIG_BAD_STRUCTURE', `signature entry must be a map, found ${describeKind(entry)}`);
  const keys = entry.entries.map(([k]) => (k.kind === 'text' ? JSON.stringify(k.value) : describeKind(k)));
  if (keys.length !== 2 || keys[0] !== JSON.stringify(CERT_KEY) || keys[1] !== JSON.stringify(SIG_KEY)) {
    throw new EifError('SIG_BAD_KEYS', `signature entry keys must be exactly "${CERT_KEY}", "${SIG_KEY}" in that order; found ${keys.join(', ') || 'none'}`);
  }
  return {
    certificatePem: uintArray(entry.entries[0]![1], CERT_KEY),
    coseSign1: uintArray(entry.entries[1]![1], SIG_KEY),
  };
}

/** A serde `Vec<u8>`: an array whose items are all unsigned integers 0..255. */
function uintArray(node: CborNode, field: string): Uint8Array {
  if (node.kind !== 'array') {
    throw new EifError('SIG_NOT_INT_ARRAY', `"${field}" must be an array of unsigned integers (serde Vec<u8>), found ${describeKind(node)}`);
  }
  const out = new Uint8Array(node.items.length);
  node.items.forEach((item, i) => {
    if (item.kind !== 'int' || item.value < 0n || item.value > 255n) {
      throw new EifError('SIG_NOT_INT_ARRAY', `"${field}"[${i}] must be an unsigned integer 0..255, found ${item.kind === 'int' ? String(item.value) : describeKind(item)}`);
    }
    out[i] = Number(item.value);
  });
  return out;
}
