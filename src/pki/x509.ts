/**
 * The one X.509 certificate reader (RFC 5280 §4.1), for both users of certificates:
 *
 *  - attestation chains (attestation.md §1.3, §2.2 step 4) read under the **strict** profile: DER only (shortest
 *    lengths, DEFAULT values omitted, minimal INTEGERs, BOOLEAN TRUE as FF), v3 with a non-empty extension list
 *    and nothing after it, serial ≤ 20 octets and non-negative, the TBS signature algorithm byte-equal to the
 *    outer one, ECDSA parameters absent, EC keys with a named curve, BIT STRINGs without unused bits, times in
 *    the RFC 5280 §4.1.2.5 form, unique extensions with basicConstraints / keyUsage decoded, a size bound;
 *  - the EIF signing certificate (eif-format.md §3.2, §4.4, §4.6, §6.3) under the **lenient** profile: what
 *    OpenSSL (and so nitro-cli) reads — any version, anything after the key ignored, GeneralizedTime for any
 *    year — with the same DER reader, Name walk and time decoder, so every length and calendar check is shared.
 *
 * Every failure throws EifError with the profile's code (ATT_CERT_MALFORMED, SIG_CERT_UNREADABLE) naming the
 * certificate by `label`. The result keeps views into `der` (no copies) and is never allocated from a length
 * field. Browser-safe.
 */
import type { ErrorCode } from '../error-codes.js';
import { bytesEqual } from '../util/hex.js';
import { EifError } from '../errors.js';
import {
  DerReader,
  TAG_BIT_STRING,
  TAG_BOOLEAN,
  TAG_INTEGER,
  TAG_OCTET_STRING,
  TAG_OID,
  TAG_SEQUENCE,
  ecdsaDerToRaw,
  type Tlv,
} from './der.js';
import { ES384, OID_EC_PUBLIC_KEY } from './algorithms.js';
import { parseName, type NameAttribute } from './x509-name.js';
import { decodeTime, type X509Time } from './x509-time.js';

export type { NameAttribute } from './x509-name.js';

export const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
export const OID_ECDSA_WITH_SHA384 = '1.2.840.10045.4.3.3';
export const OID_ECDSA_WITH_SHA512 = '1.2.840.10045.4.3.4';
export { OID_EC_PUBLIC_KEY };
/** The P-384 named curve (the attestation chain's only curve), from the algorithm table. */
export const OID_SECP384R1 = ES384.curveOid;
export const OID_BASIC_CONSTRAINTS = '2.5.29.19';
export const OID_KEY_USAGE = '2.5.29.15';

/** KeyUsage bits (RFC 5280 §4.2.1.3) as a mask: bit i of the named bit list is `1 << i`. */
export const KU_DIGITAL_SIGNATURE = 1 << 0;
export const KU_KEY_CERT_SIGN = 1 << 5;

const TAG_CTX0 = 0xa0; // [0] EXPLICIT version
const TAG_CTX3 = 0xa3; // [3] EXPLICIT extensions

/** How strictly to read, and what to throw. */
export interface X509Profile {
  /** The strict DER / RFC 5280 profile of the file comment (attestation), or OpenSSL's tolerance (signing). */
  readonly strict: boolean;
  /** EifError code of every failure. */
  readonly code: ErrorCode;
  /** Largest certificate accepted, in bytes (attestation.md §1.2: 1024); no bound when absent. */
  readonly maxBytes?: number;
}

export interface CertificateExtension {
  readonly oid: string;
  readonly critical: boolean;
  /** Content of extnValue. */
  readonly value: Uint8Array;
}

