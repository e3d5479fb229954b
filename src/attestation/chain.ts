/**
 * Certificate-chain validation for attestation documents (attestation.md §2.1 step 2, §2.2 step 4; AWS
 * attestation_process.md §3.2.3–§3.2.4). The path is taken exactly as given — `cabundle` (root first) then the
 * leaf `certificate` — with no path building or reordering:
 *
 *  - `cabundle[0]` must be byte-equal to a pinned root (never trusted by name);
 *  - every certificate is P-384 with ecdsa-with-SHA384, parsed under the strict DER profile of src/pki/x509.ts;
 *  - only basicConstraints and keyUsage may be critical;
 *  - issuers have critical basicConstraints CA:TRUE, keyCertSign, and their pathLenConstraint is respected;
 *  - the leaf is not a CA and has digitalSignature;
 *  - each issuer name equals its parent's subject (bytes), each signature verifies (WebCrypto), and every
 *    certificate, the root included, is valid at the verification time T. No CRL (AWS doc §3.2.4).
 *
 * Speed: intermediates already verified are cached, keyed by the SHA-256 of their DER, together with the hash
 * of the certificate whose key verified them; a later document with the same link skips that ECDSA check but
 * still re-checks structure, names and validity at its own T. The leaf's signature check is cached the same way,
 * keyed by its DER hash and its issuer's key (./leaf-cache.ts). DER hashes come from ./der-memo.ts. A pinned root
 * is parsed and its key imported once, when a document first names it. Browser-safe.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { ES384 } from '../pki/algorithms.js';
import { bytesEqual, toHex } from '../util/hex.js';
import { ecdsaVerify, importEcdsaPublicKey } from '../pki/ecdsa.js';
import { derSha256, clearDerMemo } from './der-memo.js';
import { fail, issue, toIssue, type AttestationIssue } from './errors.js';
import { clearLeafCache, isP384Key, leafVerifiedBy, rememberLeaf, type LeafContext } from './leaf-cache.js';
import {
  certificateSignatureRaw as signatureRaw,
  KU_DIGITAL_SIGNATURE,
  KU_KEY_CERT_SIGN,
  OID_BASIC_CONSTRAINTS,
  OID_EC_PUBLIC_KEY,
  OID_ECDSA_WITH_SHA384,
  OID_KEY_USAGE,
  OID_SECP384R1,
  type ParsedCertificate,
} from '../pki/x509.js';
import { ATTESTATION_X509, parseChainCertificate as parseCertificate } from './profile.js';

export { ATTESTATION_X509 } from './profile.js';

/** A certificate's ECDSA signature as r‖s (ATT_CERT_MALFORMED when it is not a DER Ecdsa-Sig-Value). */
function certificateSignatureRaw(cert: ParsedCertificate, size: number, label: string): Uint8Array {
  return signatureRaw(cert, size, label, ATTESTATION_X509.code);
}

/** A pinned root: its DER and SHA-256 (hex). */
export interface TrustAnchor {
  readonly der: Uint8Array;
  readonly sha256: string;
}

/** What a report shows about one certificate of the chain. */
export interface CertificateSummary {
  readonly role: 'root' | 'intermediate' | 'leaf';
  readonly subject: string;
  readonly issuer: string;
  /** Serial number, lowercase hex. */
  readonly serial: string;
  readonly notBefore: string;
  readonly notAfter: string;
  /** SHA-256 of the DER, lowercase hex. */
  readonly sha256: string;
}

/** Maximum number of cached intermediates (oldest evicted first). */
const CACHE_LIMIT = 256;

interface CacheEntry {
  readonly cert: ParsedCertificate;
  readonly key: Promise<CryptoKey>;
  /** The key itself once imported, so a link check can start synchronously. */
  keyObject: CryptoKey | undefined;
  /** SHA-256 of each certificate whose key has verified this one's signature. */
  readonly verifiedUnder: Set<string>;
}

const cache = new Map<string, CacheEntry>();

/** Pinned roots in use, parsed and with their key imported once (trust configuration, not verified data). */
const anchorCache = new Map<string, CacheEntry>();
const ANCHOR_LIMIT = 16;

/**
 * Forget every cached intermediate and leaf, and the remembered DER hashes (a "cold" verification: a new
 * enclave). With `includeAnchors`, also the prepared pinned roots (the very first verification of a process).
 *
 * @example
 * import { clearCertificateCache } from 'eifkit/browser';
 * clearCertificateCache();     // the next verification re-checks the intermediates and the leaf
 * clearCertificateCache(true); // ... and re-prepares the pinned roots too
 */
