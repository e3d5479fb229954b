/**
 * The X.509 certificates of an attestation chain (RFC 5280 §4.1), parsed under a strict profile
 * (attestation.md §1.3 and §2.2 step 4): DER only (shortest lengths, DEFAULT values omitted, minimal INTEGERs,
 * BOOLEAN TRUE as FF), v3 with extensions, times in the RFC 5280 §4.1.2.5 form. What the chain check needs is
 * extracted: the signed TBS bytes, names (as DER, compared byte for byte), validity, the key, the signature as
 * r‖s, and basicConstraints / keyUsage with their criticality. Browser-safe; no allocation beyond the result.
 */
import {
  DerReader,
  TAG_BIT_STRING,
  TAG_GENERALIZED_TIME,
  TAG_INTEGER,
  TAG_OCTET_STRING,
  TAG_OID,
  TAG_SEQUENCE,
  TAG_SET,
  TAG_UTC_TIME,
  ecdsaDerToRaw,
  type Tlv,
} from '../signing/der.js';
import { bytesEqual } from '../util/hex.js';
import { AttestationFailure } from './errors.js';

export const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
export const OID_ECDSA_WITH_SHA384 = '1.2.840.10045.4.3.3';
export const OID_ECDSA_WITH_SHA512 = '1.2.840.10045.4.3.4';
export const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
export const OID_SECP384R1 = '1.3.132.0.34';
export const OID_BASIC_CONSTRAINTS = '2.5.29.19';
export const OID_KEY_USAGE = '2.5.29.15';

/** KeyUsage bits (RFC 5280 §4.2.1.3) as a mask: bit i of the named bit list is `1 << i`. */
export const KU_DIGITAL_SIGNATURE = 1 << 0;
export const KU_KEY_CERT_SIGN = 1 << 5;

const TAG_BOOLEAN = 0x01;
const TAG_CTX0 = 0xa0; // [0] EXPLICIT version
const TAG_CTX3 = 0xa3; // [3] EXPLICIT extensions

/** Upper bound on a certificate (attestation.md §1.2: `bstr .size (1..1024)`). */
export const MAX_CERTIFICATE_BYTES = 1024;

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
  /** serialNumber content bytes (big-endian, DER minimal). */
  readonly serial: Uint8Array;
  /** Outer signatureAlgorithm OID (equal to the TBS one — checked). */
  readonly signatureAlgorithm: string;
  /** Name DER (whole element), for byte comparison. */
  readonly issuer: Uint8Array;
  readonly subject: Uint8Array;
  /** Readable names, e.g. `C=US, O=Amazon, OU=AWS, CN=aws.nitro-enclaves`. */
  readonly issuerText: string;
  readonly subjectText: string;
  /** Validity in ms since the epoch (second precision). */
  readonly notBefore: number;
  readonly notAfter: number;
  /** SubjectPublicKeyInfo DER (whole element). */
  readonly spki: Uint8Array;
  readonly keyAlgorithm: string;
  /** subjectPublicKey bits (for EC keys the encoded point, 0x04 ‖ x ‖ y when uncompressed). */
  readonly publicKey: Uint8Array;
  /** Named-curve OID for EC keys. */
  readonly keyCurve: string | undefined;
  /** signatureValue content (a DER Ecdsa-Sig-Value for ECDSA). */
  readonly signatureValue: Uint8Array;
  readonly extensions: readonly CertificateExtension[];
  /** basicConstraints, when present. */
  readonly basicConstraints: { readonly ca: boolean; readonly pathLen: number | undefined; readonly critical: boolean } | undefined;
  /** keyUsage bit mask and criticality, when present. */
  readonly keyUsage: { readonly bits: number; readonly critical: boolean } | undefined;
}

