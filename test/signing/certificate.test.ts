/**
 * The signing certificate as nitro-cli's describe-eif prints it (eif-format.md §6.3) and its PCR8 (§4.4),
 * cross-checked field by field against the openssl CLI (OpenSSL is what nitro-cli uses to print them).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/eif.js';
import { describeShared, readShared } from '../helpers/shared.js';
import { HAVE_OPENSSL, certDer, makeEcKey, openssl, type TestKey } from './keys.js';
import { certificateInfo, parseCertificatePem, pcr8FromCertificatePem } from '../../src/signing/certificate.js';
import { initCore } from '../../src/core/index.js';
import { pcrOfBytes } from '../../src/eif/pcr.js';
import { EifError } from '../../src/errors.js';
import { toHex } from '../../src/util/hex.js';

function code(fn: () => unknown): string {
  try {
    fn();
    return 'no error';
  } catch (e) {
    if (e instanceof EifError) return e.code;
    throw e;
  }
}

/** What openssl says, in nitro-cli's SigningCertificate shape. */
function opensslInfo(certPath: string) {
  const issuerLines = openssl(['x509', '-in', certPath, '-noout', '-issuer', '-nameopt', 'sep_multiline,lname,utf8,-esc_msb,-esc_2253,-esc_ctrl'])
    .toString('utf8')
    .split('\n')
    .slice(1)
    .filter((l) => l.trim());
  const names = new Map<string, string>();
  for (const l of issuerLines) {
    const t = l.trim();
    const eq = t.indexOf('=');
    names.set(t.slice(0, eq), t.slice(eq + 1));
  }
  const IssuerName = Object.fromEntries([...names.keys()].sort().map((k) => [k, names.get(k)!]));
  const dates = openssl(['x509', '-in', certPath, '-noout', '-startdate', '-enddate']).toString().trim().split('\n');
  const text = openssl(['x509', '-in', certPath, '-noout', '-text']).toString();
  const alg = /Signature Algorithm: (\S+)/.exec(text)![1];
  const sigHex = text.slice(text.lastIndexOf('Signature Value:')).split('\n').slice(1).join('').replace(/\s/g, '');
  return {
    IssuerName,
    Algorithm: alg,
    NotBefore: dates[0]!.replace('notBefore=', ''),
    NotAfter: dates[1]!.replace('notAfter=', ''),
    Signature: sigHex.toUpperCase(),
  };
}

describe.skipIf(!HAVE_OPENSSL)('certificateInfo matches openssl', () => {
  const dir = tempDir();
  const certs: TestKey[] = [];
  beforeAll(async () => {
    await initCore();
    certs.push(makeEcKey(dir, 'simple', 'P-384', { subject: '/C=US/O=Example/CN=eif signer', days: 400 }));
    // Many attribute types, repeated OU, UTF-8 values, and a GeneralizedTime notAfter (year > 2049).
    certs.push(
      makeEcKey(dir, 'rich', 'P-256', {
        subject: '/DC=org/DC=example/C=DE/ST=Berlin/L=Bärlin/O=Ex Corp/OU=one/OU=two/CN=signer ü/emailAddress=a@b.c/serialNumber=42',
        days: 36500,
      }),
    );
    certs.push(makeEcKey(dir, 'p521', 'P-521', { subject: '/CN=only a common name', days: 1 }));
  });

  it('IssuerName (long names, sorted, last wins), Algorithm, NotBefore/NotAfter (ASN1_TIME_print), Signature', () => {
    for (const k of certs) {
      const info = certificateInfo(parseCertificatePem(k.certPem));
      expect(info).toEqual(opensslInfo(k.certPath));
    }
    expect(Object.keys(certificateInfo(parseCertificatePem(certs[1]!.certPem)).IssuerName)).toEqual([
      'commonName',
      'countryName',
      'domainComponent',
      'emailAddress',
      'localityName',
      'organizationName',
      'organizationalUnitName',
      'serialNumber',
      'stateOrProvinceName',
    ]);
  });

  it('PCR8 = extend(SHA384(DER of the FIRST certificate)); text around the PEM block is ignored', () => {
    const [a, b] = certs as [TestKey, TestKey];
    const expected = toHex(pcrOfBytes(certDer(a.certPath)));
    expect(pcr8FromCertificatePem(a.certPem)).toBe(expected);
    const bundle = new TextEncoder().encode(`Bag Attributes: x\nsubject=/CN=x\n${new TextDecoder().decode(a.certPem)}${new TextDecoder().decode(b.certPem)}`);
    expect(pcr8FromCertificatePem(bundle)).toBe(expected);
    expect(pcr8FromCertificatePem(new TextDecoder().decode(a.certPem).replace(/\n/g, '\r\n'))).toBe(expected);
  });

  it('the parsed DER is exactly the PEM content', () => {
    const k = certs[0]!;
    expect(toHex(parseCertificatePem(k.certPem).der)).toBe(toHex(certDer(k.certPath)));
  });
});

describeShared('the synthetic test certificate', () => {
  it('gives the published PCR8 and cert DER digest', async () => {
    await initCore();
    const expected = JSON.parse(new TextDecoder().decode(readShared('eif/synthetic/expected.json')))['synthetic/min-signed.eif'];
    expect(pcr8FromCertificatePem(readShared('eif/synthetic/test-signing-cert.pem'))).toBe(expected.measurements.PCR8);
  });
});

describe('bad certificates: stable codes', () => {
  const pem = (body: string) => `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
  const b64 = (bytes: number[]) => Buffer.from(bytes).toString('base64');
  const cases: [string, string, string][] = [
    ['no PEM block', 'hello', 'SIG_CERT_NOT_PEM'],
    ['a private key only', '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n', 'SIG_CERT_NOT_PEM'],
    ['base64 with a bad character', pem('MI!B'), 'SIG_CERT_NOT_PEM'],
    ['no END line', '-----BEGIN CERTIFICATE-----\nMIIB\n', 'SIG_CERT_NOT_PEM'],
    ['mismatched END line', '-----BEGIN CERTIFICATE-----\nMIIB\n-----END PRIVATE KEY-----\n', 'SIG_CERT_NOT_PEM'],
    ['DER that is not a SEQUENCE', pem(b64([2, 1, 0])), 'SIG_CERT_UNREADABLE'],
    ['a SEQUENCE claiming 2^31 bytes', pem(b64([0x30, 0x84, 0x80, 0, 0, 0, 1, 2])), 'SIG_CERT_UNREADABLE'],
    ['an indefinite length', pem(b64([0x30, 0x80, 0, 0])), 'SIG_CERT_UNREADABLE'],
    ['an empty SEQUENCE', pem(b64([0x30, 0])), 'SIG_CERT_UNREADABLE'],
    ['trailing bytes after the certificate', pem(b64([0x30, 0, 0])), 'SIG_CERT_UNREADABLE'],
  ];
  for (const [what, text, c] of cases) {
    it(`${what} -> ${c}`, () => {
      expect(code(() => parseCertificatePem(text))).toBe(c);
    });
  }
});
