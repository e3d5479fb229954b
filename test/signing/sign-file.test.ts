/**
 * signEifFile (`eif sign`, eif-format.md §1.4, §6.5): adds or replaces the signature, keeps PCR0–2, rewrites the
 * table and CRC, and is atomic — a failure leaves the input byte-for-byte intact and no file behind.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../helpers/eif.js';
import { REPO_ROOT, describeShared, readShared } from '../helpers/shared.js';
import { HAVE_OPENSSL, makeEcKey, type TestKey } from './keys.js';
import { signEifFile } from '../../src/node/sign-file.js';
import { inspectEifFile } from '../../src/node/reader.js';
import { buildEifBytes } from '../../src/eif/builder.js';
import { EIF_HEADER_SIZE, SectionType, encodeEifHeader, encodeSectionHeader, decodeEifHeader } from '../../src/eif/header.js';
import { crc32, initCore } from '../../src/core/index.js';
import { createPemSigner, type EifSigner } from '../../src/signing/signer.js';
import { inspectSignatureSection } from '../../src/signing/verify.js';
import { EifError } from '../../src/errors.js';
import { fromHex, toHex } from '../../src/util/hex.js';

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * seed + (i >> 7)) & 0xff);

async function unsignedEif(): Promise<Uint8Array> {
  const r = await buildEifBytes({
    kernel: bytes(5000, 7),
    cmdline: 'console=ttyS0 reboot=k',
    ramdisks: [bytes(3000, 11), bytes(7001, 13)],
    buildTime: '2024-01-01T00:00:00+00:00',
  });
  return r.eif;
}

/** Sections in file order, with their data, and the header fields. */
function sectionsOf(eif: Uint8Array) {
  const h = decodeEifHeader(eif);
  return Array.from({ length: h.numSections }, (_, i) => {
    const off = Number(h.sectionOffsets[i]);
    const size = Number(h.sectionSizes[i]);
    const type = new DataView(eif.buffer, eif.byteOffset + off).getUint16(0);
    return { type, off, size, data: eif.subarray(off + 12, off + 12 + size) };
  });
}

/** Assemble an EIF from (type, data) pairs in this order (for layouts no AWS tool writes). */
function assemble(parts: [SectionType, Uint8Array][]): Uint8Array {
  const size = EIF_HEADER_SIZE + parts.reduce((n, [, d]) => n + 12 + d.length, 0);
  const out = new Uint8Array(size);
  let pos = EIF_HEADER_SIZE;
  const offsets: bigint[] = [];
  for (const [t, d] of parts) {
    offsets.push(BigInt(pos));
    out.set(encodeSectionHeader(t, d.length), pos);
    out.set(d, pos + 12);
    pos += 12 + d.length;
  }
  const header = encodeEifHeader({
    version: 4, flags: 0, defaultMem: 1073741824n, defaultCpus: 2n, reserved: 0, numSections: parts.length,
    sectionOffsets: offsets, sectionSizes: parts.map(([, d]) => BigInt(d.length)), unused: 0, crc32: 0,
  });
  out.set(header, 0);
  const crc = crc32(out.subarray(548), crc32(out.subarray(0, 544)));
  new DataView(out.buffer).setUint32(544, crc >>> 0);
  return out;
}

const failingSigner: EifSigner = {
  async signatureSection() {
    throw new EifError('SIG_TEST_FAILURE', 'the signer failed');
  },
};