/** Parse one certificate; throws AttestationFailure ATT_CERT_MALFORMED naming `label` (e.g. "cabundle[2]"). */
export function parseCertificate(der: Uint8Array, label: string): ParsedCertificate {
  if (der.length === 0 || der.length > MAX_CERTIFICATE_BYTES) {
    throw new AttestationFailure('ATT_CERT_MALFORMED', `${label}: certificate of ${der.length} bytes (must be 1..1024)`);
  }
  const r = new DerReader(der, 'ATT_CERT_MALFORMED', label);
  const cert = r.expect(0, TAG_SEQUENCE, der.length, 'Certificate');
  if (cert.end !== der.length) r.fail('trailing bytes after the certificate');
  const top = r.children(cert);
  if (top.length !== 3) r.fail('Certificate must have 3 elements');
  const [tbsT, algT, sigT] = top as [Tlv, Tlv, Tlv];
  if (tbsT.tag !== TAG_SEQUENCE) r.fail('tbsCertificate must be a SEQUENCE');
  const signatureAlgorithm = algorithmId(r, algT, 'signatureAlgorithm');
  const signatureValue = bitString(r, sigT, 'signatureValue');

  const f = r.children(tbsT);
  let i = 0;
  const next = (): Tlv => {
    const t = f[i++];
    if (!t) r.fail('tbsCertificate is missing fields');
    return t;
  };
  const ver = next();
  if (ver.tag !== TAG_CTX0) r.fail('version must be present (v3)');
  const verInner = r.children(ver);
  if (verInner.length !== 1 || verInner[0]!.tag !== TAG_INTEGER) r.fail('bad version field');
  const v = r.content(verInner[0]!);
  if (v.length !== 1 || v[0] !== 2) r.fail('certificate must be X.509 v3');
  const serialT = next();
  if (serialT.tag !== TAG_INTEGER) r.fail('serialNumber must be an INTEGER');
  const serial = r.content(serialT);
  checkInteger(r, serial, 'serialNumber');
  if (serial[0]! & 0x80) r.fail('serialNumber is negative');
  if (serial.length > 21) r.fail('serialNumber longer than 20 octets');
  const tbsAlg = next();
  if (algorithmId(r, tbsAlg, 'signature') !== signatureAlgorithm ||
    !bytesEqual(r.whole(tbsAlg), r.whole(algT))) {
    r.fail('tbsCertificate signature algorithm differs from signatureAlgorithm');
  }
  const issuerT = next();
  const issuerText = nameText(r, issuerT, 'issuer');
  const validity = next();
  if (validity.tag !== TAG_SEQUENCE) r.fail('validity must be a SEQUENCE');
  const times = r.children(validity);
  if (times.length !== 2) r.fail('validity must have 2 times');
  const notBefore = time(r, times[0]!, 'notBefore');
  const notAfter = time(r, times[1]!, 'notAfter');
  const subjectT = next();
  const subjectText = nameText(r, subjectT, 'subject');
  const spkiT = next();
  const { keyAlgorithm, keyCurve, publicKey } = publicKeyInfo(r, spkiT);
  const extT = f[i++];
  if (!extT || extT.tag !== TAG_CTX3) r.fail('extensions must be present and nothing else may follow the key');
  if (i !== f.length) r.fail('unexpected fields after the extensions');
  const extensions = parseExtensions(r, extT);

  let basicConstraints: ParsedCertificate['basicConstraints'];
  let keyUsage: ParsedCertificate['keyUsage'];
  for (const e of extensions) {
    if (e.oid === OID_BASIC_CONSTRAINTS) basicConstraints = { ...parseBasicConstraints(e.value, label), critical: e.critical };
    else if (e.oid === OID_KEY_USAGE) keyUsage = { bits: parseKeyUsage(e.value, label), critical: e.critical };
  }
  return {
    der,
    tbs: r.whole(tbsT),
    serial,
    signatureAlgorithm,
    issuer: r.whole(issuerT),
    subject: r.whole(subjectT),
    issuerText,
    subjectText,
    notBefore,
    notAfter,
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

/** ECDSA signature of a certificate as fixed-width r‖s for `size`-byte scalars (ATT_CERT_MALFORMED if not DER). */
export function certificateSignatureRaw(cert: ParsedCertificate, size: number, label: string): Uint8Array {
  return ecdsaDerToRaw(cert.signatureValue, size, 'ATT_CERT_MALFORMED', `${label}: signatureValue`);
}

/** DER INTEGER content rules: non-empty and minimal (X.690 §8.3.2). */
function checkInteger(r: DerReader, c: Uint8Array, what: string): void {
  if (c.length === 0) r.fail(`${what}: empty INTEGER`);
  if (c.length > 1 && ((c[0] === 0 && (c[1]! & 0x80) === 0) || (c[0] === 0xff && (c[1]! & 0x80) !== 0))) {
    r.fail(`${what}: non-minimal INTEGER`);
  }
}

/** AlgorithmIdentifier for an ECDSA signature: SEQUENCE { OID } — parameters absent (RFC 5758 §3.2). */
function algorithmId(r: DerReader, t: Tlv, what: string): string {
  if (t.tag !== TAG_SEQUENCE) r.fail(`${what} must be a SEQUENCE`);
  const parts = r.children(t);
  if (parts.length < 1 || parts.length > 2 || parts[0]!.tag !== TAG_OID) r.fail(`${what}: bad AlgorithmIdentifier`);
  const oid = r.oid(parts[0]!);
  if (oid.startsWith('1.2.840.10045.4.3.') && parts.length !== 1) r.fail(`${what}: ECDSA parameters must be absent`);
  return oid;
}

/** BIT STRING with no unused bits (signatures and keys); returns the bits. */
function bitString(r: DerReader, t: Tlv, what: string): Uint8Array {
  if (t.tag !== TAG_BIT_STRING) r.fail(`${what} must be a BIT STRING`);
  const c = r.content(t);
  if (c.length < 2 || c[0] !== 0) r.fail(`${what}: must be a whole number of bytes`);
  return c.subarray(1);
}

function publicKeyInfo(r: DerReader, t: Tlv): { keyAlgorithm: string; keyCurve: string | undefined; publicKey: Uint8Array } {
  if (t.tag !== TAG_SEQUENCE) r.fail('subjectPublicKeyInfo must be a SEQUENCE');
  const parts = r.children(t);
  if (parts.length !== 2 || parts[0]!.tag !== TAG_SEQUENCE) r.fail('bad subjectPublicKeyInfo');
  const alg = r.children(parts[0]!);
  if (alg.length < 1 || alg.length > 2 || alg[0]!.tag !== TAG_OID) r.fail('bad key AlgorithmIdentifier');
  const keyAlgorithm = r.oid(alg[0]!);
  let keyCurve: string | undefined;
  if (keyAlgorithm === OID_EC_PUBLIC_KEY) {
    if (alg.length !== 2 || alg[1]!.tag !== TAG_OID) r.fail('EC key must name its curve (namedCurve OID)');
    keyCurve = r.oid(alg[1]!);
  }
  return { keyAlgorithm, keyCurve, publicKey: bitString(r, parts[1]!, 'subjectPublicKey') };
}

const ATTRIBUTE_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

const STRING_TAGS = new Set([0x0c /* UTF8 */, 0x13 /* Printable */, 0x16 /* IA5 */, 0x14 /* Teletex */, 0x1e /* BMP */]);
const latin1 = new TextDecoder('latin1');
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Check a Name's structure and render it (attributes in certificate order). */
function nameText(r: DerReader, t: Tlv, what: string): string {
  if (t.tag !== TAG_SEQUENCE) r.fail(`${what} must be a SEQUENCE`);
  const out: string[] = [];
  for (const rdn of r.children(t)) {
    if (rdn.tag !== TAG_SET) r.fail(`${what}: RelativeDistinguishedName must be a SET`);
    const atvs = r.children(rdn);
    if (atvs.length === 0) r.fail(`${what}: empty RelativeDistinguishedName`);
    for (const atv of atvs) {
      if (atv.tag !== TAG_SEQUENCE) r.fail(`${what}: bad AttributeTypeAndValue`);
      const p = r.children(atv);
      if (p.length !== 2 || p[0]!.tag !== TAG_OID) r.fail(`${what}: bad AttributeTypeAndValue`);
      const oid = r.oid(p[0]!);
      const valT = p[1]!;
      let value: string;
      if (STRING_TAGS.has(valT.tag)) {
        const c = r.content(valT);
        try {
          value = valT.tag === 0x0c ? utf8.decode(c) : valT.tag === 0x1e ? bmp(c) : latin1.decode(c);
        } catch {
          r.fail(`${what}: attribute value is not valid UTF-8`);
        }
      } else {
        value = '#' + Array.from(r.whole(valT), (b) => b.toString(16).padStart(2, '0')).join('');
      }
      out.push(`${ATTRIBUTE_NAMES[oid] ?? oid}=${value}`);
    }
  }
  return out.join(', ');
}

function bmp(c: Uint8Array): string {
  if (c.length % 2) throw new Error('odd BMPString');
  let s = '';
  for (let i = 0; i < c.length; i += 2) s += String.fromCharCode((c[i]! << 8) | c[i + 1]!);
  return s;
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** UTCTime `YYMMDDHHMMSSZ` for 1950–2049, GeneralizedTime `YYYYMMDDHHMMSSZ` from 2050 (RFC 5280 §4.1.2.5). */
function time(r: DerReader, t: Tlv, what: string): number {
  const c = r.content(t);
  let year: number;
  let p: number;
  if (t.tag === TAG_UTC_TIME) {
    if (c.length !== 13) r.fail(`${what}: UTCTime must be YYMMDDHHMMSSZ`);
    const yy = digits(r, c, 0, 2, what);
    year = yy < 50 ? 2000 + yy : 1900 + yy;
    p = 2;
  } else if (t.tag === TAG_GENERALIZED_TIME) {
    if (c.length !== 15) r.fail(`${what}: GeneralizedTime must be YYYYMMDDHHMMSSZ`);
    year = digits(r, c, 0, 4, what);
    if (year < 2050) r.fail(`${what}: dates before 2050 must be UTCTime`);
    p = 4;
  } else {
    r.fail(`${what}: expected UTCTime or GeneralizedTime`);
  }
  if (c[c.length - 1] !== 0x5a /* Z */) r.fail(`${what}: time must end in Z`);
  const month = digits(r, c, p, 2, what);
  const day = digits(r, c, p + 2, 2, what);
  const hour = digits(r, c, p + 4, 2, what);
  const minute = digits(r, c, p + 6, 2, what);
  const second = digits(r, c, p + 8, 2, what);
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const mdays = month === 2 && leap ? 29 : DAYS[month - 1];
  if (month < 1 || month > 12 || day < 1 || day > mdays! || hour > 23 || minute > 59 || second > 59) {
    r.fail(`${what}: invalid date or time`);
  }
  return Date.UTC(year, month - 1, day, hour, minute, second);
}

function digits(r: DerReader, c: Uint8Array, at: number, n: number, what: string): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const d = c[i]! - 0x30;
    if (d < 0 || d > 9) r.fail(`${what}: time contains a non-digit`);
    v = v * 10 + d;
  }
  return v;
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

function parseBasicConstraints(value: Uint8Array, label: string): { ca: boolean; pathLen: number | undefined } {
  const r = new DerReader(value, 'ATT_CERT_MALFORMED', `${label}: basicConstraints`);
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

/** KeyUsage BIT STRING (DER named bit list: unused bits zero, no trailing zero bits). */
function parseKeyUsage(value: Uint8Array, label: string): number {
  const r = new DerReader(value, 'ATT_CERT_MALFORMED', `${label}: keyUsage`);
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
