/**
 * The decoded form of a CBOR data item (RFC 8949 §3): a small tree of typed nodes, each carrying the byte span
 * it was read from, so callers can hash or sign exactly the bytes they received (attestation.md §1.1: the
 * Sig_structure uses the received protected and payload bytes, never a re-encoding). Browser-safe.
 */

/** Where an item sits in the input: `input.subarray(start, end)` is its complete encoding (head included). */
export interface CborSpan {
  readonly start: number;
  readonly end: number;
}

/** Major types 0 and 1. `value` is exact (bigint), e.g. -35n for the COSE alg ES384. */
export interface CborInt extends CborSpan {
  readonly kind: 'int';
  readonly value: bigint;
}

/** Major type 2. `value` is a view into the input for a definite string, a fresh copy for a chunked one. */
export interface CborBytes extends CborSpan {
  readonly kind: 'bytes';
  readonly value: Uint8Array;
  /** Offset of the first content byte (definite strings only; equals `end - value.length`). */
  readonly contentStart: number;
  readonly chunked: boolean;
}

/** Major type 3, decoded as strict UTF-8. */
export interface CborText extends CborSpan {
  readonly kind: 'text';
  readonly value: string;
  readonly chunked: boolean;
}

/** Major type 4. */
export interface CborArray extends CborSpan {
  readonly kind: 'array';
  readonly items: readonly CborNode[];
  readonly indefinite: boolean;
}

/** Major type 5. Entries keep their encoded order; keys are unique unless the decoder allowed duplicates. */
export interface CborMap extends CborSpan {
  readonly kind: 'map';
  readonly entries: readonly (readonly [CborNode, CborNode])[];
  readonly indefinite: boolean;
}

/** Major type 6. */
export interface CborTag extends CborSpan {
  readonly kind: 'tag';
  readonly tag: bigint;
  readonly item: CborNode;
}

/** Major type 7, values 20..21. */
export interface CborBool extends CborSpan {
  readonly kind: 'bool';
  readonly value: boolean;
}

/** Major type 7, value 22. */
export interface CborNull extends CborSpan {
  readonly kind: 'null';
}

/** Major type 7, value 23. */
export interface CborUndefined extends CborSpan {
  readonly kind: 'undefined';
}

/** Major type 7, unassigned simple values (0..19, 32..255). */
export interface CborSimple extends CborSpan {
  readonly kind: 'simple';
  readonly value: number;
}

/** Major type 7, half/single/double precision. */
export interface CborFloat extends CborSpan {
  readonly kind: 'float';
  readonly value: number;
  /** Encoded width in bytes: 2, 4 or 8. */
  readonly size: 2 | 4 | 8;
}

export type CborNode =
  | CborInt
  | CborBytes
  | CborText
  | CborArray
  | CborMap
  | CborTag
  | CborBool
  | CborNull
  | CborUndefined
  | CborSimple
  | CborFloat;

export type CborKind = CborNode['kind'];

/** Map lookup by a text or integer key (the two key types COSE and the NSM use). */
export function mapGet(map: CborMap, key: string | number | bigint): CborNode | undefined {
  for (const [k, v] of map.entries) {
    if (typeof key === 'string') {
      if (k.kind === 'text' && k.value === key) return v;
    } else if (k.kind === 'int' && k.value === BigInt(key)) {
      return v;
    }
  }
  return undefined;
}

/** The integer as a JS number when it is a safe integer, otherwise undefined. */
export function intToNumber(node: CborInt): number | undefined {
  const v = node.value;
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : undefined;
}

/** A short human description of a node's type, for error messages ("text", "map", "tag 2", ...). */
export function describeKind(node: CborNode): string {
  switch (node.kind) {
    case 'int':
      return node.value < 0n ? 'negative integer' : 'unsigned integer';
    case 'tag':
      return `tag ${node.tag}`;
    case 'simple':
      return `simple value ${node.value}`;
    case 'bytes':
      return 'byte string';
    case 'text':
      return 'text string';
    default:
      return node.kind;
  }
}
