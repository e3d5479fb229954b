/**
 * End to end through the compiled CLI (`node bin/eif.js`, built by `npm test` / `node scripts/build.mjs ts`):
 * build --signing-certificate / sign / sign-eif -> describe -> verify on all three curves, with PEM keys, a
 * signer command and KMS (loopback stub); usage errors exit 2; failures never leave a signed-looking file.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { eif, fixCrc, tempDir, type CliResult } from '../helpers/eif.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { CURVES, COSE_ALG_NAME, HAVE_OPENSSL, makeEcKey, type Curve, type TestKey } from './keys.js';
import { startKmsStub } from './kms-stub.js';
import { decodeSignatureSection, encodeSignatureSection } from '../../src/signing/section.js';
import { encodeSectionHeader } from '../../src/eif/header.js';

const HAVE_CLI = existsSync(join(REPO_ROOT, 'dist', 'cli', 'main.js'));
const HAVE_SDK = existsSync(join(REPO_ROOT, 'node_modules', '@aws-sdk', 'client-kms'));
const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * seed + (i >> 5)) & 0xff);

/** Like `eif()` but asynchronous, so an in-process server (the KMS stub) can answer meanwhile. */
function eifAsync(args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'eif.js'), ...args], { env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b) => (stdout += b));
    child.stderr.on('data', (b) => (stderr += b));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const json = (r: CliResult) => {
  expect(r.stderr.replace(/Enclave Image successfully signed.\n/, '')).not.toMatch(/error/);
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout);
};

