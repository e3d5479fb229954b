/**
 * Test-document generator: a throw-away P-384 PKI shaped like AWS's (attestation.md §1.3, §7 step 1) and
 * attestation documents written the way the NSM writes them (§7 steps 2–3), with hooks at every layer so each
 * hostile class of §7.1 can be produced re-signed — failing only for its intended reason.
 *
 *  root (CA, no pathLen, KU ds+kcs+crl) → regional (pathLen 2) → zonal (pathLen 1) → instance (pathLen 0,
 *  KU keyCertSign only) → leaf (CA:FALSE critical, non-critical KU ds+nonRepudiation, 3 h)
 *
 * Certificates are built with the DER writer of src/pki/der.ts and signed with WebCrypto; CBOR with the
 * independent writer in ./cbor-writer.ts. Nothing here uses the verifier under test.
 */
import { derOid, derTlv, derUnsignedInteger, ecdsaRawToDer } from '../../../src/pki/der.js';
import * as cb from './cbor-writer.js';

export type Curve = 'P-256' | 'P-384' | 'P-521';

export interface KeyPair {
  readonly curve: Curve;
  readonly privateKey: CryptoKey;
  readonly publicKey: CryptoKey;
  /** SubjectPublicKeyInfo DER. */
  readonly spki: Uint8Array;
}

const HASH_OF: Record<Curve, string> = { 'P-256': 'SHA-256', 'P-384': 'SHA-384', 'P-521': 'SHA-512' };

export async function newKey(curve: Curve = 'P-384'): Promise<KeyPair> {
  const kp = (await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: curve }, true, ['sign', 'verify'])) as CryptoKeyPair;
  const spki = new Uint8Array(await crypto.subtle.exportKey('spki', kp.publicKey));
  return { curve, privateKey: kp.privateKey, publicKey: kp.publicKey, spki };
}

/** ECDSA signature as r‖s (WebCrypto's form). */
export async function signRaw(key: KeyPair, data: Uint8Array, hash = HASH_OF[key.curve]): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash }, key.privateKey, data as BufferSource));
}

// ---------------------------------------------------------------- X.509

const OID = {
  ecdsaSha256: '1.2.840.10045.4.3.2',
  ecdsaSha384: '1.2.840.10045.4.3.3',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  subjectKeyId: '2.5.29.14',
  authorityKeyId: '2.5.29.35',
};

export const KU = { digitalSignature: 1, nonRepudiation: 2, keyCertSign: 32, cRLSign: 64 } as const;

const bool = (v: boolean): Uint8Array => derTlv(0x01, Uint8Array.of(v ? 0xff : 0x00));
const seq = (...c: Uint8Array[]): Uint8Array => derTlv(0x30, ...c);
const utf8 = (s: string): Uint8Array => derTlv(0x0c, new TextEncoder().encode(s));
const printable = (s: string): Uint8Array => derTlv(0x13, new TextEncoder().encode(s));

/** Name C=US, O=<o>, OU=TEST, CN=<cn> (the shape of the AWS names). */
export function encodeName(cn: string, o = 'Synthetic'): Uint8Array {
  const atv = (oid: string, v: Uint8Array): Uint8Array => derTlv(0x31, seq(derOid(oid), v));
  return seq(atv('2.5.4.6', printable('US')), atv('2.5.4.10', utf8(o)), atv('2.5.4.11', utf8('TEST')), atv('2.5.4.3', utf8(cn)));
}

function encodeTime(ms: number): Uint8Array {
  const d = new Date(ms);
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  const body = `${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}Z`;
  const y = d.getUTCFullYear();
  return y < 2050
    ? derTlv(0x17, new TextEncoder().encode(p(y % 100) + body))
    : derTlv(0x18, new TextEncoder().encode(p(y, 4) + body));
}

/** KeyUsage BIT STRING in DER named-bit-list form. */
function keyUsageValue(bits: number): Uint8Array {
  let highest = -1;
  for (let i = 0; i < 16; i++) if (bits & (1 << i)) highest = i;
  const nbytes = Math.max(1, Math.ceil((highest + 1) / 8));
  const out = new Uint8Array(1 + nbytes);
  for (let i = 0; i <= highest; i++) if (bits & (1 << i)) out[1 + (i >> 3)]! |= 0x80 >> (i & 7);
  out[0] = highest < 0 ? 0 : nbytes * 8 - (highest + 1);
  return derTlv(0x03, highest < 0 ? Uint8Array.of(0) : out);
}

export interface Extension {
  readonly oid: string;
  readonly critical: boolean;
  readonly value: Uint8Array;
}