describe.skipIf(!HAVE_OPENSSL)('signEifFile', () => {
  const dir = tempDir();
  let a: TestKey;
  let b: TestKey;
  let signerA: EifSigner;
  let signerB: EifSigner;
  let unsigned: Uint8Array;
  beforeAll(async () => {
    await initCore();
    a = makeEcKey(dir, 'a', 'P-384');
    b = makeEcKey(dir, 'b', 'P-256');
    signerA = await createPemSigner({ certificatePem: a.certPem, privateKeyPem: a.keyPem });
    signerB = await createPemSigner({ certificatePem: b.certPem, privateKeyPem: b.pkcs8Pem });
    unsigned = await unsignedEif();
  });

  it('signs an unsigned EIF into --output: signature appended last, PCR0–2 unchanged, CRC valid, input untouched', async () => {
    const input = join(dir, 'u.eif');
    writeFileSync(input, unsigned);
    const before = await inspectEifFile(input);
    const r = await signEifFile({ eifPath: input, output: join(dir, 'u.signed.eif'), signer: signerA });
    expect(r.replaced).toBe(false);
    expect(toHex(new Uint8Array(readFileSync(input)))).toBe(toHex(unsigned));
    const after = await inspectEifFile(r.output);
    expect(after.checkCrc).toBe(true);
    // PCR0-2 unchanged; the reader now also returns the new PCR8 of the signed output (it used to drop it)
    expect(before.measurements.PCR8).toBeUndefined();
    expect(after.measurements).toEqual({ ...before.measurements, PCR8: r.measurements.PCR8 });
    expect(r.measurements).toEqual({ ...before.measurements, PCR8: r.measurements.PCR8 });
    expect(after.signature?.error).toBeUndefined();
    const out = new Uint8Array(readFileSync(r.output));
    const s = sectionsOf(out);
    expect(s.map((x) => x.type)).toEqual([...sectionsOf(unsigned).map((x) => x.type), SectionType.Signature]);
    // Everything before the new section is the input's bytes (only the header changed).
    expect(toHex(out.subarray(EIF_HEADER_SIZE, unsigned.length))).toBe(toHex(unsigned.subarray(EIF_HEADER_SIZE)));
    expect(s.at(-1)!.off).toBe(unsigned.length);
    expect(out.length).toBe(r.size);
    const sig = await inspectSignatureSection(s.at(-1)!.data, fromHex(before.measurements.PCR0));
    expect([sig.signatureValid, sig.payloadMatches, sig.pcr8]).toEqual([true, true, r.measurements.PCR8]);
  });

  it('matches what the builder writes when it signs (same section table and CRC for the same signature)', async () => {
    // Sign in-memory, then re-sign the unsigned file with a signer replaying that exact section.
    const built = await buildEifBytes({
      kernel: bytes(5000, 7), cmdline: 'console=ttyS0 reboot=k', ramdisks: [bytes(3000, 11), bytes(7001, 13)],
      buildTime: '2024-01-01T00:00:00+00:00', signer: signerA,
    });
    const section = sectionsOf(built.eif).at(-1)!.data;
    const replay: EifSigner = { signatureSection: async () => ({ data: section.slice(), pcr8: built.measurements.PCR8! }) };
    const input = join(dir, 'replay.eif');
    writeFileSync(input, unsigned);
    await signEifFile({ eifPath: input, signer: replay });
    expect(toHex(new Uint8Array(readFileSync(input)))).toBe(toHex(built.eif));
  });

  it('re-signing a signed EIF in place replaces the signature: same section count, PCR0–2 kept, new PCR8', async () => {
    const p = join(dir, 'inplace.eif');
    writeFileSync(p, unsigned);
    const first = await signEifFile({ eifPath: p, signer: signerA });
    const second = await signEifFile({ eifPath: p, signer: signerB });
    expect(second.replaced).toBe(true);
    expect(second.output).toBe(p);
    const { PCR8: p8a, ...pcrsA } = first.measurements;
    const { PCR8: p8b, ...pcrsB } = second.measurements;
    expect(pcrsB).toEqual(pcrsA);
    expect(p8b).not.toBe(p8a);
    const after = await inspectEifFile(p);
    expect(after.checkCrc).toBe(true);
    expect(after.layout.sections.filter((s) => s.type === SectionType.Signature)).toHaveLength(1);
    expect(after.layout.sections).toHaveLength(sectionsOf(unsigned).length + 1);
    const sig = await inspectSignatureSection(after.signatureBytes!, fromHex(after.measurements.PCR0));
    expect([sig.signatureValid, sig.payloadMatches, sig.algorithm]).toEqual([true, true, 'ES256']);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('signing in place keeps the file mode; a missing output folder is OUTPUT_DIR_MISSING', async () => {
    const p = join(dir, 'mode.eif');
    writeFileSync(p, unsigned);
    chmodSync(p, 0o600);
    await signEifFile({ eifPath: p, signer: signerA });
    expect(statSync(p).mode & 0o777).toBe(0o600);
    await expect(signEifFile({ eifPath: p, output: join(dir, 'no', 'such', 'x.eif'), signer: signerA })).rejects.toMatchObject({ code: 'OUTPUT_DIR_MISSING' });
  });

  it('a signature that was not the last section is replaced at the end; later sections move up', async () => {
    const s = sectionsOf(unsigned);
    const oldSig = (await signerB.signatureSection(new Uint8Array(48))).data;
    const odd = assemble([...s.slice(0, 3).map((x) => [x.type, x.data] as [SectionType, Uint8Array]), [SectionType.Signature, oldSig], ...s.slice(3).map((x) => [x.type, x.data] as [SectionType, Uint8Array])]);
    const p = join(dir, 'odd.eif');
    writeFileSync(p, odd);
    const before = await inspectEifFile(p);
    const r = await signEifFile({ eifPath: p, output: join(dir, 'odd.signed.eif'), signer: signerA });
    const after = await inspectEifFile(r.output);
    expect(after.checkCrc).toBe(true);
    expect(after.layout.sections.map((x) => x.type)).toEqual([...s.map((x) => x.type), SectionType.Signature]);
    expect([after.measurements.PCR0, after.measurements.PCR1, after.measurements.PCR2]).toEqual([before.measurements.PCR0, before.measurements.PCR1, before.measurements.PCR2]);
  });

  it('the two-thread hashing path gives the same file', async () => {
    if (!existsSync(join(REPO_ROOT, 'dist', 'node', 'hash-worker.js'))) return; // needs `node scripts/build.mjs ts`
    const replay = await signerA.signatureSection(new Uint8Array(48));
    const fixed: EifSigner = { signatureSection: async () => replay };
    const p1 = join(dir, 'seq.eif');
    const p2 = join(dir, 'par.eif');
    writeFileSync(p1, unsigned);
    writeFileSync(p2, unsigned);
    const r1 = await signEifFile({ eifPath: p1, signer: fixed, parallel: false });
    const r2 = await signEifFile({ eifPath: p2, signer: fixed, parallel: true });
    expect(r2.measurements).toEqual(r1.measurements);
    expect(toHex(new Uint8Array(readFileSync(p2)))).toBe(toHex(new Uint8Array(readFileSync(p1))));
  });

  it('sections larger than the pipeline\'s yield interval are copied in order (regression: un-awaited pushFile)', async () => {
    // 40 MiB ramdisk: the pipeline yields to the event loop every 16 MiB, so an un-awaited section copy would
    // interleave with the next section and corrupt the file.
    const big = new Uint8Array(40 << 20);
    for (let i = 0; i < big.length; i += 4096) big[i] = (i >> 12) & 0xff;
    const built = await buildEifBytes({ kernel: bytes(5000, 7), cmdline: 'x', ramdisks: [bytes(3000, 11), big, bytes(9, 3)], buildTime: '2024-01-01T00:00:00+00:00' });
    const replay = await signerA.signatureSection(new Uint8Array(48));
    const fixed: EifSigner = { signatureSection: async () => replay };
    for (const parallel of [false, true]) {
      const p = join(dir, `big-${parallel}.eif`);
      writeFileSync(p, built.eif);
      const r = await signEifFile({ eifPath: p, signer: fixed, parallel });
      const after = await inspectEifFile(p);
      expect(after.checkCrc).toBe(true);
      expect([r.measurements.PCR0, after.measurements.PCR1, after.measurements.PCR2]).toEqual([built.measurements.PCR0, built.measurements.PCR1, built.measurements.PCR2]);
      expect(after.measurements.PCR0).toBe(built.measurements.PCR0);
    }
  });

  describe('failures leave the input intact and no output', () => {
    it('a signer failure while signing in place', async () => {
      const p = join(dir, 'fail-inplace.eif');
      writeFileSync(p, unsigned);
      await expect(signEifFile({ eifPath: p, signer: failingSigner })).rejects.toMatchObject({ code: 'SIG_TEST_FAILURE' });
      expect(toHex(new Uint8Array(readFileSync(p)))).toBe(toHex(unsigned));
      expect(readdirSync(dir).filter((f) => f.includes('fail-inplace') && f !== 'fail-inplace.eif')).toEqual([]);
    });

    it('a signer failure with --output', async () => {
      const p = join(dir, 'fail-in.eif');
      writeFileSync(p, unsigned);
      await expect(signEifFile({ eifPath: p, output: join(dir, 'fail-out.eif'), signer: failingSigner })).rejects.toThrow();
      expect(existsSync(join(dir, 'fail-out.eif'))).toBe(false);
      expect(readdirSync(dir).filter((f) => f.includes('fail-out'))).toEqual([]);
    });

    it('a corrupt EIF (truncated) is refused before any output exists', async () => {
      const p = join(dir, 'trunc.eif');
      writeFileSync(p, unsigned.subarray(0, unsigned.length - 10));
      await expect(signEifFile({ eifPath: p, output: join(dir, 'trunc-out.eif'), signer: signerA })).rejects.toMatchObject({ code: expect.stringMatching(/^EIF_/) });
      expect(existsSync(join(dir, 'trunc-out.eif'))).toBe(false);
    });

    it('not an EIF / missing file', async () => {
      const p = join(dir, 'text.eif');
      writeFileSync(p, 'hello');
      await expect(signEifFile({ eifPath: p, signer: signerA })).rejects.toBeInstanceOf(EifError);
      await expect(signEifFile({ eifPath: join(dir, 'missing.eif'), signer: signerA })).rejects.toMatchObject({ code: 'INPUT_NOT_FOUND' });
      expect(readFileSync(p, 'utf8')).toBe('hello');
    });
  });
});

describeShared('the synthetic AWS vectors', () => {
  it('signing min-unsigned.eif with the test key gives min-signed.eif\'s PCRs and layout', async () => {
    const dir = tempDir();
    const expected = JSON.parse(new TextDecoder().decode(readShared('eif/synthetic/expected.json')))['synthetic/min-signed.eif'];
    const p = join(dir, 'min.eif');
    writeFileSync(p, readShared('eif/synthetic/min-unsigned.eif'));
    const signer = await createPemSigner({ certificatePem: readShared('eif/synthetic/test-signing-cert.pem'), privateKeyPem: readShared('eif/synthetic/test-signing-key.pem') });
    const r = await signEifFile({ eifPath: p, signer });
    expect(r.measurements).toEqual({ HashAlgorithm: 'Sha384 { ... }', ...expected.measurements });
    const out = new Uint8Array(readFileSync(p));
    const s = sectionsOf(out);
    expect(s.map((x) => x.type)).toEqual(expected.section_types);
    expect(s.map((x) => x.off)).toEqual(expected.section_offsets);
    // ECDSA is randomized: the section is 1816 bytes ± a few (each signature byte < 24 takes one CBOR byte, not two).
    expect(Math.abs(s[5]!.size - expected.section_sizes[5])).toBeLessThan(40);
    // Re-signing the AWS-signed file keeps PCR0–2 and PCR8 (same certificate).
    writeFileSync(p, readShared('eif/synthetic/min-signed.eif'));
    const again = await signEifFile({ eifPath: p, signer });
    expect(again.replaced).toBe(true);
    expect(again.measurements).toEqual(r.measurements);
  });
});
