/**
 * Decoding an attestation document: the COSE_Sign1 envelope (attestation.md §1.1, §2.2 steps 1–2) and the
 * AttestationDocument payload (§1.2, §2.2 step 3; AWS attestation_process.md §2.2, §3.2.2), strictly.
 *
 * Envelope: optional tag 18, a definite 4-array in shortest form with no trailing bytes; the protected header
 * must be exactly the bytes `a1 01 38 22` ({1: -35}, ES384) and the unprotected header exactly `{}`; the
 * payload a non-empty byte string of at most 16384 bytes; the signature 96 bytes r‖s with 0 < r, s < n.
 * Payload: a map with text keys, no duplicates, only the nine known fields; definite or indefinite maps and
 * arrays (current NSM output uses an indefinite map, §0 finding 1) but no chunked strings, no tags; mandatory
 * fields non-null; optional fields null or bytes up to a configurable limit (default 1024, §8). Key order is free.
 * Browser-safe; nothing here verifies a signature.
 */
import { decodeCbor } from '../cbor/decode.js';
import { describeKind, type CborMap, type CborNode } from '../cbor/node.js';
import { checkEcdsaSignatureShape } from '../cose/verify.js';
import { decodeCoseSign1 } from '../cose/sign1.js';
import { ES384 } from '../pki/algorithms.js';
import { bytesEqual } from '../util/hex.js';
import { fail } from './errors.js';
import type { CertificateSummary } from './chain.js';

/** Largest document accepted: a 16 KiB payload plus the envelope, with room to spare (§2.2 step 1). */
export const MAX_DOCUMENT_BYTES = 20 * 1024;
/** Largest payload (AWS CDDL: `bstr .size (1..16384)`). */
export const MAX_PAYLOAD_BYTES = 16384;
/** Default limit for public_key, user_data and nonce (§1.2, §8: the spec says 1024 and 512; 1024 is used). */
export const DEFAULT_MAX_OPTIONAL_FIELD_BYTES = 1024;
/** Most certificates accepted in cabundle (real documents have 4). */
export const MAX_CABUNDLE = 16;
/** PCR value length for digest SHA384. */
export const PCR_LENGTH = 48;

/** QEMU's nitro-enclave NSM (emulation): the serialized map {1: -1} over an unsigned document. */
export const PROTECTED_EMULATED = Uint8Array.of(0xa1, 0x01, 0x20);

/** The only protected header accepted: the serialized map {1: -35}. */
export const PROTECTED_ES384 = Uint8Array.of(0xa1, 0x01, 0x38, 0x22);

/** A decoded attestation document. Byte fields are views into the input. */
export interface AttestationDocument {
  readonly moduleId: string;
  readonly digest: 'SHA384';
  /** Milliseconds since the UNIX epoch, as the NSM reported. */
  readonly timestamp: number;
  /** PCR index → 48-byte value, as present in the document. */
  readonly pcrs: Readonly<Record<number, Uint8Array>>;
  /** The leaf certificate (DER). */
  readonly certificate: Uint8Array;
  /** Root first, then intermediates (DER each). */
  readonly cabundle: readonly Uint8Array[];
  readonly publicKey: Uint8Array | null;
  readonly userData: Uint8Array | null;
  readonly nonce: Uint8Array | null;
  /** PCR0, PCR1 and PCR2 are all zeros: the enclave runs in debug mode (§1.2). */
  readonly debug: boolean;
  /** Whether the COSE_Sign1 carried tag 18. */
  readonly tagged: boolean;
  /** Whether the payload map was indefinite-length (NSM output since 2025). */
  readonly indefiniteMap: boolean;
  /** The signed payload bytes as received. */
  readonly payload: Uint8Array;
  readonly signature: Uint8Array;
  /** The certificate chain as parsed (root first, leaf last); filled by the chain check. */
  readonly chain: CertificateSummary[];
}

export interface DecodeDocumentOptions {
  /** Limit for public_key / user_data / nonce in bytes. Default 1024. */
  readonly maxOptionalFieldBytes?: number;
}

const MANDATORY = ['module_id', 'digest', 'timestamp', 'pcrs', 'certificate', 'cabundle'] as const;
const OPTIONAL = ['public_key', 'user_data', 'nonce'] as const;
const KNOWN_FIELDS = new Set<string>([...MANDATORY, ...OPTIONAL]);

/**
 * Decode and check the envelope and payload. Throws AttestationFailure (or a CborError/CoseError that
 * `toIssue` maps to ATT_CBOR_* / ATT_COSE_*) at the first problem.
 *
 * @example
 * import { decodeAttestationDocument } from 'eifkit/browser';
 * // structure only: no certificate chain, no signature (use inspectAttestation / verifyAttestation for that)
 * const d = decodeAttestationDocument(docBytes);
 * console.log(d.moduleId, new Date(d.timestamp), d.debug);
 */