function encodeExtension(e: Extension): Uint8Array {
  return seq(derOid(e.oid), ...(e.critical ? [bool(true)] : []), derTlv(0x04, e.value));
}

export interface CertSpec {
  readonly subject: string;
  readonly notBefore: number;
  readonly notAfter: number;
  /** null = no basicConstraints extension. */
  readonly basicConstraints?: { readonly ca: boolean; readonly pathLen?: number; readonly critical: boolean } | null;
  /** null = no keyUsage extension. */
  readonly keyUsage?: { readonly bits: number; readonly critical: boolean } | null;
  readonly extraExtensions?: readonly Extension[];
  /** Signature algorithm OID and hash (default ecdsa-with-SHA384). */
  readonly signatureAlgorithm?: 'ecdsa-with-SHA384' | 'ecdsa-with-SHA256';
  readonly serial?: Uint8Array;
  /** Issuer name override (default: the issuer's subject). */
  readonly issuerName?: Uint8Array;
}

export interface IssuedCert {
  readonly der: Uint8Array;
  readonly key: KeyPair;
  readonly name: Uint8Array;
}

let serialCounter = 1;

/** Build and sign a certificate for `subjectKey`, signed by `issuer` (or self-signed when issuer is undefined). */
export async function makeCertificate(
  spec: CertSpec,
  subjectKey: KeyPair,
  issuer?: { key: KeyPair; name: Uint8Array },
): Promise<IssuedCert> {
  const name = encodeName(spec.subject);
  const issuerName = spec.issuerName ?? issuer?.name ?? name;
  const signer = issuer?.key ?? subjectKey;
  const sha256 = spec.signatureAlgorithm === 'ecdsa-with-SHA256';
  const algId = seq(derOid(sha256 ? OID.ecdsaSha256 : OID.ecdsaSha384));
  const exts: Uint8Array[] = [];
  if (spec.basicConstraints) {
    const bc = spec.basicConstraints;
    const inner = seq(...(bc.ca ? [bool(true)] : []), ...(bc.pathLen !== undefined ? [derUnsignedInteger(Uint8Array.of(bc.pathLen))] : []));
    exts.push(encodeExtension({ oid: OID.basicConstraints, critical: bc.critical, value: inner }));
  }
  if (spec.keyUsage) exts.push(encodeExtension({ oid: OID.keyUsage, critical: spec.keyUsage.critical, value: keyUsageValue(spec.keyUsage.bits) }));
  const ski = new Uint8Array(await crypto.subtle.digest('SHA-1', subjectKey.spki as BufferSource));
  exts.push(encodeExtension({ oid: OID.subjectKeyId, critical: false, value: derTlv(0x04, ski) }));
  for (const e of spec.extraExtensions ?? []) exts.push(encodeExtension(e));
  const serial = spec.serial ?? Uint8Array.of(0x01, 0x9a, (serialCounter >> 8) & 0xff, serialCounter++ & 0xff);
  const tbs = seq(
    derTlv(0xa0, derUnsignedInteger(Uint8Array.of(2))),
    derUnsignedInteger(serial),
    algId,
    issuerName,
    seq(encodeTime(spec.notBefore), encodeTime(spec.notAfter)),
    name,
    subjectKey.spki,
    derTlv(0xa3, seq(...exts)),
  );
  const sig = await signRaw(signer, tbs, sha256 ? 'SHA-256' : HASH_OF[signer.curve]);
  const der = seq(tbs, algId, derTlv(0x03, Uint8Array.of(0), ecdsaRawToDer(sig)));
  return { der, key: subjectKey, name };
}

// ---------------------------------------------------------------- PKI

export type Role = 'root' | 'regional' | 'zonal' | 'instance' | 'leaf';
export const ROLES: readonly Role[] = ['root', 'regional', 'zonal', 'instance', 'leaf'];

export interface Pki {
  readonly root: IssuedCert;
  readonly regional: IssuedCert;
  readonly zonal: IssuedCert;
  readonly instance: IssuedCert;
  readonly leaf: IssuedCert;
  /** cabundle as the NSM orders it: root first. */
  readonly cabundle: Uint8Array[];
}

const H = 3_600_000;
const D = 24 * H;