export interface ParsedCertificate {
  readonly der: Uint8Array;
  /** The whole tbsCertificate element (what the issuer signed). */
  readonly tbs: Uint8Array;
  /** 1, 2 or 3 (the `[0]` field; absent means v1; 0 when unreadable, lenient profile). Strict: only 3. */
  readonly version: number;
  /** serialNumber content bytes (big-endian; DER-minimal under the strict profile). */
  readonly serial: Uint8Array;
  /** Outer signatureAlgorithm OID (under the strict profile equal to the TBS one — checked). */
  readonly signatureAlgorithm: string;
  /** Name DER (whole element), for byte comparison. */
  readonly issuer: Uint8Array;
  readonly subject: Uint8Array;
  /** Name attributes in certificate order. */
  readonly issuerAttributes: readonly NameAttribute[];
  readonly subjectAttributes: readonly NameAttribute[];
  /** Readable names, e.g. `C=US, O=Amazon, OU=AWS, CN=aws.nitro-enclaves`. */
  readonly issuerText: string;
  readonly subjectText: string;
  /** Validity in ms since the epoch. */
  readonly notBefore: number;
  readonly notAfter: number;
  /** Validity as decoded (with the fraction as written); {@link opensslTimeText} prints it as OpenSSL does. */
  readonly notBeforeTime: X509Time;
  readonly notAfterTime: X509Time;
  /** SubjectPublicKeyInfo DER (whole element, importable as `spki`). */
  readonly spki: Uint8Array;
  /** Key algorithm OID ({@link OID_EC_PUBLIC_KEY} for EC). */
  readonly keyAlgorithm: string;
  /** subjectPublicKey bits (for EC keys the encoded point, 0x04 ‖ x ‖ y when uncompressed). */
  readonly publicKey: Uint8Array;
  /** Named-curve OID for EC keys. */
  readonly keyCurve: string | undefined;
  /** signatureValue bits (a DER Ecdsa-Sig-Value for ECDSA). */
  readonly signatureValue: Uint8Array;
  /** Extensions (strict profile; empty under the lenient one, which does not read them). */
  readonly extensions: readonly CertificateExtension[];
  /** basicConstraints, when present. */
  readonly basicConstraints: { readonly ca: boolean; readonly pathLen: number | undefined; readonly critical: boolean } | undefined;
  /** keyUsage bit mask and criticality, when present. */
  readonly keyUsage: { readonly bits: number; readonly critical: boolean } | undefined;
}

/** Parse one DER certificate under `profile`; `label` names it in errors (e.g. "cabundle[2]"). */
export function parseCertificate(der: Uint8Array, label: string, profile: X509Profile): ParsedCertificate {
  const strict = profile.strict;
  if (profile.maxBytes !== undefined && (der.length === 0 || der.length > profile.maxBytes)) {
    throw new EifError(profile.code, `${label}: certificate of ${der.length} bytes (must be 1..${profile.maxBytes})`);
  }
  const r = new DerReader(der, profile.code, label);
  const cert = r.expect(0, TAG_SEQUENCE, der.length, 'Certificate');
  if (cert.end !== der.length) r.fail('trailing bytes after the certificate');
  const top = r.children(cert);
  if (top.length !== 3) r.fail('Certificate must have 3 elements');
  const [tbsT, algT, sigT] = top as [Tlv, Tlv, Tlv];
  if (tbsT.tag !== TAG_SEQUENCE) r.fail('tbsCertificate must be a SEQUENCE');
  const signatureAlgorithm = algorithmId(r, algT, 'signatureAlgorithm', strict);
  const signatureValue = bitString(r, sigT, 'signatureValue', strict);

  const f = r.children(tbsT);
  let i = 0;
  const next = (): Tlv => {
    const t = f[i++];
    if (!t) r.fail('tbsCertificate is missing fields');
    return t;
  };
  let version = 1;
  if (f[0]?.tag === TAG_CTX0) {
    const verT = next();
    if (strict) {
      const verInner = r.children(verT);
      if (verInner.length !== 1 || verInner[0]!.tag !== TAG_INTEGER) r.fail('bad version field');
      const v = r.content(verInner[0]!);
      if (v.length !== 1 || v[0] !== 2) r.fail('certificate must be X.509 v3');
    }
    const v = r.content(verT); // INTEGER 0..2 is 02 01 0v
    version = v.length === 3 && v[0] === TAG_INTEGER && v[1] === 1 && v[2]! <= 2 ? v[2]! + 1 : 0;
  } else if (strict) {
    r.fail('version must be present (v3)');
  }
  const serialT = next();
  if (serialT.tag !== TAG_INTEGER) r.fail('serialNumber must be an INTEGER');
  const serial = r.content(serialT);
  if (strict) {
    checkInteger(r, serial, 'serialNumber');
    if (serial[0]! & 0x80) r.fail('serialNumber is negative');
    if (serial.length > 21) r.fail('serialNumber longer than 20 octets');
  }
  const tbsAlg = next();
  if (strict) {
    if (algorithmId(r, tbsAlg, 'signature', strict) !== signatureAlgorithm || !bytesEqual(r.whole(tbsAlg), r.whole(algT))) {
      r.fail('tbsCertificate signature algorithm differs from signatureAlgorithm');
    }
  } else if (tbsAlg.tag !== TAG_SEQUENCE) {
    r.fail('signature must be a SEQUENCE');
  }
  const issuerT = next();
  const issuerName = parseName(r, issuerT, 'issuer', strict);
  const validity = next();
  if (validity.tag !== TAG_SEQUENCE) r.fail('validity must be a SEQUENCE');
  const times = r.children(validity);
  if (times.length !== 2) r.fail('validity must have 2 times');
  const notBefore = decodeTime(r, times[0]!, 'notBefore', strict);
  const notAfter = decodeTime(r, times[1]!, 'notAfter', strict);
  const subjectT = next();
  const subjectName = parseName(r, subjectT, 'subject', strict);
  const spkiT = next();
  const { keyAlgorithm, keyCurve, publicKey } = publicKeyInfo(r, spkiT, strict);

  let extensions: CertificateExtension[] = [];
  let basicConstraints: ParsedCertificate['basicConstraints'];
  let keyUsage: ParsedCertificate['keyUsage'];
  if (strict) {
    const extT = f[i++];
    if (!extT || extT.tag !== TAG_CTX3) r.fail('extensions must be present and nothing else may follow the key');
    if (i !== f.length) r.fail('unexpected fields after the extensions');
    extensions = parseExtensions(r, extT);
    for (const e of extensions) {
      if (e.oid === OID_BASIC_CONSTRAINTS) basicConstraints = { ...parseBasicConstraints(e.value, label, profile.code), critical: e.critical };
      else if (e.oid === OID_KEY_USAGE) keyUsage = { bits: parseKeyUsage(e.value, label, profile.code), critical: e.critical };
    }
  }
  return {
    der,
    tbs: r.whole(tbsT),
    version,
    serial,
    signatureAlgorithm,
    issuer: r.whole(issuerT),
    subject: r.whole(subjectT),
    issuerAttributes: issuerName.attributes,
    subjectAttributes: subjectName.attributes,
    issuerText: issuerName.text,
    subjectText: subjectName.text,
    notBefore: notBefore.ms,
    notAfter: notAfter.ms,
    notBeforeTime: notBefore,
    notAfterTime: notAfter,
    spki: r.whole(spkiT),
    keyAlgorithm,
    publicKey,
    keyCurve,
    signatureValue,
    extensions,
    basicConstraints,
    keyUsage,
  };
}

