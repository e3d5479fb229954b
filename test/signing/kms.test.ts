/**
 * createKmsSigner through the real AWS SDK (@aws-sdk/client-kms) against a loopback KMS stub: digest signing with
 * the curve's ECDSA_SHA_*, DER -> r‖s, GetPublicKey cross-check, and fail-closed errors.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/eif.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { CURVES, HAVE_OPENSSL, makeEcKey, type TestKey } from './keys.js';
import { startKmsStub, type KmsStub } from './kms-stub.js';
import { createKmsSigner, isKmsKeyArn } from '../../src/node/kms.js';
import { inspectSignatureSection } from '../../src/signing/verify.js';
import { EifError } from '../../src/errors.js';
import { codeOf } from '../helpers/errors.js';

const HAVE_SDK = existsSync(join(REPO_ROOT, 'node_modules', '@aws-sdk', 'client-kms'));
const PCR0 = Uint8Array.from({ length: 48 }, (_, i) => (i * 11 + 7) & 0xff);
const SPEC = { 'P-256': 'ECC_NIST_P256', 'P-384': 'ECC_NIST_P384', 'P-521': 'ECC_NIST_P521' } as const;
const ALG = { 'P-256': 'ECDSA_SHA_256', 'P-384': 'ECDSA_SHA_384', 'P-521': 'ECDSA_SHA_512' } as const;
const arn = (curve: string) => `arn:aws:kms:eu-west-1:111122223333:key/${curve.toLowerCase()}-1234`;

describe('KMS key ARNs', () => {
  it('accepts the forms image-format accepts, nothing else', () => {
    expect(isKmsKeyArn('arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab')).toBe(true);
    expect(isKmsKeyArn('arn:aws-us-gov:kms:us-gov-west-1:111122223333:key:abc')).toBe(true);
    expect(isKmsKeyArn('arn:aws-cn:kms:cn-north-1:111122223333:key/abc')).toBe(true);
    expect(isKmsKeyArn('arn:aws:kms:us-east-1:1111:key/abc')).toBe(false);
    expect(isKmsKeyArn('arn:aws:kms:us-east-1:111122223333:alias/abc')).toBe(false);
    expect(isKmsKeyArn('arn:aws:s3:::bucket')).toBe(false);
  });
});

describe.skipIf(!HAVE_OPENSSL || !HAVE_SDK)('createKmsSigner against a loopback KMS stub', () => {
  const dir = tempDir();
  const keys = {} as Record<string, TestKey>;
  let stub: KmsStub;
  const saved = { ...process.env };
  beforeAll(async () => {
    for (const c of CURVES) keys[c] = makeEcKey(dir, c, c);
    keys.other = makeEcKey(dir, 'other', 'P-384');
    stub = await startKmsStub(Object.fromEntries(CURVES.map((c) => [arn(c), { keyPath: keys[c]!.keyPath, keySpec: SPEC[c] }])));
    // Static test credentials; nothing may reach a real endpoint or the instance metadata service.
    Object.assign(process.env, {
      AWS_ACCESS_KEY_ID: 'AKIAEIFKITTEST',
      AWS_SECRET_ACCESS_KEY: 'eifkit-test-secret',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_CONFIG_FILE: join(dir, 'none'),
      AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'),
    });
  });
  afterAll(async () => {
    await stub?.close();
    process.env = saved;
  });
  beforeEach(() => {
    stub.requests.length = 0;
    for (const k of Object.keys(stub.behaviour)) delete (stub.behaviour as Record<string, unknown>)[k];
  });

  for (const curve of CURVES) {
    it(`${curve}: GetPublicKey, then Sign(DIGEST, ${ALG[curve]}); the section verifies`, async () => {
      const signer = await createKmsSigner({ certificatePem: keys[curve]!.certPem, keyArn: arn(curve), endpoint: stub.url });
      const { data } = await signer.signatureSection(PCR0);
      const r = await inspectSignatureSection(data, PCR0);
      expect([r.signatureValid, r.payloadMatches]).toEqual([true, true]);
      expect(stub.requests.map((q) => q.target)).toEqual(['TrentService.GetPublicKey', 'TrentService.Sign']);
      const sign = stub.requests[1]!.body;
      expect(sign).toMatchObject({ KeyId: arn(curve), MessageType: 'DIGEST', SigningAlgorithm: ALG[curve] });
      expect(Buffer.from(String(sign.Message), 'base64').length).toBe({ 'P-256': 32, 'P-384': 48, 'P-521': 64 }[curve]);
    });
  }

  it('the endpoint can come from AWS_ENDPOINT_URL_KMS (what the CLI uses)', async () => {
    process.env.AWS_ENDPOINT_URL_KMS = stub.url;
    try {
      const signer = await createKmsSigner({ certificatePem: keys['P-384']!.certPem, keyArn: arn('P-384') });
      expect((await inspectSignatureSection((await signer.signatureSection(PCR0)).data, PCR0)).signatureValid).toBe(true);
    } finally {
      delete process.env.AWS_ENDPOINT_URL_KMS;
    }
  });

  it('a KMS key that is not the certificate key fails before signing (SIG_KEY_CERT_MISMATCH)', async () => {
    stub.behaviour.publicKeyOf = keys.other!.keyPath;
    expect(await codeOf(createKmsSigner({ certificatePem: keys['P-384']!.certPem, keyArn: arn('P-384'), endpoint: stub.url }))).toBe('SIG_KEY_CERT_MISMATCH');
    expect(stub.requests.map((q) => q.target)).toEqual(['TrentService.GetPublicKey']);
  });

  it('a KMS key of another curve than the certificate (SIG_KEY_CERT_MISMATCH)', async () => {
    expect(await codeOf(createKmsSigner({ certificatePem: keys['P-384']!.certPem, keyArn: arn('P-256'), endpoint: stub.url }))).toBe('SIG_KEY_CERT_MISMATCH');
  });

  it('GetPublicKey denied: a warning, and the signature is still checked — a wrong signature fails closed', async () => {
    stub.behaviour.denyGetPublicKey = true;
    const warnings: string[] = [];
    const signer = await createKmsSigner({ certificatePem: keys['P-384']!.certPem, keyArn: arn('P-384'), endpoint: stub.url, warn: (m) => warnings.push(m) });
    expect(warnings.join()).toMatch(/GetPublicKey denied/);
    expect((await inspectSignatureSection((await signer.signatureSection(PCR0)).data, PCR0)).signatureValid).toBe(true);
    stub.behaviour.signWith = keys.other!.keyPath;
    expect(await codeOf(signer.signatureSection(PCR0))).toBe('SIG_KEY_CERT_MISMATCH');
  });

  it('KMS refusing to sign -> SIG_KMS_FAILED', async () => {
    const signer = await createKmsSigner({ certificatePem: keys['P-384']!.certPem, keyArn: arn('P-384'), endpoint: stub.url });
    stub.behaviour.failSign = true;
    expect(await codeOf(signer.signatureSection(PCR0))).toBe('SIG_KMS_FAILED');
  });

  it('an unknown key -> SIG_KMS_FAILED; a malformed ARN -> SIG_KMS_BAD_ARN (usage, exit 2)', async () => {
    expect(await codeOf(createKmsSigner({ certificatePem: keys['P-384']!.certPem, keyArn: arn('nope'), endpoint: stub.url }))).toBe('SIG_KMS_FAILED');
    const e = await createKmsSigner({ certificatePem: keys['P-384']!.certPem, keyArn: 'arn:aws:kms:eu-west-1:123:key/x' }).catch((x: EifError) => x);
    expect([(e as EifError).code, (e as EifError).exitCode]).toEqual(['SIG_KMS_BAD_ARN', 2]);
  });

  it('an unreachable endpoint fails (no hang) -> SIG_KMS_FAILED', async () => {
    const closed = await startKmsStub({});
    await closed.close();
    const started = Date.now();
    expect(await codeOf(createKmsSigner({ certificatePem: keys['P-384']!.certPem, keyArn: arn('P-384'), endpoint: closed.url }))).toBe('SIG_KMS_FAILED');
    expect(Date.now() - started).toBeLessThan(30_000);
  });
});
