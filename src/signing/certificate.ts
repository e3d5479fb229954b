/**
 * The signing certificate: the PEM file whose first certificate's DER is measured into PCR8 (eif-format.md §3.2,
 * §4.4), whose EC public key verifies the COSE signature (§4.6), and whose issuer / validity / signature nitro-cli's
 * `describe-eif` prints as `SigningCertificate` (§6.3). Browser-safe: DER parsed here, keys via WebCrypto.
 */
import { EifError } from '../errors.js';
import { pcrOfBytes } from '../eif/pcr.js';
import { toHex } from '../util/hex.js';
import { CURVE_NAMES, KEY_ALGORITHM_NAMES, OID_EC_PUBLIC_KEY, algorithmForCurveOid, type EcdsaAlgorithm } from './algorithms.js';
import {
  DerReader,
  TAG_BIT_STRING,
  TAG_GENERALIZED_TIME,
  TAG_INTEGER,
  TAG_OID,
  TAG_SEQUENCE,
  TAG_SET,
  TAG_UTC_TIME,
  type Tlv,
} from './der.js';
import { pemBlocks } from './pem.js';
import { importEcdsaPublicKey } from '../cose/verify.js';

/** The fields of an X.509 certificate signing needs. */
export interface ParsedCertificate {
  /** DER of the certificate exactly as it appeared in the PEM (what PCR8 measures). */
  readonly der: Uint8Array;
  /** Issuer attributes in certificate order: dotted OID and string value. */
  readonly issuer: readonly { oid: string; value: string }[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Validity times printed the way OpenSSL's ASN1_TIME_print does, e.g. `Jan  1 00:00:00 2024 GMT`. */
  readonly notBeforeText: string;
  readonly notAfterText: string;
  /** OID of the certificate's own signature algorithm (outer `signatureAlgorithm`). */
  readonly signatureAlgorithmOid: string;
  /** Bytes of the certificate's `signatureValue` BIT STRING. */
  readonly signatureValue: Uint8Array;
  /** The whole SubjectPublicKeyInfo DER (importable as `spki`). */
  readonly spki: Uint8Array;
  /** OID of the subject key's algorithm (`1.2.840.10045.2.1` for EC). */
  readonly keyAlgorithmOid: string;
  /** Named curve OID for EC keys. */
  readonly curveOid: string | undefined;
}

/** nitro-cli's `SigningCertificate` object (eif-format.md §6.3). */
export interface CertificateInfo {
  /** Issuer attributes keyed by OpenSSL long name (dotted OID when OpenSSL would not know it), keys sorted. */
  IssuerName: Record<string, string>;
  /** OpenSSL long name of the certificate's signature algorithm, e.g. `ecdsa-with-SHA384`. */
  Algorithm: string;
  NotBefore: string;
  NotAfter: string;
  /** The certificate's signature bytes as uppercase hex joined by ':'. */
  Signature: string;
}

const CERT_LABELS = new Set(['CERTIFICATE', 'X509 CERTIFICATE']);

/**
 * The first certificate of a PEM file (what OpenSSL's `X509::from_pem` reads). Throws SIG_CERT_NOT_PEM when there
 * is no readable CERTIFICATE block, SIG_CERT_UNREADABLE when its DER is not an X.509 certificate.
 */
export function parseCertificatePem(pem: Uint8Array | string): ParsedCertificate {
  const block = pemBlocks(pem).find((b) => CERT_LABELS.has(b.label));
  if (!block) throw new EifError('SIG_CERT_NOT_PEM', 'signing certificate is not PEM: no "-----BEGIN CERTIFICATE-----" block found');
  if (!block.der) throw new EifError('SIG_CERT_NOT_PEM', 'signing certificate PEM block is damaged (bad base64 or missing END line)');
  return parseCertificateDer(block.der);
}

/** PCR8 for a signing certificate file: extend(SHA384(DER of its first certificate)), lowercase hex (§4.4). */
export function pcr8FromCertificatePem(pem: Uint8Array | string): string {
  return toHex(pcrOfBytes(parseCertificatePem(pem).der));
}

/** Parse one DER X.509 certificate (RFC 5280 §4.1), strictly: no trailing bytes, all lengths in bounds. */
export function parseCertificateDer(der: Uint8Array): ParsedCertificate {
  const r = new DerReader(der, 'SIG_CERT_UNREADABLE', 'signing certificate');
  const cert = r.expect(0, TAG_SEQUENCE, der.length, 'Certificate');
  if (cert.end !== der.length) r.fail('trailing bytes after the certificate');
  const [tbs, sigAlg, sigValue, ...extra] = r.children(cert);
  if (!tbs || !sigAlg || !sigValue || extra.length) r.fail('Certificate must have 3 elements');
  if (tbs.tag !== TAG_SEQUENCE || sigAlg.tag !== TAG_SEQUENCE || sigValue.tag !== TAG_BIT_STRING) r.fail('Certificate element types');

  const fields = r.children(tbs);
  let i = 0;
  if (fields[0]?.tag === 0xa0) i++; // [0] EXPLICIT version
  const [serial, innerSigAlg, issuer, validity, subject, spki] = fields.slice(i, i + 6);
  if (!serial || !innerSigAlg || !issuer || !validity || !subject || !spki) r.fail('TBSCertificate is missing fields');
  if (serial.tag !== TAG_INTEGER || innerSigAlg.tag !== TAG_SEQUENCE || issuer.tag !== TAG_SEQUENCE) r.fail('TBSCertificate field types');
  if (validity.tag !== TAG_SEQUENCE || subject.tag !== TAG_SEQUENCE || spki.tag !== TAG_SEQUENCE) r.fail('TBSCertificate field types');

  const [nb, na, ...moreTimes] = r.children(validity);
  if (!nb || !na || moreTimes.length) r.fail('Validity must have 2 times');
  const notBefore = parseTime(r, nb);
  const notAfter = parseTime(r, na);

  const [keyAlg, keyBits, ...moreKey] = r.children(spki);
  if (!keyAlg || !keyBits || moreKey.length || keyAlg.tag !== TAG_SEQUENCE || keyBits.tag !== TAG_BIT_STRING) r.fail('SubjectPublicKeyInfo');
  const [keyOid, keyParams] = r.children(keyAlg);
  if (!keyOid) r.fail('SubjectPublicKeyInfo algorithm');
  const keyAlgorithmOid = r.oid(keyOid);
  const curveOid = keyAlgorithmOid === OID_EC_PUBLIC_KEY && keyParams?.tag === TAG_OID ? r.oid(keyParams) : undefined;

  const [sigOid] = r.children(sigAlg);
  if (!sigOid) r.fail('signatureAlgorithm');
  const sigBits = r.content(sigValue);
  if (sigBits.length < 1) r.fail('empty signatureValue');

  return {
    der: der.slice(),
    issuer: parseName(r, issuer),
    notBefore: notBefore.date,
    notAfter: notAfter.date,
    notBeforeText: notBefore.text,
    notAfterText: notAfter.text,
    signatureAlgorithmOid: r.oid(sigOid),
    signatureValue: sigBits.slice(1),
    spki: r.whole(spki).slice(),
    keyAlgorithmOid,
    curveOid,
  };
}

/** nitro-cli's `SigningCertificate` fields for a parsed certificate (§6.3). */
export function certificateInfo(cert: ParsedCertificate): CertificateInfo {
  const names = new Map<string, string>();
  for (const { oid, value } of cert.issuer) names.set(ATTRIBUTE_LONG_NAMES[oid] ?? oid, value); // BTreeMap: last wins
  const IssuerName: Record<string, string> = {};
  for (const k of [...names.keys()].sort(compareCodeUnits)) IssuerName[k] = names.get(k)!;
  return {
    IssuerName,
    Algorithm: SIGNATURE_ALGORITHM_LONG_NAMES[cert.signatureAlgorithmOid] ?? cert.signatureAlgorithmOid,
    NotBefore: cert.notBeforeText,
    NotAfter: cert.notAfterText,
    Signature: Array.from(cert.signatureValue, (b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':'),
  };
}

/** Rust's BTreeMap<String, _> orders by bytes; for these ASCII names that is code-unit order. */
function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The ECDSA algorithm the certificate's key implies, or a SIG_UNSUPPORTED_KEY error naming what was found
 * (RSA, Ed25519, an unsupported curve...).
 */
export function certificateAlgorithm(cert: ParsedCertificate): EcdsaAlgorithm {
  if (cert.keyAlgorithmOid !== OID_EC_PUBLIC_KEY) {
    const name = KEY_ALGORITHM_NAMES[cert.keyAlgorithmOid] ?? cert.keyAlgorithmOid;
    throw new EifError('SIG_UNSUPPORTED_KEY', `the signing certificate holds a ${name} key; EIF signatures need an ECDSA key on P-256, P-384 or P-521`);
  }
  const alg = cert.curveOid ? algorithmForCurveOid(cert.curveOid) : undefined;
  if (!alg) {
    const name = cert.curveOid ? (CURVE_NAMES[cert.curveOid] ?? cert.curveOid) : 'explicit-parameter';
    throw new EifError('SIG_UNSUPPORTED_KEY', `the signing certificate's EC key is on curve ${name}; only P-256, P-384 and P-521 are supported`);
  }
  return alg;
}

/** Import the certificate's public key for ECDSA verification. */
export async function certificatePublicKey(cert: ParsedCertificate, alg: EcdsaAlgorithm): Promise<CryptoKey> {
  try {
    return await importEcdsaPublicKey(cert.spki, alg);
  } catch (e) {
    throw new EifError('SIG_CERT_UNREADABLE', `the signing certificate's public key cannot be used: ${(e as Error).message}`, { cause: e });
  }
}

// ---- Name and Time ----

function parseName(r: DerReader, name: Tlv): { oid: string; value: string }[] {
  const out: { oid: string; value: string }[] = [];
  for (const rdn of r.children(name)) {
    if (rdn.tag !== TAG_SET) r.fail('Name: expected a SET');
    for (const atv of r.children(rdn)) {
      if (atv.tag !== TAG_SEQUENCE) r.fail('Name: expected an AttributeTypeAndValue');
      const [type, value, ...rest] = r.children(atv);
      if (!type || !value || rest.length) r.fail('AttributeTypeAndValue');
      out.push({ oid: r.oid(type), value: decodeDirectoryString(value.tag, r.content(value)) });
    }
  }
  return out;
}

/** ASN1_STRING_to_UTF8 for the string types a Name uses; anything else shown as RFC 4514 `#hex`. */
function decodeDirectoryString(tag: number, c: Uint8Array): string {
  switch (tag) {
    case 0x0c: // UTF8String
      return new TextDecoder('utf-8').decode(c);
    case 0x12: // NumericString
    case 0x13: // PrintableString
    case 0x16: // IA5String
    case 0x1a: // VisibleString
    case 0x14: // TeletexString (OpenSSL treats it as Latin-1)
      return new TextDecoder('latin1').decode(c);
    case 0x1e: // BMPString, UTF-16BE
      return c.length % 2 ? '#' + toHex(c) : String.fromCharCode(...Array.from({ length: c.length / 2 }, (_, i) => (c[2 * i]! << 8) | c[2 * i + 1]!));
    case 0x1c: {
      // UniversalString, UTF-32BE
      if (c.length % 4) return '#' + toHex(c);
      const dv = new DataView(c.buffer, c.byteOffset, c.length);
      let s = '';
      for (let i = 0; i < c.length; i += 4) {
        const cp = dv.getUint32(i);
        s += cp <= 0x10ffff ? String.fromCodePoint(cp) : '\ufffd';
      }
      return s;
    }
    default:
      return '#' + toHex(c);
  }
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** UTCTime (YYMMDDHHMMSSZ) or GeneralizedTime (YYYYMMDDHHMMSS[.f+]Z), as DER requires (RFC 5280 §4.1.2.5). */
function parseTime(r: DerReader, t: Tlv): { date: Date; text: string } {
  const s = new TextDecoder('latin1').decode(r.content(t));
  const m =
    t.tag === TAG_UTC_TIME
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(s)
      : t.tag === TAG_GENERALIZED_TIME
        ? /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\.\d*[1-9])?Z$/.exec(s)
        : null;
  if (!m) r.fail(`bad validity time ${JSON.stringify(s.slice(0, 32))}`);
  let year = Number(m[1]);
  if (t.tag === TAG_UTC_TIME) year += year >= 50 ? 1900 : 2000;
  const [mon, day, hh, mm, ss] = [m[2], m[3], m[4], m[5], m[6]].map(Number) as [number, number, number, number, number];
  const fraction = t.tag === TAG_GENERALIZED_TIME ? (m[7] ?? '') : '';
  const ms = Date.UTC(year, mon - 1, day, hh, mm, ss) + (fraction ? Math.floor(Number(fraction) * 1000) : 0);
  const date = new Date(ms);
  if (mon < 1 || mon > 12 || date.getUTCDate() !== day || hh > 23 || mm > 59 || ss > 59) r.fail(`bad validity time ${JSON.stringify(s)}`);
  const pad = (n: number): string => String(n).padStart(2, '0');
  const text = `${MONTHS[mon - 1]} ${String(day).padStart(2, ' ')} ${pad(hh)}:${pad(mm)}:${pad(ss)}${fraction} ${year} GMT`;
  return { date, text };
}

// ---- OpenSSL long names (obj_mac.h) for what certificates carry ----

const ATTRIBUTE_LONG_NAMES: Record<string, string> = {
  '2.5.4.3': 'commonName',
  '2.5.4.4': 'surname',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'countryName',
  '2.5.4.7': 'localityName',
  '2.5.4.8': 'stateOrProvinceName',
  '2.5.4.9': 'streetAddress',
  '2.5.4.10': 'organizationName',
  '2.5.4.11': 'organizationalUnitName',
  '2.5.4.12': 'title',
  '2.5.4.13': 'description',
  '2.5.4.15': 'businessCategory',
  '2.5.4.17': 'postalCode',
  '2.5.4.41': 'name',
  '2.5.4.42': 'givenName',
  '2.5.4.43': 'initials',
  '2.5.4.44': 'generationQualifier',
  '2.5.4.46': 'dnQualifier',
  '2.5.4.65': 'pseudonym',
  '2.5.4.97': 'organizationIdentifier',
  '1.2.840.113549.1.9.1': 'emailAddress',
  '0.9.2342.19200300.100.1.1': 'userId',
  '0.9.2342.19200300.100.1.25': 'domainComponent',
  '1.3.6.1.4.1.311.60.2.1.1': 'jurisdictionLocalityName',
  '1.3.6.1.4.1.311.60.2.1.2': 'jurisdictionStateOrProvinceName',
  '1.3.6.1.4.1.311.60.2.1.3': 'jurisdictionCountryName',
};

const SIGNATURE_ALGORITHM_LONG_NAMES: Record<string, string> = {
  '1.2.840.10045.4.1': 'ecdsa-with-SHA1',
  '1.2.840.10045.4.3.1': 'ecdsa-with-SHA224',
  '1.2.840.10045.4.3.2': 'ecdsa-with-SHA256',
  '1.2.840.10045.4.3.3': 'ecdsa-with-SHA384',
  '1.2.840.10045.4.3.4': 'ecdsa-with-SHA512',
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.113549.1.1.10': 'rsassaPss',
  '1.2.840.113549.1.1.11': 'sha256WithRSAEncryption',
  '1.2.840.113549.1.1.12': 'sha384WithRSAEncryption',
  '1.2.840.113549.1.1.13': 'sha512WithRSAEncryption',
  '1.3.101.112': 'ED25519',
  '1.3.101.113': 'ED448',
};