/** ECDSA signature of a certificate as fixed-width r‖s for `size`-byte scalars (`code` if not DER). */
export function certificateSignatureRaw(cert: ParsedCertificate, size: number, label: string, code: ErrorCode): Uint8Array {
  return ecdsaDerToRaw(cert.signatureValue, size, code, `${label}: signatureValue`);
}

/** DER INTEGER content rules: non-empty and minimal (X.690 §8.3.2). */
function checkInteger(r: DerReader, c: Uint8Array, what: string): void {
  if (c.length === 0) r.fail(`${what}: empty INTEGER`);
  if (c.length > 1 && ((c[0] === 0 && (c[1]! & 0x80) === 0) || (c[0] === 0xff && (c[1]! & 0x80) !== 0))) {
    r.fail(`${what}: non-minimal INTEGER`);
  }
}

/**
 * AlgorithmIdentifier: SEQUENCE { OID, parameters? }. Strict: at most one parameter, and none for ECDSA
 * (RFC 5758 §3.2).
 */
function algorithmId(r: DerReader, t: Tlv, what: string, strict: boolean): string {
  if (t.tag !== TAG_SEQUENCE) r.fail(`${what} must be a SEQUENCE`);
  const parts = r.children(t);
  if (parts.length < 1 || (strict && parts.length > 2) || parts[0]!.tag !== TAG_OID) r.fail(`${what}: bad AlgorithmIdentifier`);
  const oid = r.oid(parts[0]!);
  if (strict && oid.startsWith('1.2.840.10045.4.3.') && parts.length !== 1) r.fail(`${what}: ECDSA parameters must be absent`);
  return oid;
}

/**
 * BIT STRING of signatures and keys; returns the bits. Strict: a whole number of bytes (no unused bits), at
 * least one. Lenient: the unused-bits byte is skipped unread; `minLength` bytes of content are required.
 */
function bitString(r: DerReader, t: Tlv, what: string, strict: boolean, minLength = 1): Uint8Array {
  if (t.tag !== TAG_BIT_STRING) r.fail(`${what} must be a BIT STRING`);
  const c = r.content(t);
  if (strict ? c.length < 2 || c[0] !== 0 : c.length < minLength) r.fail(`${what}: must be a whole number of bytes`);
  return c.subarray(Math.min(1, c.length));
}