export function decodeAttestationDocument(bytes: Uint8Array, options: DecodeDocumentOptions = {}): AttestationDocument {
  if (!(bytes instanceof Uint8Array)) fail('ATT_INPUT', 'the document must be a Uint8Array');
  if (bytes.length === 0) fail('ATT_INPUT', 'the document is empty');
  if (bytes.length > MAX_DOCUMENT_BYTES) {
    fail('ATT_INPUT_TOO_LARGE', `the document is ${bytes.length} bytes (limit ${MAX_DOCUMENT_BYTES})`);
  }
  const sign1 = decodeCoseSign1(bytes, { cbor: { maxDepth: 4, maxItems: 64 } });
  if (bytesEqual(sign1.protectedBytes, PROTECTED_EMULATED)) {
    fail('ATT_EMULATED_DOCUMENT', 'an emulated (unsigned) document: protected header {1: -1} and no real signature, as QEMU\'s nitro-enclave machine writes them; it proves nothing about AWS hardware and is never authentic (eif attest inspect shows its fields)');
  }
  if (!bytesEqual(sign1.protectedBytes, PROTECTED_ES384)) {
    fail('ATT_COSE_HEADER', 'protected header must be exactly {1: -35} (a1 01 38 22), i.e. alg ES384 and nothing else');
  }
  if (sign1.unprotectedHeader.entries.length !== 0) fail('ATT_COSE_HEADER', 'unprotected header must be an empty map');
  checkPayloadSize(sign1.payload);
  checkEcdsaSignatureShape(sign1.signature, ES384);
  return decodePayload(sign1.payload!, sign1.signature, sign1.tagged, options, false);
}

/**
 * QEMU's nitro-enclave machine signs nothing: protected header `{1: -1}`, and its certificate, CA bundle and
 * signature are placeholders (qemu-emulation.md, "Documents are unsigned by design"). This decodes such a document
 * for display — the payload under the same rules, except that the certificate and CA bundle may be empty — and
 * refuses anything else. Nothing it returns is authentic.
 *
 * @example
 * import { decodeEmulatedDocument } from 'eifkit/browser';
 * const d = decodeEmulatedDocument(docFromQemu);
 * console.log(d.moduleId, d.pcrs[0]); // shown, never trusted
 */
export function decodeEmulatedDocument(bytes: Uint8Array, options: DecodeDocumentOptions = {}): AttestationDocument {
  if (!(bytes instanceof Uint8Array) || bytes.length === 0) fail('ATT_INPUT', 'the document is empty');
  if (bytes.length > MAX_DOCUMENT_BYTES) fail('ATT_INPUT_TOO_LARGE', `the document is ${bytes.length} bytes (limit ${MAX_DOCUMENT_BYTES})`);
  const sign1 = decodeCoseSign1(bytes, { cbor: { maxDepth: 4, maxItems: 64 } });
  if (!bytesEqual(sign1.protectedBytes, PROTECTED_EMULATED)) fail('ATT_COSE_HEADER', 'not an emulated document: its protected header is not {1: -1}');
  checkPayloadSize(sign1.payload);
  return decodePayload(sign1.payload!, sign1.signature, sign1.tagged, options, true);
}

function checkPayloadSize(payload: Uint8Array | null): void {
  if (payload === null) fail('ATT_COSE_STRUCTURE', 'payload is nil');
  if (payload.length === 0) fail('ATT_COSE_STRUCTURE', 'payload is empty');
  if (payload.length > MAX_PAYLOAD_BYTES) {
    fail('ATT_COSE_STRUCTURE', `payload is ${payload.length} bytes (limit ${MAX_PAYLOAD_BYTES})`);
  }
}