export function clearCertificateCache(includeAnchors = false): void {
  cache.clear();
  clearLeafCache();
  clearDerMemo();
  if (includeAnchors) anchorCache.clear();
}

/** Number of cached intermediates (for tests). */
export function certificateCacheSize(): number {
  return cache.size;
}

/** The prepared entry of a pinned root that `cabundle[0]` matched. */
function anchorEntry(l: Link): CacheEntry | undefined {
  let e = anchorCache.get(l.hash);
  if (!e) {
    let cert: ParsedCertificate;
    try {
      cert = parseCertificate(l.der.slice(), l.label);
    } catch {
      return undefined; // reported by the structural pass
    }
    if (!isP384Key(cert)) return undefined;
    const key = importEcdsaPublicKey(cert.publicKey, ES384, 'raw');
    e = { cert, key, keyObject: undefined, verifiedUnder: new Set<string>() };
    const entry = e;
    key.then((k) => (entry.keyObject = k), () => anchorCache.delete(l.hash));
    if (anchorCache.size >= ANCHOR_LIMIT) anchorCache.delete(anchorCache.keys().next().value!);
    anchorCache.set(l.hash, e);
  }
  return e;
}

function remember(hash: string, entry: CacheEntry): void {
  if (cache.has(hash)) return;
  if (cache.size >= CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  cache.set(hash, entry);
}

export function sha256Hex(bytes: Uint8Array): string {
  return toHex(sha256(bytes));
}

export interface ChainCheck {
  /** Structural problems (first one found; the chain is not checked further after it). */
  readonly issues: AttestationIssue[];
  /** Every certificate that could be parsed, root first. */
  readonly certificates: CertificateSummary[];
  /** The ECDSA link checks still running; resolves to the issues they found (empty when all verified). */
  readonly signatures: Promise<AttestationIssue[]>;
}

/** A chain whose ECDSA checks are under way; {@link ChainStart.finish} runs the structural pass. */
export interface ChainStart {
  finish(at: number): ChainCheck;
}

const LEAF_LABEL = 'certificate (leaf)';

interface Link {
  readonly der: Uint8Array;
  hash: string;
  readonly label: string;
  cert?: ParsedCertificate;
  cached?: CacheEntry;
}

/** The text fields of a summary, per parsed certificate (cached certificates come back as the same object). */
const summaryText = new WeakMap<ParsedCertificate, Omit<CertificateSummary, 'role' | 'sha256'>>();

function summary(l: Link, role: CertificateSummary['role']): CertificateSummary {
  const c = l.cert!;
  let text = summaryText.get(c);
  if (!text) {
    text = {
      subject: c.subjectText,
      issuer: c.issuerText,
      serial: toHex(c.serial),
      notBefore: new Date(c.notBefore).toISOString(),
      notAfter: new Date(c.notAfter).toISOString(),
    };
    summaryText.set(c, text);
  }
  return { role, ...text, sha256: l.hash || (l.hash = sha256Hex(l.der)) };
}

const NO_SIGNATURES: Promise<AttestationIssue[]> = Promise.resolve([]);

/**
 * Start checking the chain `cabundle ‖ leaf` against `anchors`: match the root, look up / parse the certificates,
 * and start every ECDSA link check not proven by the cache (WebCrypto runs them on its worker threads; a link
 * whose issuer key is cached starts synchronously, here). `finish(at)` then runs the structural pass at time `at`
 * while they proceed.
 */
export function beginChain(
  cabundle: readonly Uint8Array[],
  leaf: LeafContext,
  anchors: readonly TrustAnchor[],
  useCache = true,
): ChainStart {
  const n = cabundle.length;
  const hash = useCache ? derSha256 : sha256Hex;
  const links: Link[] = cabundle.map((der, i) => ({ der, hash: hash(der), label: i === 0 ? 'cabundle[0] (root)' : `cabundle[${i}]` }));
  links.push({ der: leaf.der, hash: leaf.sha256, label: LEAF_LABEL, cert: leaf.cert });
  const role = (i: number): CertificateSummary['role'] => (i === 0 ? 'root' : i === n ? 'leaf' : 'intermediate');
  const trusted = anchors.some((a) => a.sha256 === links[0]!.hash);
  for (let i = 0; i < n; i++) {
    const l = links[i]!;
    l.cached = !useCache ? undefined : i > 0 ? cache.get(l.hash) : trusted ? anchorEntry(l) : undefined;
    try {
      l.cert = l.cached?.cert ?? parseCertificate(l.der, l.label);
    } catch {
      // reported in order by the structural pass
    }
  }
  const summaries = (): CertificateSummary[] => links.flatMap((l, i) => (l.cert ? [summary(l, role(i))] : []));

  if (!trusted) {
    const root = links[0]!.hash;
    const pinned = anchors.map((a) => a.sha256.slice(0, 16) + '…').join(', ');
    return {
      finish: () => ({
        issues: [issue('ATT_ROOT_UNTRUSTED', `cabundle[0] is not a pinned root (its SHA-256 is ${root}; pinned: ${pinned})`)],
        certificates: summaries(),
        signatures: NO_SIGNATURES,
      }),
    };
  }

  const signatures = verifyLinks(links, n, useCache, leaf);
  return {
    finish(at: number): ChainCheck {
      try {
        for (let i = 0; i < links.length; i++) checkStructure(links, i, n, at);
      } catch (e) {
        signatures.catch(() => undefined);
        return { issues: [toIssue(e, 'ATT_CERT_MALFORMED')], certificates: summaries(), signatures: NO_SIGNATURES };
      }
      return { issues: [], certificates: summaries(), signatures };
    },
  };
}

/** The synchronous checks of certificate `i` (0 = root, n = leaf). Throws AttestationFailure. */
function checkStructure(links: Link[], i: number, n: number, at: number): void {
  const l = links[i]!;
  const c = l.cert ?? (l.cert = parseCertificate(l.der, l.label));
  const name = `${l.label} (${c.subjectText})`;
  if (c.signatureAlgorithm !== OID_ECDSA_WITH_SHA384) {
    fail('ATT_CERT_ALGORITHM', `${name}: signature algorithm ${c.signatureAlgorithm} is not ecdsa-with-SHA384`);
  }
  if (c.keyAlgorithm !== OID_EC_PUBLIC_KEY || c.keyCurve !== OID_SECP384R1) {
    fail('ATT_CERT_ALGORITHM', `${name}: key is not an EC P-384 key (algorithm ${c.keyAlgorithm}, curve ${c.keyCurve ?? 'none'})`);
  }
  if (!isP384Key(c)) fail('ATT_CERT_MALFORMED', `${name}: the P-384 key must be an uncompressed point (97 bytes)`);
  for (const e of c.extensions) {
    if (e.critical && e.oid !== OID_BASIC_CONSTRAINTS && e.oid !== OID_KEY_USAGE) {
      fail('ATT_CERT_CRITICAL_EXTENSION', `${name}: unknown critical extension ${e.oid}`);
    }
  }
  const bc = c.basicConstraints;
  const ku = c.keyUsage;
  if (i < n) {
    if (!bc || !bc.ca) fail('ATT_CERT_CONSTRAINTS', `${name}: issuer is not a CA (basicConstraints cA must be TRUE)`);
    if (!bc.critical) fail('ATT_CERT_CONSTRAINTS', `${name}: basicConstraints must be critical on a CA`);
    const below = n - 1 - i; // CA certificates between this one and the leaf
    if (bc.pathLen !== undefined && below > bc.pathLen) {
      fail('ATT_CERT_CONSTRAINTS', `${name}: pathLenConstraint ${bc.pathLen} exceeded (${below} CA certificates follow)`);
    }
    if (!ku || !(ku.bits & KU_KEY_CERT_SIGN)) fail('ATT_CERT_KEY_USAGE', `${name}: keyUsage must include keyCertSign`);
  } else {
    if (bc?.ca) fail('ATT_CERT_CONSTRAINTS', `${name}: the leaf must not be a CA`);
    if (bc?.pathLen !== undefined) fail('ATT_CERT_CONSTRAINTS', `${name}: the leaf must not have a pathLenConstraint`);
    if (!ku || !(ku.bits & KU_DIGITAL_SIGNATURE)) fail('ATT_CERT_KEY_USAGE', `${name}: keyUsage must include digitalSignature`);
  }
  if (i > 0) {
    const parent = links[i - 1]!.cert!;
    if (!bytesEqual(c.issuer, parent.subject)) {
      fail('ATT_CHAIN_ISSUER_MISMATCH', `${name}: issuer "${c.issuerText}" is not the subject of the previous certificate ("${parent.subjectText}")`);
    }
  }
  if (at < c.notBefore || at > c.notAfter) {
    const when = new Date(at).toISOString();
    fail(
      'ATT_CERT_VALIDITY',
      `${name}: not valid at ${when} (valid ${new Date(c.notBefore).toISOString()} to ${new Date(c.notAfter).toISOString()})`,
    );
  }
  // The signature must be a well-formed DER ECDSA value for P-384; converted now so a bad one is reported in order.
  if (i > 0) certificateSignatureRaw(c, ES384.size, l.label);
}

/** Start the ECDSA check of `child`'s signature with its issuer's key. */
function verifyWith(parentKey: CryptoKey, child: Link): Promise<boolean> {
  let raw: Uint8Array;
  try {
    raw = certificateSignatureRaw(child.cert!, ES384.size, child.label);
  } catch {
    return Promise.resolve(false); // malformed: the structural pass reports it
  }
  const tbs = child.cert!.tbs;
  return ecdsaVerify(parentKey, ES384, raw, tbs);
}

/**
 * Start every ECDSA link check not already proven by the cache, root to leaf, each as soon as its issuer's key is
 * available (at once for cached issuers; right after the import otherwise, so the worker threads start while later
 * keys are still being imported). The leaf's link is skipped when ./leaf-cache.ts has it under this issuer's key.
 * On full success, remember the intermediates and the leaf.
 */
async function verifyLinks(links: Link[], n: number, useCache: boolean, leaf: LeafContext): Promise<AttestationIssue[]> {
  const keys: (Promise<CryptoKey> | undefined)[] = [];
  const pending: (Promise<boolean> | AttestationIssue | undefined)[] = [undefined];
  for (let i = 0; i < n; i++) {
    const l = links[i]!;
    const child = links[i + 1]!;
    if (l.cert && isP384Key(l.cert)) {
      keys[i] = l.cached ? l.cached.key : importEcdsaPublicKey(l.cert.publicKey, ES384, 'raw');
      keys[i]!.catch(() => undefined);
    }
    if (child.cached?.verifiedUnder.has(l.hash) || (i === n - 1 && leafVerifiedBy(leaf, l.cert))) {
      pending.push(undefined);
      continue;
    }
    let key: CryptoKey | undefined = l.cached?.keyObject;
    if (!key && keys[i]) {
      try {
        key = await keys[i];
      } catch {
        pending.push(issue('ATT_CERT_MALFORMED', `${l.label}: the public key is not a valid P-384 point`));
        continue;
      }
    }
    const p = key && child.cert ? verifyWith(key, child) : Promise.resolve(false);
    p.catch(() => undefined);
    pending.push(p);
  }
  const problems: AttestationIssue[] = [];
  for (let i = 1; i < links.length; i++) {
    const p = pending[i];
    if (!p) continue;
    if (!(p instanceof Promise)) {
      problems.push(p);
      continue;
    }
    let ok: boolean;
    try {
      ok = await p;
    } catch (e) {
      problems.push(toIssue(e, 'ATT_CERT_MALFORMED'));
      continue;
    }
    const l = links[i]!;
    if (!ok) {
      problems.push(issue('ATT_CERT_SIGNATURE_INVALID', `${l.label} (${l.cert?.subjectText ?? '?'}): signature does not verify with the key of ${links[i - 1]!.label}`));
    }
  }
  if (problems.length === 0 && useCache) {
    // Every link verified: remember the intermediates with the link that proved them, and the leaf with its
    // issuer's key.
    for (let i = 1; i < n; i++) {
      const l = links[i]!;
      const entry = l.cached ?? cache.get(l.hash) ?? newEntry(l, keys[i]!);
      entry.verifiedUnder.add(links[i - 1]!.hash);
      remember(l.hash, entry);
    }
    if (links[n - 1]!.cert) rememberLeaf(leaf, links[n - 1]!.cert!);
  }
  return problems.slice(0, 1);
}

/** A cache entry owning a private copy of the DER, so it neither pins nor trusts the caller's buffer. */
function newEntry(l: Link, key: Promise<CryptoKey>): CacheEntry {
  const cert = parseCertificate(l.der.slice(), l.label);
  const entry: CacheEntry = { cert, key, keyObject: undefined, verifiedUnder: new Set<string>() };
  key.then((k) => (entry.keyObject = k), () => undefined);
  return entry;
}