/** The default certificate specs around document time `t` (lifetimes as in attestation.md §1.3). */
export function defaultSpecs(t: number): Record<Role, CertSpec> {
  const caKu = { bits: KU.digitalSignature | KU.keyCertSign | KU.cRLSign, critical: true };
  return {
    root: { subject: 'synthetic.nitro-enclaves', notBefore: t - 5 * 365 * D, notAfter: t + 25 * 365 * D, basicConstraints: { ca: true, critical: true }, keyUsage: caKu },
    regional: { subject: '*.us-east-1.synthetic.nitro-enclaves', notBefore: t - 10 * D, notAfter: t + 10 * D, basicConstraints: { ca: true, pathLen: 2, critical: true }, keyUsage: caKu },
    zonal: { subject: '*.zonal.us-east-1.synthetic.nitro-enclaves', notBefore: t - 3 * D, notAfter: t + 3 * D, basicConstraints: { ca: true, pathLen: 1, critical: true }, keyUsage: caKu },
    instance: { subject: 'i-0123456789abcdef0.us-east-1.synthetic.nitro-enclaves', notBefore: t - 12 * H, notAfter: t + 12 * H, basicConstraints: { ca: true, pathLen: 0, critical: true }, keyUsage: { bits: KU.keyCertSign, critical: true } },
    leaf: { subject: 'i-0123456789abcdef0-enc0123456789abcdef.us-east-1.synthetic', notBefore: t - 1 * H, notAfter: t + 2 * H, basicConstraints: { ca: false, critical: true }, keyUsage: { bits: KU.digitalSignature | KU.nonRepudiation, critical: false } },
  };
}

export interface PkiOptions {
  /** Per-role spec changes. */
  readonly specs?: Partial<Record<Role, Partial<CertSpec>>>;
  /** Curve of the leaf key (default P-384). */
  readonly leafCurve?: Curve;
  /** Reuse keys (e.g. the same root key in two PKIs). */
  readonly keys?: Partial<Record<Role, KeyPair>>;
}

/** A fresh PKI at document time `t`. */
export async function makePki(t: number, options: PkiOptions = {}): Promise<Pki> {
  const specs = defaultSpecs(t);
  const made: Partial<Record<Role, IssuedCert>> = {};
  let parent: IssuedCert | undefined;
  for (const role of ROLES) {
    const key = options.keys?.[role] ?? (await newKey(role === 'leaf' ? (options.leafCurve ?? 'P-384') : 'P-384'));
    const spec = { ...specs[role], ...options.specs?.[role] };
    const cert: IssuedCert = await makeCertificate(spec, key, parent);
    made[role] = cert;
    parent = cert;
  }
  const m = made as Record<Role, IssuedCert>;
  return { ...m, cabundle: [m.root.der, m.regional.der, m.zonal.der, m.instance.der] };
}

// ---------------------------------------------------------------- documents

/** Payload fields as [encoded key, encoded value], in NSM order. */
export type Fields = cb.Entry[];

export interface PayloadOptions {
  readonly moduleId?: string;
  readonly timestamp?: number;
  /** PCR index → value; default PCR0..15 with distinct non-zero values (PCR3/4 like real documents). */
  readonly pcrs?: ReadonlyMap<number, Uint8Array>;
  readonly publicKey?: Uint8Array | null;
  readonly userData?: Uint8Array | null;
  readonly nonce?: Uint8Array | null;
}

/** A recognisable 48-byte PCR value. */
export function pcrValue(index: number, seed = 0xa0): Uint8Array {
  return Uint8Array.from({ length: 48 }, (_, i) => (seed + index * 7 + i) & 0xff);
}

export function defaultPcrs(): Map<number, Uint8Array> {
  const m = new Map<number, Uint8Array>();
  for (let i = 0; i < 16; i++) m.set(i, i >= 5 ? new Uint8Array(48) : pcrValue(i));
  return m;
}

const optional = (v: Uint8Array | null | undefined): Uint8Array => (v == null ? cb.NULL : cb.bytes(v));

/** The nine NSM fields (attestation.md §1.2) in NSM order. */
export function defaultFields(pki: Pki, t: number, o: PayloadOptions = {}): Fields {
  const pcrs = o.pcrs ?? defaultPcrs();
  return [
    [cb.text('module_id'), cb.text(o.moduleId ?? 'i-0123456789abcdef0-enc0123456789abcdef')],
    [cb.text('digest'), cb.text('SHA384')],
    [cb.text('timestamp'), cb.uint(o.timestamp ?? t)],
    [cb.text('pcrs'), cb.map([...pcrs].map(([i, v]) => [cb.uint(i), cb.bytes(v)] as const))],
    [cb.text('certificate'), cb.bytes(pki.leaf.der)],
    [cb.text('cabundle'), cb.array(pki.cabundle.map((c) => cb.bytes(c)))],
    [cb.text('public_key'), optional(o.publicKey)],
    [cb.text('user_data'), optional(o.userData)],
    [cb.text('nonce'), optional(o.nonce)],
  ];
}