function decodePayload(payload: Uint8Array, signature: Uint8Array, tagged: boolean, options: DecodeDocumentOptions, emulated: boolean): AttestationDocument {
  const root = decodeCbor(payload, {
    allowIndefiniteContainers: true,
    allowIndefiniteStrings: false,
    allowTags: false,
    maxDepth: 4,
    maxItems: 1024,
  });
  if (root.kind !== 'map') fail('ATT_PAYLOAD_NOT_MAP', `payload must be a map, found ${describeKind(root)}`);
  const fields = new Map<string, CborNode>();
  for (const [k, v] of root.entries) {
    if (k.kind !== 'text') fail('ATT_PAYLOAD_KEY', `payload keys must be text strings, found ${describeKind(k)}`);
    if (!KNOWN_FIELDS.has(k.value)) fail('ATT_PAYLOAD_UNKNOWN_FIELD', `unknown payload field ${JSON.stringify(clip(k.value))}`);
    fields.set(k.value, v);
  }
  for (const name of MANDATORY) {
    if (!fields.has(name)) fail('ATT_PAYLOAD_MISSING_FIELD', `mandatory field ${name} is missing`);
  }
  const limit = options.maxOptionalFieldBytes ?? DEFAULT_MAX_OPTIONAL_FIELD_BYTES;

  const moduleId = fields.get('module_id')!;
  if (moduleId.kind !== 'text' || moduleId.value.length === 0) {
    fail('ATT_MODULE_ID_INVALID', `module_id must be non-empty text, found ${describeValue(moduleId)}`);
  }
  const digest = fields.get('digest')!;
  if (digest.kind !== 'text' || digest.value !== 'SHA384') {
    fail('ATT_DIGEST_INVALID', `digest must be "SHA384", found ${digest.kind === 'text' ? JSON.stringify(clip(digest.value)) : describeKind(digest)}`);
  }
  const ts = fields.get('timestamp')!;
  if (ts.kind !== 'int' || ts.value <= 0n || ts.value > BigInt(Number.MAX_SAFE_INTEGER)) {
    fail('ATT_TIMESTAMP_INVALID', `timestamp must be an unsigned integer > 0 (ms), found ${describeValue(ts)}`);
  }
  const pcrs = decodePcrs(fields.get('pcrs')!);
  const cert = fields.get('certificate')!;
  if (cert.kind !== 'bytes' || (cert.value.length < 1 && !emulated) || cert.value.length > 1024) {
    fail('ATT_CERTIFICATE_INVALID', `certificate must be 1..1024 bytes, found ${describeValue(cert)}`);
  }
  const cabundle = decodeCabundle(fields.get('cabundle')!, emulated);
  const optional = (name: (typeof OPTIONAL)[number]): Uint8Array | null => {
    const v = fields.get(name);
    if (v === undefined || v.kind === 'null') return null;
    if (v.kind !== 'bytes' || v.value.length > limit) {
      fail('ATT_OPTIONAL_FIELD_INVALID', `${name} must be null or a byte string of at most ${limit} bytes, found ${describeValue(v)}`);
    }
    return v.value;
  };
  const publicKey = optional('public_key');
  const userData = optional('user_data');
  const nonce = optional('nonce');
  const zero = (i: number): boolean => pcrs[i] !== undefined && pcrs[i]!.every((b) => b === 0);
  return {
    moduleId: moduleId.value,
    digest: 'SHA384',
    timestamp: Number(ts.value),
    pcrs,
    certificate: cert.value,
    cabundle,
    publicKey,
    userData,
    nonce,
    debug: zero(0) && zero(1) && zero(2),
    tagged,
    indefiniteMap: root.indefinite,
    payload,
    signature,
    chain: [],
  };
}

function decodePcrs(node: CborNode): Record<number, Uint8Array> {
  if (node.kind !== 'map') fail('ATT_PCRS_INVALID', `pcrs must be a map, found ${describeValue(node)}`);
  const m: CborMap = node;
  if (m.entries.length < 1 || m.entries.length > 32) fail('ATT_PCRS_INVALID', `pcrs must have 1..32 entries, found ${m.entries.length}`);
  const out: Record<number, Uint8Array> = {};
  for (const [k, v] of m.entries) {
    if (k.kind !== 'int' || k.value < 0n || k.value > 31n) {
      fail('ATT_PCRS_INVALID', `pcr index must be an unsigned integer 0..31, found ${describeValue(k)}`);
    }
    if (v.kind !== 'bytes' || v.value.length !== PCR_LENGTH) {
      fail('ATT_PCRS_INVALID', `PCR${k.value} must be ${PCR_LENGTH} bytes (digest SHA384), found ${describeValue(v)}`);
    }
    out[Number(k.value)] = v.value;
  }
  return out;
}

function decodeCabundle(node: CborNode, emulated = false): Uint8Array[] {
  if (node.kind !== 'array') fail('ATT_CABUNDLE_INVALID', `cabundle must be an array, found ${describeValue(node)}`);
  if ((node.items.length < 1 && !emulated) || node.items.length > MAX_CABUNDLE) {
    fail('ATT_CABUNDLE_INVALID', `cabundle must hold 1..${MAX_CABUNDLE} certificates, found ${node.items.length}`);
  }
  return node.items.map((c, i) => {
    if (c.kind !== 'bytes' || (c.value.length < 1 && !emulated) || c.value.length > 1024) {
      fail('ATT_CABUNDLE_INVALID', `cabundle[${i}] must be 1..1024 bytes, found ${describeValue(c)}`);
    }
    return c.value;
  });
}

function clip(s: string): string {
  return s.length > 40 ? s.slice(0, 40) + '…' : s;
}

function describeValue(node: CborNode): string {
  switch (node.kind) {
    case 'bytes':
      return `a byte string of ${node.value.length} bytes`;
    case 'text':
      return node.value.length === 0 ? 'empty text' : `text ${JSON.stringify(clip(node.value))}`;
    case 'int':
      return `${describeKind(node)} ${node.value}`;
    case 'array':
      return `an array of ${node.items.length}`;
    case 'map':
      return `a map of ${node.entries.length}`;
    default:
      return describeKind(node);
  }
}
