/**
 * The verified-leaf cache (issue 9, "attestation at the physical floor"). Every document of an enclave carries the
 * same leaf certificate for its ~3 h of validity, so after one fully verified chain the leaf's own signature check
 * (the issuer's ECDSA over the leaf's TBS, attestation.md §2.2 step 4) is remembered, keyed by
 *  - the SHA-256 of the leaf's DER (./der-memo.ts: always the hash of exactly the bytes received), and
 *  - the issuer's public key: the uncompressed P-384 point of the certificate that precedes the leaf in this
 *    document's chain, compared in full.
 * A document whose leaf differs in one byte, or whose issuer has another key, misses and gets the full check.
 * Only that one ECDSA check is skipped: the leaf's structure, constraints, key usage, issuer name and validity at
 * the document's own time are checked on every call, as is the document's COSE signature, and the rest of the
 * chain up to the pinned root (./chain.ts, with its own intermediate cache).
 *
 * An entry also keeps the leaf parsed (from a private copy of the DER, never the caller's buffer) and its key
 * imported, so a warm verification neither parses the leaf nor imports its key: it starts the COSE check at once.
 * Bounded: at most 256 leaves, least recently used evicted. Entries are added only after a chain verified in
 * full. Browser-safe.
 */
import { ES384, OID_EC_PUBLIC_KEY } from '../pki/algorithms.js';
import { importEcdsaPublicKey } from '../pki/ecdsa.js';
import { OID_SECP384R1, type ParsedCertificate } from '../pki/x509.js';
import { toHex } from '../util/hex.js';
import { derSha256 } from './der-memo.js';
import { parseChainCertificate as parseCertificate } from './profile.js';

/** Maximum number of cached leaves (a service sees one per enclave instance). */
export const LEAF_CACHE_LIMIT = 256;

export interface LeafEntry {
  /** SHA-256 of the DER, lowercase hex. */
  readonly sha256: string;
  /** Parsed from the entry's own copy of the DER. */
  readonly cert: ParsedCertificate;
  readonly key: Promise<CryptoKey>;
  /** The key once imported, so the COSE check can start synchronously. */
  keyObject: CryptoKey | undefined;
  /** Issuer key ids ({@link issuerKeyId}) under which this leaf's signature verified. */
  readonly verifiedUnder: Set<string>;
}

const leaves = new Map<string, LeafEntry>();

/** What the verifier knows about a document's leaf before checking the chain. */
export interface LeafContext {
  readonly der: Uint8Array;
  /** The leaf, parsed (undefined when it does not parse: the structural pass reports why). */
  readonly cert: ParsedCertificate | undefined;
  /** Its key, when it is an uncompressed P-384 point; rejects if WebCrypto refuses the point. */
  readonly key: Promise<CryptoKey> | undefined;
  /** The key, already imported (cached leaves), else undefined. */
  readonly keyObject: CryptoKey | undefined;
  /** SHA-256 of the DER ('' when the cache is off: not needed then). */
  readonly sha256: string;
  /** The cache entry for these exact bytes, if any. */
  readonly known: LeafEntry | undefined;
}

const LEAF_LABEL = 'certificate (leaf)';

/** An EC P-384 key given as an uncompressed point (the form AWS uses; importable as 'raw'). */
export function isP384Key(c: ParsedCertificate): boolean {
  return c.keyAlgorithm === OID_EC_PUBLIC_KEY && c.keyCurve === OID_SECP384R1 && c.publicKey.length === 97 && c.publicKey[0] === 0x04;
}

function importKey(cert: ParsedCertificate | undefined): Promise<CryptoKey> | undefined {
  if (!cert || !isP384Key(cert)) return undefined;
  const key = importEcdsaPublicKey(cert.publicKey, ES384, 'raw');
  key.catch(() => undefined); // the caller handles it; no unhandled rejection if it is never awaited
  return key;
}

/**
 * The leaf of a document: from the cache when these exact bytes verified before (parsed and key imported),
 * else parsed and its key import started now.
 */
export function prepareLeaf(der: Uint8Array, useCache: boolean): LeafContext {
  const sha256 = useCache ? derSha256(der) : '';
  const known = useCache ? leaves.get(sha256) : undefined;
  if (known) {
    leaves.delete(sha256); // most recently used last
    leaves.set(sha256, known);
    return { der, cert: known.cert, key: known.key, keyObject: known.keyObject, sha256, known };
  }
  let cert: ParsedCertificate | undefined;
  try {
    cert = parseCertificate(der, LEAF_LABEL);
  } catch {
    cert = undefined;
  }
  return { der, cert, key: importKey(cert), keyObject: undefined, sha256, known: undefined };
}

const keyIds = new WeakMap<ParsedCertificate, string>();

/** The identity of an issuer's key for the cache: its public key bytes, in full (hex). */
export function issuerKeyId(issuer: ParsedCertificate): string {
  let id = keyIds.get(issuer);
  if (id === undefined) {
    id = toHex(issuer.publicKey);
    keyIds.set(issuer, id);
  }
  return id;
}

/** Did this leaf's signature already verify with `issuer`'s key? */
export function leafVerifiedBy(leaf: LeafContext, issuer: ParsedCertificate | undefined): boolean {
  return leaf.known !== undefined && issuer !== undefined && leaf.known.verifiedUnder.has(issuerKeyId(issuer));
}

/** Remember that the leaf's signature verified with `issuer`'s key (called only after a fully verified chain). */
export function rememberLeaf(leaf: LeafContext, issuer: ParsedCertificate): void {
  if (!leaf.sha256 || !leaf.cert || !leaf.key) return;
  let entry = leaf.known ?? leaves.get(leaf.sha256);
  if (!entry) {
    let cert: ParsedCertificate;
    try {
      cert = parseCertificate(leaf.der.slice(), LEAF_LABEL); // own copy: the caller may reuse its buffer
    } catch {
      return;
    }
    const made: LeafEntry = { sha256: leaf.sha256, cert, key: leaf.key, keyObject: leaf.keyObject, verifiedUnder: new Set<string>() };
    leaf.key.then((k) => (made.keyObject = k), () => leaves.delete(made.sha256));
    entry = made;
  }
  entry.verifiedUnder.add(issuerKeyId(issuer));
  leaves.delete(entry.sha256);
  if (leaves.size >= LEAF_CACHE_LIMIT) leaves.delete(leaves.keys().next().value!);
  leaves.set(entry.sha256, entry);
}

/** Forget every cached leaf. */
export function clearLeafCache(): void {
  leaves.clear();
}

/** Number of cached leaves (for tests). */
export function leafCacheSize(): number {
  return leaves.size;
}
