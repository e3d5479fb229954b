/**
 * inspectSignatureSection (eif-format.md §4.6, Appendix B): the reference vectors, tampering verdicts, and a
 * stable error code — never a crash — for every kind of malformed section.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { describeShared, readShared } from '../helpers/shared.js';
import { tempDir } from '../helpers/eif.js';
import { HAVE_OPENSSL, makeEcKey, type TestKey } from './keys.js';
import { inspectSignatureSection, decodeEifCoseSign1 } from '../../src/signing/verify.js';
import { decodeSignatureSection, encodeSignatureSection } from '../../src/signing/section.js';
import { encodeCbor } from '../../src/cbor/encode.js';
import { encodeCoseSign1, encodeProtectedHeader } from '../../src/cose/sign1-encode.js';
import { verifyCoseSign1 } from '../../src/cose/verify.js';
import { importEcdsaPublicKey } from '../../src/pki/ecdsa.js';
import { ES256, ES384, ES512 } from '../../src/pki/algorithms.js';
import { createPemSigner } from '../../src/signing/signer.js';
import { parseCertificatePem } from '../../src/signing/certificate.js';
import { EifError } from '../../src/errors.js';
import { fromHex, toHex } from '../../src/util/hex.js';
import { codeOf } from '../helpers/errors.js';

const SYN_PCR0 = fromHex('091f733861ce80047477464aae689f6e655f9b1fac7845361b8f45de7627f50d24b2d23d5e62b2aa1ae725129feb7163');
const PCR0 = Uint8Array.from({ length: 48 }, (_, i) => (i * 7 + 3) & 0xff);
const OTHER_PCR0 = Uint8Array.from({ length: 48 }, (_, i) => (i * 13 + 1) & 0xff);

function pem(der: Uint8Array): Uint8Array {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n');
  return new TextEncoder().encode(`-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`);
}

describeShared('reference vectors', () => {
  it('min-signed.eif: PCR8 as expected, signature valid, payload matches the expected PCR0', async () => {
    const eif = readShared('eif/synthetic/min-signed.eif');
    const expected = JSON.parse(new TextDecoder().decode(readShared('eif/synthetic/expected.json')))['synthetic/min-signed.eif'];
    const off = expected.section_offsets[5] + 12;
    const section = eif.subarray(off, off + expected.section_sizes[5]);
    expect(toHex(section)).toBe(toHex(readShared('eif/synthetic/signature-section.cbor')));
    const r = await inspectSignatureSection(section, fromHex(expected.measurements.PCR0));
    expect(r.pcr8).toBe(expected.measurements.PCR8);
    expect(r.signatureValid).toBe(true);
    expect(r.payloadMatches).toBe(true);
    expect(r.algorithm).toBe('ES384');
    expect(r.certificate).toEqual({
      IssuerName: { commonName: 'eif-test-signer', countryName: 'US', organizationName: 'eif-research-test-vector' },
      Algorithm: 'ecdsa-with-SHA384',
      NotBefore: 'Jan  1 00:00:00 2024 GMT',
      NotAfter: 'Jan  1 00:00:00 2124 GMT',
      Signature: expect.stringMatching(/^30:65:02:31:00:A7:1C:13:75(:[0-9A-F]{2})+$/),
    });
    expect(r.notAfter.toISOString()).toBe('2124-01-01T00:00:00.000Z');
    const other = await inspectSignatureSection(section, OTHER_PCR0);
    expect([other.signatureValid, other.payloadMatches]).toEqual([true, false]);
  });

  const vectors = JSON.parse(new TextDecoder().decode(readShared('eif/cose/cose-c-vectors.json')));
  for (const [name, alg] of [['es256', ES256], ['es384', ES384], ['es512', ES512]] as const) {
    it(`COSE-C ${name} vector verifies (tag: ${vectors[name].tagged_18}) and fails after a one-byte change`, async () => {
      const v = vectors[name];
      const bytes = readShared('eif/cose', v.file);
      const msg = decodeEifCoseSign1(bytes);
      expect(msg.algorithm).toBe(alg);
      expect(msg.message.tagged).toBe(v.tagged_18);
      expect(new TextDecoder().decode(msg.payload)).toBe(v.payload_utf8);
      const x = Buffer.from(v.public_x_hex, 'hex');
      const y = Buffer.from(v.public_y_hex, 'hex');
      const point = new Uint8Array([4, ...x, ...y]);
      const key = await importEcdsaPublicKey(point, alg, 'raw');
      expect(await verifyCoseSign1(msg.message, key)).toBe(true);
      const bad = bytes.slice();
      bad[bad.length - 5] ^= 0x01;
      expect(await verifyCoseSign1(decodeEifCoseSign1(bad).message, key)).toBe(false);
    });
  }
});

describe.skipIf(!HAVE_OPENSSL)('verdicts on sections we sign (openssl-made P-384 key)', () => {
  let k: TestKey;
  let other: TestKey;
  let good: Uint8Array;
  beforeAll(async () => {
    const dir = tempDir();
    k = makeEcKey(dir, 'p384', 'P-384');
    other = makeEcKey(dir, 'other', 'P-384');
    const signer = await createPemSigner({ certificatePem: k.certPem, privateKeyPem: k.keyPem });
    good = (await signer.signatureSection(PCR0)).data;
  });

  it('untouched: valid and matching', async () => {
    const r = await inspectSignatureSection(good, PCR0);
    expect([r.signatureValid, r.payloadMatches]).toEqual([true, true]);
  });

  it('one byte of the COSE signature changed: signature invalid', async () => {
    const { certificatePem, coseSign1 } = decodeSignatureSection(good);
    const c = coseSign1.slice();
    c[c.length - 1] ^= 0x80;
    const r = await inspectSignatureSection(encodeSignatureSection(certificatePem, c), PCR0);
    expect(r.signatureValid).toBe(false);
    expect(r.payloadMatches).toBe(true);
  });

  it('one byte of the payload changed: signature invalid and payload mismatch', async () => {
    const { certificatePem, coseSign1 } = decodeSignatureSection(good);
    const c = coseSign1.slice();
    c[c.length - 96 - 2 - 5] ^= 0x01; // inside register_value, just before the signature bstr
    const r = await inspectSignatureSection(encodeSignatureSection(certificatePem, c), PCR0);
    expect([r.signatureValid, r.payloadMatches]).toEqual([false, false]);
  });

  it('correctly signed, but for another PCR0: signature valid, payload mismatch (SignatureCheck false)', async () => {
    const signer = await createPemSigner({ certificatePem: k.certPem, privateKeyPem: k.pkcs8Pem });
    const r = await inspectSignatureSection((await signer.signatureSection(OTHER_PCR0)).data, PCR0);
    expect([r.signatureValid, r.payloadMatches]).toEqual([true, false]);
  });

  it("one byte of the certificate's own signature changed: PCR8 changes, the COSE signature still verifies", async () => {
    const { certificatePem, coseSign1 } = decodeSignatureSection(good);
    const der = parseCertificatePem(certificatePem).der.slice();
    der[der.length - 1] ^= 0x01;
    const r = await inspectSignatureSection(encodeSignatureSection(pem(der), coseSign1), PCR0);
    const orig = await inspectSignatureSection(good, PCR0);
    expect(r.pcr8).not.toBe(orig.pcr8);
    expect(r.signatureValid).toBe(true);
  });

  it("one byte of the certificate's public key changed: refused (not a key) — never valid", async () => {
    const { certificatePem, coseSign1 } = decodeSignatureSection(good);
    const cert = parseCertificatePem(certificatePem);
    const der = cert.der.slice();
    const spkiAt = indexOf(der, cert.spki);
    der[spkiAt + cert.spki.length - 1] ^= 0x01; // last byte of the EC point's y
    const code = await codeOf(inspectSignatureSection(encodeSignatureSection(pem(der), coseSign1), PCR0));
    expect(code).toBe('SIG_CERT_UNREADABLE');
  });

  it('the certificate swapped for another valid one: signature invalid, PCR8 of the new certificate', async () => {
    const { coseSign1 } = decodeSignatureSection(good);
    const r = await inspectSignatureSection(encodeSignatureSection(other.certPem, coseSign1), PCR0);
    expect(r.signatureValid).toBe(false);
    expect(r.pcr8).not.toBe((await inspectSignatureSection(good, PCR0)).pcr8);
  });

  it('an ES256 alg over a P-384 certificate: signature invalid (alg must match the curve)', async () => {
    const { certificatePem, coseSign1 } = decodeSignatureSection(good);
    const m = decodeEifCoseSign1(coseSign1);
    const relabelled = encodeCoseSign1(encodeProtectedHeader(-7), m.payload, m.message.signature.subarray(0, 64));
    const r = await inspectSignatureSection(encodeSignatureSection(certificatePem, relabelled), PCR0);
    expect(r.signatureValid).toBe(false);
  });

  it('random single-byte changes and truncations never crash: a result or a stable EifError', async () => {
    let state = 12345;
    const rnd = (n: number) => ((state = (state * 1103515245 + 12345) & 0x7fffffff), state % n);
    const seen = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const b = good.slice();
      b[rnd(b.length)] = rnd(256);
      const cut = i % 3 === 0 ? b.subarray(0, rnd(b.length)) : b;
      const code = await codeOf(inspectSignatureSection(cut, PCR0));
      expect(code).toMatch(/^(no error|SIG_[A-Z_]+)$/);
      seen.add(code);
    }
    expect(seen.size).toBeGreaterThan(2);
  });
});

describe('malformed sections: one stable code each', () => {
  const cert = new TextEncoder().encode('-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
  const cose = encodeCoseSign1(encodeProtectedHeader(-35), new Uint8Array([0xa0]), new Uint8Array(96));
  const section = (entry: unknown) => encodeCbor([entry]);
  const entry = (c: unknown, s: unknown) => ({ signing_certificate: c, signature: s });
  const arr = (b: Uint8Array) => Array.from(b);
  const withCose = (c: Uint8Array) => section(entry(arr(cert), arr(c)));

  const cases: [string, Uint8Array, string][] = [
    ['not CBOR at all', new TextEncoder().encode('hello, world'), 'SIG_NOT_CBOR'],
    ['a truncated section', encodeSignatureSection(cert, cose).subarray(0, 50), 'SIG_NOT_CBOR'],
    ['trailing bytes after the section', new Uint8Array([...encodeSignatureSection(cert, cose), 0]), 'SIG_NOT_CBOR'],
    ['byte strings instead of integer arrays', section(entry(cert, cose)), 'SIG_NOT_INT_ARRAY'],
    ['an integer above 255 in the array', section(entry([...arr(cert), 256], arr(cose))), 'SIG_NOT_INT_ARRAY'],
    ['a negative integer in the array', section(entry(arr(cert), [-1, ...arr(cose)])), 'SIG_NOT_INT_ARRAY'],
    ['an empty array', encodeCbor([]), 'SIG_EMPTY'],
    ['two entries', encodeCbor([entry(arr(cert), arr(cose)), entry(arr(cert), arr(cose))]), 'SIG_EXTRA_ENTRIES'],
    ['a map instead of an array', encodeCbor(entry(arr(cert), arr(cose))), 'SIG_BAD_STRUCTURE'],
    ['an entry that is not a map', encodeCbor([[1, 2]]), 'SIG_BAD_STRUCTURE'],
    ['a map with another key', section({ ...entry(arr(cert), arr(cose)), extra: 1 }), 'SIG_BAD_KEYS'],
    ['a map with a renamed key', section({ signing_cert: arr(cert), signature: arr(cose) }), 'SIG_BAD_KEYS'],
    ['keys in the other order', section({ signature: arr(cose), signing_certificate: arr(cert) }), 'SIG_BAD_KEYS'],
    ['COSE with tag 98 (COSE_Sign)', withCose(new Uint8Array([0xd8, 0x62, ...cose])), 'SIG_COSE_BAD_TAG'],
    ['COSE with 3 elements', withCose(encodeCbor([encodeProtectedHeader(-35), new Map(), new Uint8Array(1)])), 'SIG_COSE_BAD_STRUCTURE'],
    ['COSE with alg PS256 (-37)', withCose(encodeCoseSign1(encodeProtectedHeader(-37), new Uint8Array(1), new Uint8Array(96))), 'SIG_COSE_BAD_ALG'],
    ['COSE without alg', withCose(encodeCoseSign1(encodeCbor(new Map()), new Uint8Array(1), new Uint8Array(96))), 'SIG_COSE_BAD_ALG'],
    ['COSE with a truncated signature', withCose(encodeCoseSign1(encodeProtectedHeader(-35), new Uint8Array(1), new Uint8Array(95))), 'SIG_COSE_BAD_SIGNATURE_LENGTH'],
    ['COSE with a detached payload', withCose(encodeCbor([encodeProtectedHeader(-35), new Map(), null, new Uint8Array(96)])), 'SIG_COSE_BAD_STRUCTURE'],
    ['COSE bytes that are not CBOR', withCose(new Uint8Array([0x84, 0x44])), 'SIG_COSE_NOT_CBOR'],
    ['a certificate that is not PEM', encodeSignatureSection(new TextEncoder().encode('just text'), cose), 'SIG_CERT_NOT_PEM'],
    ['a PEM certificate with damaged base64', encodeSignatureSection(new TextEncoder().encode('-----BEGIN CERTIFICATE-----\nMI*B\n-----END CERTIFICATE-----\n'), cose), 'SIG_CERT_NOT_PEM'],
    ['a PEM block that is not a certificate', encodeSignatureSection(cert, cose), 'SIG_CERT_UNREADABLE'],
    ['a section over 32768 bytes', encodeSignatureSection(new Uint8Array(20000).fill(200), cose), 'SIG_SECTION_TOO_LARGE'],
  ];
  for (const [what, bytes, code] of cases) {
    it(`${what} -> ${code}`, async () => {
      expect(await codeOf(inspectSignatureSection(bytes, PCR0))).toBe(code);
    });
  }
});

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