function publicKeyInfo(r: DerReader, t: Tlv, strict: boolean): { keyAlgorithm: string; keyCurve: string | undefined; publicKey: Uint8Array } {
  if (t.tag !== TAG_SEQUENCE) r.fail('subjectPublicKeyInfo must be a SEQUENCE');
  const parts = r.children(t);
  if (parts.length !== 2 || parts[0]!.tag !== TAG_SEQUENCE) r.fail('bad subjectPublicKeyInfo');
  const alg = r.children(parts[0]!);
  if (alg.length < 1 || (strict && alg.length > 2) || alg[0]!.tag !== TAG_OID) r.fail('bad key AlgorithmIdentifier');
  const keyAlgorithm = r.oid(alg[0]!);
  let keyCurve: string | undefined;
  if (keyAlgorithm === OID_EC_PUBLIC_KEY) {
    if (alg.length === 2 && alg[1]!.tag === TAG_OID) keyCurve = r.oid(alg[1]!);
    else if (strict) r.fail('EC key must name its curve (namedCurve OID)');
  }
  return { keyAlgorithm, keyCurve, publicKey: bitString(r, parts[1]!, 'subjectPublicKey', strict, 0) };
}

function parseExtensions(r: DerReader, t: Tlv): CertificateExtension[] {
  const inner = r.children(t);
  if (inner.length !== 1 || inner[0]!.tag !== TAG_SEQUENCE) r.fail('extensions must be one SEQUENCE');
  const list = r.children(inner[0]!);
  if (list.length === 0) r.fail('extensions must not be empty');
  const out: CertificateExtension[] = [];
  const seen = new Set<string>();
  for (const e of list) {
    if (e.tag !== TAG_SEQUENCE) r.fail('Extension must be a SEQUENCE');
    const p = r.children(e);
    if (p.length < 2 || p.length > 3 || p[0]!.tag !== TAG_OID) r.fail('bad Extension');
    const oid = r.oid(p[0]!);
    if (seen.has(oid)) r.fail(`extension ${oid} appears twice`);
    seen.add(oid);
    let critical = false;
    if (p.length === 3) {
      const b = p[1]!;
      if (b.tag !== TAG_BOOLEAN) r.fail('Extension critical must be a BOOLEAN');
      const c = r.content(b);
      if (c.length !== 1 || c[0] !== 0xff) r.fail('Extension critical must be TRUE when present (DER omits FALSE)');
      critical = true;
    }
    const valT = p[p.length - 1]!;
    if (valT.tag !== TAG_OCTET_STRING) r.fail('extnValue must be an OCTET STRING');
    out.push({ oid, critical, value: r.content(valT) });
  }
  return out;
}

/** BasicConstraints (RFC 5280 §4.2.1.9): cA only as TRUE (DER omits the FALSE default), pathLen 0..32767. */
function parseBasicConstraints(value: Uint8Array, label: string, code: ErrorCode): { ca: boolean; pathLen: number | undefined } {
  const r = new DerReader(value, code, `${label}: basicConstraints`);
  const seq = r.expect(0, TAG_SEQUENCE, value.length, 'BasicConstraints');
  if (seq.end !== value.length) r.fail('trailing bytes');
  const p = r.children(seq);
  let i = 0;
  let ca = false;
  let pathLen: number | undefined;
  if (p[i]?.tag === TAG_BOOLEAN) {
    const c = r.content(p[i]!);
    if (c.length !== 1 || c[0] !== 0xff) r.fail('cA must be TRUE when present (DER omits FALSE)');
    ca = true;
    i++;
  }
  if (p[i]?.tag === TAG_INTEGER) {
    const c = r.content(p[i]!);
    checkInteger(r, c, 'pathLenConstraint');
    if (c[0]! & 0x80 || c.length > 2) r.fail('pathLenConstraint out of range');
    pathLen = c.length === 2 ? (c[0]! << 8) | c[1]! : c[0]!;
    i++;
  }
  if (i !== p.length) r.fail('unexpected content');
  return { ca, pathLen };
}

/** KeyUsage BIT STRING (RFC 5280 §4.2.1.3; DER named bit list: unused bits zero, no trailing zero bits). */
function parseKeyUsage(value: Uint8Array, label: string, code: ErrorCode): number {
  const r = new DerReader(value, code, `${label}: keyUsage`);
  const t = r.expect(0, TAG_BIT_STRING, value.length, 'KeyUsage');
  if (t.end !== value.length) r.fail('trailing bytes');
  const c = r.content(t);
  if (c.length < 1 || c.length > 3 || c[0]! > 7) r.fail('bad BIT STRING');
  const unused = c[0]!;
  if (c.length === 1) {
    if (unused !== 0) r.fail('bad BIT STRING');
    return 0;
  }
  const last = c[c.length - 1]!;
  if (last & ((1 << unused) - 1)) r.fail('unused bits must be zero');
  if (!(last & (1 << unused))) r.fail('trailing zero bits (not DER)');
  let bits = 0;
  for (let i = 1; i < c.length; i++) {
    for (let b = 0; b < 8; b++) if (c[i]! & (0x80 >> b)) bits |= 1 << ((i - 1) * 8 + b);
  }
  return bits;
}
