/**
 * The signing API as a browser bundle sees it (src/browser.ts): build a signed EIF in memory with a PEM signer,
 * describe it, and check the signature section — no Node I/O involved.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/eif.js';
import { HAVE_OPENSSL, makeEcKey, type TestKey } from './keys.js';
import * as eifkit from '../../src/browser.js';

describe.skipIf(!HAVE_OPENSSL)('browser entry: signing', () => {
  let k: TestKey;
  beforeAll(async () => {
    await eifkit.initCore();
    k = makeEcKey(tempDir(), 'browser', 'P-256');
  });

  it('buildEifBytes + createPemSigner -> describeEifBytes shows a checked signature; inspectSignatureSection agrees', async () => {
    const signer = await eifkit.createPemSigner({ certificatePem: k.certPem, privateKeyPem: k.pkcs8Pem });
    const built = await eifkit.buildEifBytes({
      kernel: new Uint8Array(1000).fill(1),
      cmdline: 'console=ttyS0',
      ramdisks: [new Uint8Array(500).fill(2)],
      buildTime: '2024-01-01T00:00:00+00:00',
      signer,
    });
    expect(built.measurements.PCR8).toBe(eifkit.pcr8FromCertificatePem(k.certPem));
    const d = (await eifkit.describeEifBytes(built.eif)) as Record<string, unknown>;
    expect(d.IsSigned).toBe(true);
    expect(d.SignatureCheck).toBe(true);
    const layout = await eifkit.readLayout(eifkit.bytesSource(built.eif));
    const sig = layout.sections.find((s) => s.type === eifkit.SectionType.Signature)!;
    const r = await eifkit.inspectSignatureSection(built.eif.subarray(sig.dataOffset, sig.dataOffset + sig.size), Uint8Array.from(Buffer.from(built.measurements.PCR0, 'hex')));
    expect([r.signatureValid, r.payloadMatches, r.algorithm]).toEqual([true, true, 'ES256']);
  });
});
