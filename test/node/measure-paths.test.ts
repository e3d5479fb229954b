/**
 * Every measurement path of a signed image returns PCR8 (eif-format.md §4.4; issue 9: Node's measureEifFile dropped
 * it), and the signature verdict (src/signing/verdict.ts) is the same through each: the browser inspector, the Node
 * reader (inline and on two cores), describe, verify, the builders and `eif sign`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildEifBytes } from '../../src/eif/builder.js';
import { inspectEifBytes, measureEifBytes } from '../../src/inspect/eif.js';
import { buildEifFile } from '../../src/node/builder.js';
import { describeEifFileDetails, measureEifFile } from '../../src/node/describe.js';
import { inspectEifFile } from '../../src/node/reader.js';
import { signEifFile } from '../../src/node/sign-file.js';
import { verifyEifFile } from '../../src/node/verify.js';
import { pcr8FromCertificatePem } from '../../src/signing/certificate.js';
import { createPemSigner } from '../../src/signing/signer.js';
import { signatureVerdict } from '../../src/signing/verdict.js';
import { fixCrc, tempDir } from '../helpers/eif.js';
import { HAVE_OPENSSL, makeEcKey, type TestKey } from '../signing/keys.js';

const pins = { buildTime: '2024-01-01T00:00:00+00:00', name: 'paths', version: '1' } as const;
const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * seed + (i >> 7)) & 0xff);

describe.skipIf(!HAVE_OPENSSL)('PCR8 of a signed image on every measurement path', () => {
  const dir = tempDir();
  const f = (n: string) => join(dir, n);
  let key: TestKey;
  let pcr8: string;
  let signedBytes: Uint8Array;
  let unsignedPcrs: Record<string, string>;

  beforeAll(async () => {
    key = makeEcKey(dir, 'k', 'P-384');
    pcr8 = pcr8FromCertificatePem(key.certPem);
    const signer = await createPemSigner({ certificatePem: key.certPem, privateKeyPem: key.keyPem });
    const rd1 = bytes(17 << 20, 7); // ≥ 16 MiB measured: the two-core pipeline by default
    const b = await buildEifBytes({ ...pins, kernel: bytes(9000, 3), cmdline: 'x', ramdisks: [bytes(5000, 5), rd1], signer });
    expect(b.measurements.PCR8).toBe(pcr8);
    signedBytes = b.eif;
    writeFileSync(f('signed.eif'), signedBytes);
    const u = await buildEifBytes({ ...pins, kernel: bytes(9000, 3), cmdline: 'x', ramdisks: [bytes(5000, 5), rd1] });
    unsignedPcrs = { ...u.measurements } as unknown as Record<string, string>;
    writeFileSync(f('unsigned.eif'), u.eif);
    writeFileSync(f('bzImage'), bytes(9000, 3));
    writeFileSync(f('rd0'), bytes(5000, 5));
    writeFileSync(f('rd1'), rd1);
  });

  it('library paths: the browser inspector (bytes, Blob), the Node reader (inline, two cores), describe, verify', async () => {
    const want = { ...unsignedPcrs, PCR8: pcr8 };
    expect(await measureEifBytes(signedBytes)).toEqual(want);
    expect(await measureEifBytes(new Blob([signedBytes]))).toEqual(want);
    expect((await inspectEifBytes(signedBytes)).measurements).toEqual(want);
    for (const parallel of [false, true]) {
      const r = await inspectEifFile(f('signed.eif'), { parallel });
      expect(r.measurements).toEqual(want);
      expect(r.signature?.error).toBeUndefined();
      expect(r.signature?.inspection?.payloadMatches).toBe(true);
    }
    expect(await measureEifFile(f('signed.eif'))).toEqual(want);
    expect((await describeEifFileDetails(f('signed.eif'))).describe.Measurements).toEqual(want);
    const v = await verifyEifFile(f('signed.eif'));
    expect(v.ok).toBe(true);
    expect(v.measurements).toEqual(want);
    // an unsigned image has no PCR8 anywhere, and no verdict
    expect((await inspectEifFile(f('unsigned.eif'))).measurements.PCR8).toBeUndefined();
    expect((await inspectEifFile(f('unsigned.eif'))).signature).toBeUndefined();
    expect((await measureEifBytes(readFileSync(f('unsigned.eif')))).PCR8).toBeUndefined();
  });

  it('writers: the streaming builder and eif sign return PCR8 and write what the readers measure', async () => {
    const signer = await createPemSigner({ certificatePem: key.certPem, privateKeyPem: key.keyPem });
    const b = await buildEifFile({ ...pins, kernel: f('bzImage'), cmdline: 'x', ramdisks: [f('rd0'), f('rd1')], output: f('built.eif'), signer });
    expect(b.measurements).toEqual({ ...unsignedPcrs, PCR8: pcr8 });
    expect(await measureEifFile(f('built.eif'))).toEqual(b.measurements); // (ECDSA is randomised: not byte-identical)
    const s = await signEifFile({ eifPath: f('unsigned.eif'), output: f('resigned.eif'), signer });
    expect(s.measurements).toEqual({ ...unsignedPcrs, PCR8: pcr8 });
    expect(await measureEifFile(f('resigned.eif'))).toEqual(s.measurements);
  });

  it('a signature that does not verify: the reader keeps PCR8 and the SIG_INVALID verdict; describe fails; verify reports it', async () => {
    const bad = signedBytes.slice();
    bad[bad.length - 1]! ^= 1; // the last byte of the COSE signature (s), still well-formed CBOR
    writeFileSync(f('bad.eif'), fixCrc(bad));
    const r = await inspectEifFile(f('bad.eif'));
    expect(r.measurements.PCR8).toBe(pcr8);
    expect(r.signature?.error?.code).toBe('SIG_INVALID');
    await expect(describeEifFileDetails(f('bad.eif'))).rejects.toMatchObject({ code: 'SIG_INVALID' });
    await expect(measureEifBytes(fixCrc(bad))).rejects.toMatchObject({ code: 'SIG_INVALID' });
    const v = await verifyEifFile(f('bad.eif'));
    expect(v.ok).toBe(false);
    expect(v.checks.filter((c) => !c.ok).map((c) => c.code)).toEqual(['SIG_INVALID']);
    expect(v.measurements?.PCR8).toBe(pcr8);
  });

  it('signatureVerdict: unsigned, malformed section, good', async () => {
    const m = { HashAlgorithm: 'Sha384 { ... }', PCR0: unsignedPcrs.PCR0!, PCR1: unsignedPcrs.PCR1!, PCR2: unsignedPcrs.PCR2! };
    expect(await signatureVerdict(undefined, m)).toEqual({ measurements: m });
    const junk = await signatureVerdict(new Uint8Array([0xff, 0x00]), m);
    expect(junk.error?.code).toMatch(/^SIG_/);
    expect(junk.measurements.PCR8).toBeUndefined();
    expect(junk.inspection).toBeUndefined();
    const section = (await inspectEifFile(f('signed.eif'))).signatureBytes!;
    const good = await signatureVerdict(section, m);
    expect(good.error).toBeUndefined();
    expect(good.measurements).toEqual({ ...m, PCR8: pcr8 });
  });
});