describe.skipIf(!HAVE_OPENSSL || !HAVE_CLI)('eif build / sign / describe / verify with signatures', () => {
  const dir = tempDir();
  const keys = {} as Record<string, TestKey>;
  let parts: string[];
  let unsigned: string;
  let unsignedPcrs: Record<string, string>;
  beforeAll(() => {
    for (const c of CURVES) keys[c] = makeEcKey(dir, c, c);
    const kernel = join(dir, 'bzImage');
    const rd0 = join(dir, 'rd0.cpio');
    const rd1 = join(dir, 'rd1.cpio');
    writeFileSync(kernel, bytes(20000, 3));
    writeFileSync(rd0, bytes(5000, 5));
    writeFileSync(rd1, bytes(9000, 9));
    parts = ['--kernel', kernel, '--cmdline', 'console=ttyS0', '--ramdisk', rd0, '--ramdisk', rd1, '--build-time', '2024-01-01T00:00:00+00:00', '--quiet'];
    unsigned = join(dir, 'unsigned.eif');
    unsignedPcrs = json(eif(['build', ...parts, '--output', unsigned])).Measurements;
  });

  const pcr8Of = (k: TestKey) => json(eif(['pcr', '--signing-certificate', k.certPath])).PCR8 as string;

  function checkSigned(path: string, k: TestKey, curve: Curve) {
    const d = json(eif(['describe', path, '--quiet']));
    expect(d.IsSigned).toBe(true);
    expect(d.SignatureCheck).toBe(true);
    expect(d.CheckCRC).toBe(true);
    expect(d.Measurements.PCR8).toBe(pcr8Of(k));
    expect(d.SigningCertificate.IssuerName.commonName).toBe(curve);
    expect(d.SigningCertificate.Algorithm).toBe({ 'P-256': 'ecdsa-with-SHA256', 'P-384': 'ecdsa-with-SHA384', 'P-521': 'ecdsa-with-SHA512' }[curve]);
    const { PCR8: _pcr8, ...pcrs } = d.Measurements;
    expect(pcrs).toEqual(unsignedPcrs);
    const v = eif(['verify', path, '--quiet', '--pcr0', unsignedPcrs.PCR0!, '--pcr8', pcr8Of(k), '--signing-certificate', k.certPath]);
    expect(v.status).toBe(0);
  }

  for (const curve of CURVES) {
    it(`${curve} (${COSE_ALG_NAME[curve]}): build --signing-certificate --private-key, then describe and verify`, () => {
      const k = keys[curve]!;
      const out = join(dir, `built-${curve}.eif`);
      const m = json(eif(['build', ...parts, '--output', out, '--signing-certificate', k.certPath, '--private-key', curve === 'P-384' ? k.pkcs8Path : k.keyPath])).Measurements;
      const { PCR8, ...pcrs } = m;
      expect(pcrs).toEqual(unsignedPcrs);
      expect(PCR8).toBe(pcr8Of(k));
      checkSigned(out, k, curve);
    });

    it(`${curve}: eif sign into --output, then describe and verify`, () => {
      const k = keys[curve]!;
      const out = join(dir, `signed-${curve}.eif`);
      const r = eif(['sign', '--eif-path', unsigned, '--signing-certificate', k.certPath, '--private-key', k.keyPath, '--output', out]);
      expect(r.stderr).toBe('Enclave Image successfully signed.\n');
      const m = json(r);
      expect(Object.keys(m)).toEqual(['Measurements']);
      expect(Object.keys(m.Measurements)).toEqual(['HashAlgorithm', 'PCR0', 'PCR1', 'PCR2', 'PCR8']);
      expect(m.Measurements.PCR8).toBe(pcr8Of(k));
      checkSigned(out, k, curve);
    });
  }

  it('sign-eif (nitro-cli spelling) in place replaces a signature; PCR0–2 stay, PCR8 follows the new certificate', () => {
    const p = join(dir, 'resign.eif');
    json(eif(['build', ...parts, '--output', p, '--signing-certificate', keys['P-384']!.certPath, '--private-key', keys['P-384']!.keyPath]));
    const m = json(eif(['sign-eif', '--eif-path', p, '--signing-certificate', keys['P-256']!.certPath, '--private-key', keys['P-256']!.pkcs8Path])).Measurements;
    expect(m.PCR8).toBe(pcr8Of(keys['P-256']!));
    checkSigned(p, keys['P-256']!, 'P-256');
    expect(eif(['verify', p, '--quiet', '--signing-certificate', keys['P-384']!.certPath]).status).not.toBe(0);
  });

  it('--signer-command (openssl pkeyutl on the digest)', () => {
    const k = keys['P-521']!;
    const out = join(dir, 'cmd.eif');
    json(eif(['sign', '--eif-path', unsigned, '--output', out, '--signing-certificate', k.certPath, '--signer-command', `openssl pkeyutl -sign -inkey '${k.keyPath}'`]));
    checkSigned(out, k, 'P-521');
  });

  it.skipIf(!HAVE_SDK)('--private-key arn:aws:kms:… through the SDK to a loopback KMS stub', async () => {
    const k = keys['P-384']!;
    const arn = 'arn:aws:kms:us-east-1:111122223333:key/0f1e2d3c-aaaa-bbbb-cccc-0123456789ab';
    const stub = await startKmsStub({ [arn]: { keyPath: k.keyPath, keySpec: 'ECC_NIST_P384' } });
    try {
      const env = {
        AWS_ENDPOINT_URL_KMS: stub.url,
        AWS_ACCESS_KEY_ID: 'AKIAEIFKITTEST',
        AWS_SECRET_ACCESS_KEY: 'eifkit-test-secret',
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_CONFIG_FILE: join(dir, 'none'),
        AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none'),
      };
      const out = join(dir, 'kms.eif');
      json(await eifAsync(['sign', '--eif-path', unsigned, '--output', out, '--signing-certificate', k.certPath, '--private-key', arn], env));
      expect(stub.requests.map((r) => r.target)).toEqual(['TrentService.GetPublicKey', 'TrentService.Sign']);
      checkSigned(out, k, 'P-384');
      const built = join(dir, 'kms-built.eif');
      json(await eifAsync(['build', ...parts, '--output', built, '--signing-certificate', k.certPath, '--private-key', arn], env));
      checkSigned(built, k, 'P-384');
    } finally {
      await stub.close();
    }
  });

  describe('tampered signatures', () => {
    let base: string;
    beforeAll(() => {
      base = join(dir, 'tamper-base.eif');
      json(eif(['build', ...parts, '--output', base, '--signing-certificate', keys['P-384']!.certPath, '--private-key', keys['P-384']!.keyPath]));
    });

    it('one byte of the COSE signature: describe fails, verify fails', () => {
      const { certificatePem, coseSign1 } = decodeSignatureSection(lastSection(new Uint8Array(readFileSync(base))).subarray(12));
      const cose = coseSign1.slice();
      cose[cose.length - 1] ^= 0x01; // last byte of s
      const data = encodeSignatureSection(certificatePem, cose);
      const p = join(dir, 'tampered-sig.eif');
      writeFileSync(p, appendSection(new Uint8Array(readFileSync(unsigned)), new Uint8Array([...encodeSectionHeader(4, data.length), ...data])));
      const v = eif(['verify', p, '--quiet', '--json']);
      expect(v.status).not.toBe(0);
      expect(v.stdout + v.stderr).toMatch(/SIG_INVALID/);
      expect(eif(['describe', p, '--quiet']).status).not.toBe(0);
    });

    it("a valid signature for another image's PCR0: describe says SignatureCheck false, verify fails", () => {
      const other = join(dir, 'other.eif');
      json(eif(['build', ...parts.map((x) => (x === 'console=ttyS0' ? 'console=hvc0' : x)), '--output', other, '--signing-certificate', keys['P-384']!.certPath, '--private-key', keys['P-384']!.keyPath]));
      // Transplant other.eif's (valid) signature section onto the unsigned image:
      const sigSection = lastSection(new Uint8Array(readFileSync(other)));
      const target = new Uint8Array(readFileSync(unsigned));
      const p = join(dir, 'transplant.eif');
      writeFileSync(p, appendSection(target, sigSection));
      const d = json(eif(['describe', p, '--quiet']));
      expect(d.SignatureCheck).toBe(false);
      const v = eif(['verify', p, '--quiet', '--json']);
      expect(v.status).not.toBe(0);
      expect(v.stdout).toMatch(/SIG_PAYLOAD_MISMATCH/);
    });
  });

  describe('usage errors exit 2; signing failures exit 1 and write nothing', () => {
    const cases: [string, () => string[], number, RegExp][] = [
      ['sign without a key source', () => ['sign', '--eif-path', unsigned, '--signing-certificate', keys['P-384']!.certPath], 2, /--private-key|--signer-command/],
      ['sign with both key sources', () => ['sign', '--eif-path', unsigned, '--signing-certificate', keys['P-384']!.certPath, '--private-key', keys['P-384']!.keyPath, '--signer-command', 'true'], 2, /not both/],
      ['build with a key but no certificate', () => ['build', ...parts, '--output', join(dir, 'never.eif'), '--private-key', keys['P-384']!.keyPath], 2, /needs --signing-certificate/],
      ['a malformed KMS ARN', () => ['sign', '--eif-path', unsigned, '--signing-certificate', keys['P-384']!.certPath, '--private-key', 'arn:aws:kms:x'], 2, /SIG_KMS_BAD_ARN/],
      ['build with a mismatched key', () => ['build', ...parts, '--output', join(dir, 'never.eif'), '--signing-certificate', keys['P-384']!.certPath, '--private-key', keys['P-256']!.keyPath], 1, /SIG_KEY_CERT_MISMATCH/],
      ['sign with a missing key file', () => ['sign', '--eif-path', unsigned, '--output', join(dir, 'never.eif'), '--signing-certificate', keys['P-384']!.certPath, '--private-key', join(dir, 'nope.pem')], 1, /SIG_KEY_UNREADABLE/],
      ['sign with a failing signer command', () => ['sign', '--eif-path', unsigned, '--output', join(dir, 'never.eif'), '--signing-certificate', keys['P-384']!.certPath, '--signer-command', 'exit 7'], 1, /SIG_COMMAND_FAILED/],
    ];
    for (const [what, args, status, message] of cases) {
      it(`${what} -> exit ${status}`, () => {
        const before = readFileSync(unsigned);
        const r = eif(args());
        expect(r.status).toBe(status);
        expect(r.stderr).toMatch(message);
        expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
        expect(r.stdout).toBe('');
        expect(existsSync(join(dir, 'never.eif'))).toBe(false);
        expect(readFileSync(unsigned).equals(before)).toBe(true);
      });
    }
  });
});

/** The last section (header + data) of a well-formed EIF. */
function lastSection(eif: Uint8Array): Uint8Array {
  const v = new DataView(eif.buffer, eif.byteOffset);
  const n = v.getUint16(26);
  const off = Number(v.getBigUint64(28 + 8 * (n - 1)));
  return eif.slice(off);
}

/** Append a section (header + data) to an EIF and fix its table and CRC. */
function appendSection(eif: Uint8Array, section: Uint8Array): Uint8Array {
  const out = new Uint8Array(eif.length + section.length);
  out.set(eif);
  out.set(section, eif.length);
  const v = new DataView(out.buffer);
  const n = v.getUint16(26);
  v.setUint16(26, n + 1);
  v.setBigUint64(28 + 8 * n, BigInt(eif.length));
  v.setBigUint64(284 + 8 * n, BigInt(section.length - 12));
  return fixCrc(out);
}
