/**
 * createPemSigner (eif-format.md §4.2, §4.5): three curves, SEC1 and PKCS#8 keys, signatures that an independent
 * implementation (openssl) accepts, and fail-closed errors with stable codes for every bad key or certificate.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/eif.js';
import { CURVES, COSE_ALG_NAME, HAVE_OPENSSL, certDer, makeEcKey, makeOtherKey, openssl, type TestKey } from './keys.js';
import { createPemSigner, type EifSigner } from '../../src/signing/signer.js';
import { decodeSignatureSection } from '../../src/signing/section.js';
import { decodeEifCoseSign1, inspectSignatureSection } from '../../src/signing/verify.js';
import { sigStructure1 } from '../../src/cose/sign1-encode.js';
import { ecdsaRawToDer } from '../../src/pki/der.js';
import { pcrOfBytes } from '../../src/eif/pcr.js';
import { initCore } from '../../src/core/index.js';
import { toHex } from '../../src/util/hex.js';
import { codeOf } from '../helpers/errors.js';

const PCR0 = Uint8Array.from({ length: 48 }, (_, i) => (i * 29 + 5) & 0xff);

describe.skipIf(!HAVE_OPENSSL)('createPemSigner', () => {
  const dir = tempDir();
  const keys = {} as Record<string, TestKey>;
  beforeAll(async () => {
    await initCore();
    for (const c of CURVES) keys[c] = makeEcKey(dir, c, c);
    keys.other384 = makeEcKey(dir, 'other384', 'P-384');
    keys.rsa = makeOtherKey(dir, 'rsa', 'rsa');
    keys.ed25519 = makeOtherKey(dir, 'ed25519', 'ed25519');
    keys.k1 = makeOtherKey(dir, 'k1', 'secp256k1');
  });

  for (const curve of CURVES) {
    for (const form of ['SEC1', 'PKCS#8'] as const) {
      it(`${curve} key in ${form}: ${COSE_ALG_NAME[curve]}, verifies, payload matches, PCR8 = extend(SHA384(cert DER))`, async () => {
        const k = keys[curve]!;
        const signer = await createPemSigner({ certificatePem: k.certPem, privateKeyPem: form === 'SEC1' ? k.keyPem : k.pkcs8Pem });
        const { data, pcr8 } = await signer.signatureSection(PCR0);
        expect(pcr8).toBe(toHex(pcrOfBytes(certDer(k.certPath))));
        const r = await inspectSignatureSection(data, PCR0);
        expect([r.algorithm, r.signatureValid, r.payloadMatches, r.pcr8]).toEqual([COSE_ALG_NAME[curve], true, true, pcr8]);
        // The section stores the certificate FILE bytes, and an untagged COSE_Sign1 with an empty unprotected map.
        const { certificatePem, coseSign1 } = decodeSignatureSection(data);
        expect(toHex(certificatePem)).toBe(toHex(k.certPem));
        expect(coseSign1[0]).toBe(0x84);
        expect(decodeEifCoseSign1(coseSign1).message.unprotectedHeader.entries).toHaveLength(0);
      });
    }

    it(`${curve}: openssl verifies our COSE signature over the Sig_structure`, async () => {
      const k = keys[curve]!;
      const signer = await createPemSigner({ certificatePem: k.certPem, privateKeyPem: k.keyPem });
      const cose = decodeEifCoseSign1(decodeSignatureSection((await signer.signatureSection(PCR0)).data).coseSign1);
      const tbs = join(dir, `${curve}.tbs`);
      const sig = join(dir, `${curve}.sig`);
      writeFileSync(tbs, sigStructure1(cose.message.protectedBytes, cose.payload));
      writeFileSync(sig, ecdsaRawToDer(cose.message.signature));
      const hash = { 'P-256': '-sha256', 'P-384': '-sha384', 'P-521': '-sha512' }[curve];
      expect(openssl(['dgst', hash, '-verify', k.pubPath, '-signature', sig, tbs]).toString()).toMatch(/Verified OK/);
    });
  }

  it('a key made by `openssl ecparam -genkey` (EC PARAMETERS block first) is read', async () => {
    const keyPath = join(dir, 'with-params.pem');
    openssl(['ecparam', '-name', 'secp384r1', '-genkey', '-out', keyPath]);
    const key = new Uint8Array(openssl(['ec', '-in', keyPath]));
    const params = new Uint8Array(openssl(['ecparam', '-name', 'secp384r1']));
    const certPath = join(dir, 'with-params.cert.pem');
    openssl(['req', '-x509', '-new', '-key', keyPath, '-subj', '/CN=p', '-days', '30', '-out', certPath]);
    const cert = new Uint8Array(openssl(['x509', '-in', certPath]));
    const signer = await createPemSigner({ certificatePem: cert, privateKeyPem: new Uint8Array([...params, ...key]), now: new Date() });
    expect((await inspectSignatureSection((await signer.signatureSection(PCR0)).data, PCR0)).signatureValid).toBe(true);
  });

  it('each signature section is fresh (randomized ECDSA) but always verifies', async () => {
    const signer: EifSigner = await createPemSigner({ certificatePem: keys['P-384']!.certPem, privateKeyPem: keys['P-384']!.keyPem });
    const a = (await signer.signatureSection(PCR0)).data;
    const b = (await signer.signatureSection(PCR0)).data;
    expect(toHex(a)).not.toBe(toHex(b));
    expect((await inspectSignatureSection(b, PCR0)).signatureValid).toBe(true);
  });

  describe('fail closed', () => {
    const pem = (k: string, which: 'keyPem' | 'pkcs8Pem' | 'certPem') => keys[k]![which];
    const cases: [string, () => Parameters<typeof createPemSigner>[0], string][] = [
      ['a key that belongs to another certificate', () => ({ certificatePem: pem('P-384', 'certPem'), privateKeyPem: pem('other384', 'keyPem') }), 'SIG_KEY_CERT_MISMATCH'],
      ['a P-256 key with a P-384 certificate', () => ({ certificatePem: pem('P-384', 'certPem'), privateKeyPem: pem('P-256', 'pkcs8Pem') }), 'SIG_KEY_CERT_MISMATCH'],
      ['an RSA key (PKCS#8)', () => ({ certificatePem: pem('P-384', 'certPem'), privateKeyPem: pem('rsa', 'pkcs8Pem') }), 'SIG_UNSUPPORTED_KEY'],
      ['an RSA key (RSA PRIVATE KEY)', () => ({ certificatePem: pem('P-384', 'certPem'), privateKeyPem: new Uint8Array(openssl(['rsa', '-in', keys.rsa!.keyPath, '-traditional'])) }), 'SIG_UNSUPPORTED_KEY'],
      ['an Ed25519 key', () => ({ certificatePem: pem('P-384', 'certPem'), privateKeyPem: pem('ed25519', 'keyPem') }), 'SIG_UNSUPPORTED_KEY'],
      ['a secp256k1 key', () => ({ certificatePem: pem('P-256', 'certPem'), privateKeyPem: pem('k1', 'keyPem') }), 'SIG_UNSUPPORTED_KEY'],
      ['an RSA certificate', () => ({ certificatePem: pem('rsa', 'certPem'), privateKeyPem: pem('P-384', 'keyPem') }), 'SIG_UNSUPPORTED_KEY'],
      ['an Ed25519 certificate', () => ({ certificatePem: pem('ed25519', 'certPem'), privateKeyPem: pem('P-384', 'keyPem') }), 'SIG_UNSUPPORTED_KEY'],
      ['a secp256k1 certificate', () => ({ certificatePem: pem('k1', 'certPem'), privateKeyPem: pem('k1', 'keyPem') }), 'SIG_UNSUPPORTED_KEY'],
      ['a key file that is not PEM', () => ({ certificatePem: pem('P-384', 'certPem'), privateKeyPem: new TextEncoder().encode('not a key') }), 'SIG_KEY_UNREADABLE'],
      ['a certificate given as the key', () => ({ certificatePem: pem('P-384', 'certPem'), privateKeyPem: pem('P-384', 'certPem') }), 'SIG_KEY_UNREADABLE'],
      ['a damaged key', () => ({ certificatePem: pem('P-384', 'certPem'), privateKeyPem: new TextEncoder().encode('-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n') }), 'SIG_KEY_UNREADABLE'],
      ['an encrypted key', () => ({ certificatePem: pem('P-384', 'certPem'), privateKeyPem: new Uint8Array(openssl(['pkcs8', '-topk8', '-in', keys['P-384']!.keyPath, '-passout', 'pass:x'])) }), 'SIG_KEY_ENCRYPTED'],
      ['a certificate file that is not PEM', () => ({ certificatePem: new TextEncoder().encode('hello'), privateKeyPem: pem('P-384', 'keyPem') }), 'SIG_CERT_NOT_PEM'],
      ['a DER certificate file', () => ({ certificatePem: certDer(keys['P-384']!.certPath), privateKeyPem: pem('P-384', 'keyPem') }), 'SIG_CERT_NOT_PEM'],
      ['an expired certificate', () => ({ certificatePem: pem('P-384', 'certPem'), privateKeyPem: pem('P-384', 'keyPem'), now: new Date(Date.now() + 20 * 365 * 86400e3) }), 'SIG_CERT_EXPIRED'],
      ['a certificate not valid yet', () => ({ certificatePem: pem('P-384', 'certPem'), privateKeyPem: pem('P-384', 'keyPem'), now: new Date(Date.now() - 86400e3) }), 'SIG_CERT_NOT_YET_VALID'],
    ];
    for (const [what, options, code] of cases) {
      it(`${what} -> ${code}`, async () => {
        expect(await codeOf(createPemSigner(options()))).toBe(code);
      });
    }

    it('a wrong-length PCR0 -> SIG_BAD_PCR0', async () => {
      const signer = await createPemSigner({ certificatePem: pem('P-384', 'certPem'), privateKeyPem: pem('P-384', 'keyPem') });
      expect(await codeOf(signer.signatureSection(new Uint8Array(32)))).toBe('SIG_BAD_PCR0');
    });
  });

  describe('expiry warning', () => {
    it('warns when the certificate ends within 30 days, not before', async () => {
      const k = keys['P-384']!;
      const notAfter = (await inspectSignatureSection(
        (await (await createPemSigner({ certificatePem: k.certPem, privateKeyPem: k.keyPem })).signatureSection(PCR0)).data,
        PCR0,
      )).notAfter;
      const warnings: string[] = [];
      const warn = (m: string) => warnings.push(m);
      await createPemSigner({ certificatePem: k.certPem, privateKeyPem: k.keyPem, warn, now: new Date(notAfter.getTime() - 31 * 86400e3) });
      expect(warnings).toEqual([]);
      await createPemSigner({ certificatePem: k.certPem, privateKeyPem: k.keyPem, warn, now: new Date(notAfter.getTime() - 10 * 86400e3) });
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/expires in 10 days/);
    });
  });
});
