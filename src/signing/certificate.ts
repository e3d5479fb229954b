/**
 * The signing certificate: the PEM file whose first certificate's DER is measured into PCR8 (eif-format.md §3.2,
 * §4.4), whose EC public key verifies the COSE signature (§4.6), and whose issuer / validity / signature nitro-cli's
 * `describe-eif` prints as `SigningCertificate` (§6.3). Browser-safe: parsed by the one X.509 reader
 * (src/pki/x509.ts), keys via WebCrypto (src/pki/ecdsa.ts).
 */
import { EifError } from '../errors.js';
import { pcrOfBytes } from '../eif/pcr.js';
import { toHex } from '../util/hex.js';
import { CURVE_NAMES, KEY_ALGORITHM_NAMES, algorithmForCurveOid, type EcdsaAlgorithm } from '../pki/algorithms.js';
import { importEcdsaPublicKey } from '../pki/ecdsa.js';
import { pemBlocks } from '../pki/pem.js';
import { OID_EC_PUBLIC_KEY, parseCertificate, type ParsedCertificate, type X509Profile } from '../pki/x509.js';
import { opensslTimeText } from '../pki/x509-time.js';

export type { ParsedCertificate } from '../pki/x509.js';

/**
 * How a signing certificate is read: what OpenSSL's `X509::from_pem` (nitro-cli, eif_build) accepts, with the
 * shared strict DER reader (src/pki/x509.ts, lenient profile).
 */
export const SIGNING_X509: X509Profile = { strict: false, code: 'SIG_CERT_UNREADABLE' };

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
 *
 * @example
 * import { parseCertificatePem, certificateInfo } from 'eifkit/browser';
 * const cert = parseCertificatePem(certificatePem);
 * console.log(certificateInfo(cert).NotAfter);
 */
export function parseCertificatePem(pem: Uint8Array | string): ParsedCertificate {
  const block = pemBlocks(pem).find((b) => CERT_LABELS.has(b.label));
  if (!block) throw new EifError('SIG_CERT_NOT_PEM', 'signing certificate is not PEM: no "-----BEGIN CERTIFICATE-----" block found');
  if (!block.der) throw new EifError('SIG_CERT_NOT_PEM', 'signing certificate PEM block is damaged (bad base64 or missing END line)');
  return parseCertificateDer(block.der);
}

/**
 * PCR8 for a signing certificate file: extend(SHA384(DER of its first certificate)), lowercase hex (§4.4).
 *
 * @example
 * import { pcr8FromCertificatePem } from 'eifkit/browser';
 * const pcr8 = pcr8FromCertificatePem(certificatePem); // PEM text or bytes → 96 hex digits
 */
export function pcr8FromCertificatePem(pem: Uint8Array | string): string {
  return toHex(pcrOfBytes(parseCertificatePem(pem).der));
}

/** Parse one DER X.509 certificate (RFC 5280 §4.1): no trailing bytes, all lengths in bounds (SIG_CERT_UNREADABLE). */
export function parseCertificateDer(der: Uint8Array): ParsedCertificate {
  return parseCertificate(der, 'signing certificate', SIGNING_X509);
}

/**
 * nitro-cli's `SigningCertificate` fields for a parsed certificate (§6.3).
 *
 * @example
 * import { parseCertificatePem, certificateInfo } from 'eifkit/browser';
 * const { IssuerName, Algorithm, NotBefore, NotAfter } = certificateInfo(parseCertificatePem(certificatePem));
 */
export function certificateInfo(cert: ParsedCertificate): CertificateInfo {
  const names = new Map<string, string>();
  for (const a of cert.issuerAttributes) names.set(ATTRIBUTE_LONG_NAMES[a.oid] ?? a.oid, decodeDirectoryString(a.tag, a.value)); // BTreeMap: last wins
  const IssuerName: Record<string, string> = {};
  for (const k of [...names.keys()].sort(compareCodeUnits)) IssuerName[k] = names.get(k)!;
  return {
    IssuerName,
    Algorithm: SIGNATURE_ALGORITHM_LONG_NAMES[cert.signatureAlgorithm] ?? cert.signatureAlgorithm,
    NotBefore: opensslTimeText(cert.notBeforeTime),
    NotAfter: opensslTimeText(cert.notAfterTime),
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
  if (cert.keyAlgorithm !== OID_EC_PUBLIC_KEY) {
    const name = KEY_ALGORITHM_NAMES[cert.keyAlgorithm] ?? cert.keyAlgorithm;
    throw new EifError('SIG_UNSUPPORTED_KEY', `the signing certificate holds a ${name} key; EIF signatures need an ECDSA key on P-256, P-384 or P-521`);
  }
  const alg = cert.keyCurve ? algorithmForCurveOid(cert.keyCurve) : undefined;
  if (!alg) {
    const name = cert.keyCurve ? (CURVE_NAMES[cert.keyCurve] ?? cert.keyCurve) : 'explicit-parameter';
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

// ---- nitro-cli's rendering of a Name ----

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