/** Replace (or, with value undefined, remove) the field named `name`. */
export function setField(fields: Fields, name: string, value: Uint8Array | undefined): Fields {
  const k = cb.text(name);
  const same = (a: Uint8Array): boolean => a.length === k.length && a.every((x, i) => x === k[i]);
  const out = fields.filter(([key]) => !same(key));
  if (value === undefined) return out;
  const at = fields.findIndex(([key]) => same(key));
  out.splice(at < 0 ? out.length : at, 0, [k, value]);
  return out;
}

export const PROTECTED_ES384 = Uint8Array.of(0xa1, 0x01, 0x38, 0x22);

export function sigStructure(protectedBytes: Uint8Array, payload: Uint8Array, aad = new Uint8Array(0)): Uint8Array {
  return cb.array([cb.text('Signature1'), cb.bytes(protectedBytes), cb.bytes(aad), cb.bytes(payload)]);
}

export interface EnvelopeParts {
  readonly protectedBytes: Uint8Array;
  /** Encoded unprotected header (default `a0`). */
  readonly unprotected: Uint8Array;
  /** Encoded payload item (default: the payload as a shortest-form byte string). */
  readonly payloadItem: Uint8Array;
  readonly signature: Uint8Array;
}

export interface DocumentOptions extends PayloadOptions {
  /** Change the payload fields (after the defaults are built). */
  readonly fields?: (f: Fields) => Fields;
  /** Indefinite-length payload map (current NSM output). Default true. */
  readonly indefinite?: boolean;
  /** Replace the encoded payload entirely (applied after `fields`). */
  readonly payload?: (encoded: Uint8Array) => Uint8Array;
  /** Protected header bytes (default a1 01 38 22). */
  readonly protectedBytes?: Uint8Array;
  /** Encoded unprotected header (default a0). */
  readonly unprotected?: Uint8Array;
  /** Key that signs the document (default the leaf key) and the hash to use. */
  readonly signer?: KeyPair;
  readonly signHash?: string;
  /** Bytes that are signed instead of the real Sig_structure (for "signed over something else" cases). */
  readonly signOver?: (sigStructure: Uint8Array, payload: Uint8Array) => Uint8Array;
  /** Change the r‖s signature after signing. */
  readonly signature?: (sig: Uint8Array) => Uint8Array;
  /** Tag to wrap the COSE array in (18 is valid); default none. */
  readonly tag?: number;
  /** Assemble the envelope yourself. */
  readonly envelope?: (parts: EnvelopeParts) => Uint8Array;
  /** Bytes appended after the document. */
  readonly trailing?: Uint8Array;
}

/** Build a complete signed document for `pki` at time `t`. */
export async function makeDocument(pki: Pki, t: number, o: DocumentOptions = {}): Promise<Uint8Array> {
  let fields = defaultFields(pki, t, o);
  if (o.fields) fields = o.fields(fields);
  let payload = cb.map(fields, o.indefinite ?? true);
  if (o.payload) payload = o.payload(payload);
  const protectedBytes = o.protectedBytes ?? PROTECTED_ES384;
  const toSign = sigStructure(protectedBytes, payload);
  const signer = o.signer ?? pki.leaf.key;
  let signature = await signRaw(signer, o.signOver ? o.signOver(toSign, payload) : toSign, o.signHash ?? HASH_OF[signer.curve]);
  if (o.signature) signature = o.signature(signature);
  const parts: EnvelopeParts = { protectedBytes, unprotected: o.unprotected ?? Uint8Array.of(0xa0), payloadItem: cb.bytes(payload), signature };
  let doc = o.envelope
    ? o.envelope(parts)
    : cb.array([cb.bytes(parts.protectedBytes), parts.unprotected, parts.payloadItem, cb.bytes(parts.signature)]);
  if (o.tag !== undefined) doc = cb.tag(o.tag, doc);
  if (o.trailing) doc = cb.concat(doc, o.trailing);
  return doc;
}

// ---------------------------------------------------------------- ECDSA helpers

export const P384_N = BigInt('0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973');

export function toBig(b: Uint8Array): bigint {
  return b.reduce((a, x) => (a << 8n) | BigInt(x), 0n);
}

export function fromBig(n: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

/** The (r, n − s) twin of a P-384 signature: equally valid. */
export function highSTwin(sig: Uint8Array): Uint8Array {
  const s = toBig(sig.subarray(48));
  return cb.concat(sig.subarray(0, 48), fromBig(P384_N - s, 48));
}

export function isHighS(sig: Uint8Array): boolean {
  return toBig(sig.subarray(48)) > P384_N / 2n;
}
