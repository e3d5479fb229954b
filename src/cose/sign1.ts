/**
 * Reading a COSE_Sign1 message (RFC 9052 §4.2) from the bytes as received: an optional tag 18, then the array
 * `[protected: bstr, unprotected: map, payload: bstr / nil, signature: bstr]`. The protected header and payload
 * are kept as the exact received bytes, because that is what the signature covers (RFC 9052 §4.4;
 * attestation.md §1.1). Writing lives in ./sign1-encode.ts. Browser-safe.
 */
import { EifError } from '../errors.js';
import { CborError, decodeCbor, type CborDecodeOptions } from '../cbor/decode.js';
import { describeKind, type CborMap, type CborNode } from '../cbor/node.js';

/** COSE_Sign1_Tagged (RFC 9052 §2). */
export const COSE_SIGN1_TAG = 18;

/** Stable error codes of the COSE layer. CBOR-level failures keep their CBOR_* codes. */
export type CoseErrorCode = 'COSE_TAG' | 'COSE_STRUCTURE' | 'COSE_HEADER' | 'COSE_ALG' | 'COSE_SIGNATURE_FORMAT';

export class CoseError extends EifError {
  constructor(code: CoseErrorCode, message: string) {
    super(code, message);
  }
}

export interface CoseSign1 {
  /** Whether the message carried tag 18. */
  readonly tagged: boolean;
  /** Content of the protected-header byte string, exactly as received (signed). */
  readonly protectedBytes: Uint8Array;
  /** The protected header decoded (an empty map when `protectedBytes` is empty). */
  readonly protectedHeader: CborMap;
  readonly unprotectedHeader: CborMap;
  /** Content of the payload byte string as received, or null for a detached payload (nil). */
  readonly payload: Uint8Array | null;
  readonly signature: Uint8Array;
  /** The decoded top-level item (for callers that want spans). */
  readonly node: CborNode;
}

export interface CoseSign1DecodeOptions {
  /** Tag 18: 'optional' (default), 'required' or 'forbidden'. Any other tag is always refused. */
  readonly tag?: 'optional' | 'required' | 'forbidden';
  /** Options for the envelope's CBOR. Default: strict (definite lengths, shortest heads, depth 16). */
  readonly cbor?: CborDecodeOptions;
}

const EMPTY_MAP: CborMap = { kind: 'map', entries: [], indefinite: false, start: 0, end: 0 };

/**
 * Decode a COSE_Sign1 message. Throws CborError (CBOR_*) for malformed CBOR, CoseError (COSE_*) for a
 * well-formed item that is not a COSE_Sign1. Does not verify anything.
 */
export function decodeCoseSign1(bytes: Uint8Array, options: CoseSign1DecodeOptions = {}): CoseSign1 {
  const node = decodeCbor(bytes, { maxDepth: 16, ...options.cbor });
  let body = node;
  let tagged = false;
  if (node.kind === 'tag') {
    if (node.tag !== BigInt(COSE_SIGN1_TAG)) throw new CoseError('COSE_TAG', `unexpected tag ${node.tag} (COSE_Sign1 is tag 18)`);
    if (options.tag === 'forbidden') throw new CoseError('COSE_TAG', 'tag 18 is not allowed here');
    tagged = true;
    body = node.item;
  } else if (options.tag === 'required') {
    throw new CoseError('COSE_TAG', 'COSE_Sign1 must be tagged (tag 18)');
  }
  if (body.kind !== 'array') throw new CoseError('COSE_STRUCTURE', `COSE_Sign1 must be an array, found ${describeKind(body)}`);
  if (body.items.length !== 4) {
    throw new CoseError('COSE_STRUCTURE', `COSE_Sign1 must be a 4-element array, found ${body.items.length} elements`);
  }
  const [prot, unprot, payload, sig] = body.items as [CborNode, CborNode, CborNode, CborNode];
  if (prot.kind !== 'bytes') throw new CoseError('COSE_STRUCTURE', `protected header must be a byte string, found ${describeKind(prot)}`);
  if (unprot.kind !== 'map') throw new CoseError('COSE_STRUCTURE', `unprotected header must be a map, found ${describeKind(unprot)}`);
  if (payload.kind !== 'bytes' && payload.kind !== 'null') {
    throw new CoseError('COSE_STRUCTURE', `payload must be a byte string or nil, found ${describeKind(payload)}`);
  }
  if (sig.kind !== 'bytes') throw new CoseError('COSE_STRUCTURE', `signature must be a byte string, found ${describeKind(sig)}`);
  return {
    tagged,
    protectedBytes: prot.value,
    protectedHeader: decodeProtectedHeader(prot.value),
    unprotectedHeader: unprot,
    payload: payload.kind === 'bytes' ? payload.value : null,
    signature: sig.value,
    node,
  };
}

/** The serialized protected header as a map (RFC 9052 §3: a zero-length string stands for the empty map). */
export function decodeProtectedHeader(bytes: Uint8Array): CborMap {
  if (bytes.length === 0) return EMPTY_MAP;
  let node: CborNode;
  try {
    node = decodeCbor(bytes, { maxDepth: 8 });
  } catch (e) {
    if (e instanceof CborError) throw new CoseError('COSE_HEADER', `protected header is not valid CBOR: ${e.message}`);
    throw e;
  }
  if (node.kind !== 'map') throw new CoseError('COSE_HEADER', `protected header must encode a map, found ${describeKind(node)}`);
  return node;
}
