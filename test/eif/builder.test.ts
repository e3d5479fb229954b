/** The builders (in-memory and streaming) against our independent generator and AWS-built vectors (Appendix A). */
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initCore } from '../../src/core/index.js';
import { buildEifBytes } from '../../src/eif/builder.js';
import { buildEifFile } from '../../src/node/builder.js';
import { inspectEifFile } from '../../src/node/reader.js';
import { cases, meta } from '../../test-vectors/eif/generate.mjs';
import { expectedVectors, tempDir, vector } from '../helpers/eif.js';
import { describeShared, readShared, sharedPath } from '../helpers/shared.js';

beforeAll(() => initCore());

const pins = {
  name: meta.name,
  buildTime: meta.time,
  buildTool: meta.tool,
  buildToolVersion: meta.toolVersion,
  imgOs: meta.os,
  imgKernel: meta.kernel,
};

describe('in-memory builder', () => {
  for (const [name, c] of Object.entries(cases) as [string, any][]) {
    it(`reproduces ${name} byte for byte, with its PCRs`, async () => {
      const r = await buildEifBytes({ ...pins, ...c.inputs, arch: c.flags ? 'aarch64' : 'x86_64' });
      expect(Buffer.from(r.eif).equals(Buffer.from(vector(name)))).toBe(true);
      expect(r.measurements).toEqual({ HashAlgorithm: 'Sha384 { ... }', ...expectedVectors[name].measurements });
    });
  }
});

describe('streaming builder (files)', () => {
  const dir = tempDir();
  for (const parallel of [false, true]) {
    it(`three-ramdisks, ${parallel ? 'two worker threads' : 'main thread'}: same bytes and PCRs`, async () => {
      const c = (cases as any)['three-ramdisks'].inputs;
      const paths = ['kernel', 'rd0', 'rd1', 'rd2'].map((n) => join(dir, `${n}-${parallel}`));
      [c.kernel, ...c.ramdisks].forEach((b: Uint8Array, i: number) => writeFileSync(paths[i]!, b));
      const out = join(dir, `out-${parallel}.eif`);
      const r = await buildEifFile({ ...pins, kernel: paths[0]!, cmdline: c.cmdline.toString(), ramdisks: paths.slice(1), output: out, parallel });
      expect(Buffer.from(readFileSync(out)).equals(Buffer.from(vector('three-ramdisks')))).toBe(true);
      expect(r.measurements.PCR0).toBe(expectedVectors['three-ramdisks'].measurements.PCR0);
      expect(r.size).toBe(expectedVectors['three-ramdisks'].size);
    });
  }

  it('splits chunks across the 1 MiB slot size and forks PCR1 at the end of ramdisk 0 (parallel = serial)', async () => {
    // Sizes around the slot boundary, a ramdisk 0 that ends mid-slot, and an empty last ramdisk.
    const kernel = new Uint8Array((1 << 20) + 7).map((_, i) => (i * 31) & 0xff);
    const rd0 = new Uint8Array((2 << 20) - 1).map((_, i) => (i * 7) & 0xff);
    const rd1 = new Uint8Array(3 << 20).map((_, i) => (i * 13) & 0xff);
    const rd2 = new Uint8Array(0);
    const files = [kernel, rd0, rd1, rd2].map((b, i) => {
      const p = join(dir, `big${i}`);
      writeFileSync(p, b);
      return p;
    });
    const results = [];
    for (const parallel of [false, true]) {
      const out = join(dir, `big-${parallel}.eif`);
      results.push({ r: await buildEifFile({ ...pins, kernel: files[0]!, cmdline: 'x', ramdisks: files.slice(1), output: out, parallel }), bytes: readFileSync(out) });
    }
    const mem = await buildEifBytes({ ...pins, kernel, kernelFileName: 'big0', cmdline: 'x', ramdisks: [rd0, rd1, rd2] });
    expect(results[0]!.bytes.equals(results[1]!.bytes)).toBe(true);
    expect(results[0]!.bytes.equals(Buffer.from(mem.eif))).toBe(true);
    expect(results[1]!.r.measurements).toEqual(mem.measurements);
    // And the reader agrees, both ways.
    for (const parallel of [false, true]) {
      const i = await inspectEifFile(join(dir, 'big-true.eif'), { parallel });
      expect(i.measurements).toEqual(mem.measurements);
      expect(i.checkCrc).toBe(true);
    }
  });
});

describe('streaming builder with ramdisk sources (ByteSource, not paths)', () => {
  const dir = tempDir();
  /** A source that hands out its bytes and records each read, to prove one front-to-back pass. */
  function recordingSource(bytes: Uint8Array) {
    const reads: [number, number][] = [];
    return {
      reads,
      source: {
        size: bytes.length,
        read: async (offset: number, length: number) => {
          reads.push([offset, length]);
          return bytes.slice(offset, offset + length);
        },
      },
    };
  }

  for (const parallel of [false, true]) {
    it(`gives the same bytes and PCRs as files (${parallel ? 'two worker threads' : 'main thread'}), reading each source once in order`, async () => {
      const kernel = new Uint8Array((1 << 20) + 3).map((_, i) => (i * 17) & 0xff);
      const rd0 = new Uint8Array((2 << 20) + 5).map((_, i) => (i * 5) & 0xff);
      const rd1 = new Uint8Array((3 << 20) - 9).map((_, i) => (i * 11) & 0xff);
      const kpath = join(dir, `k-${parallel}`);
      writeFileSync(kpath, kernel);
      const paths = [rd0, rd1].map((b, i) => {
        const p = join(dir, `rd${i}-${parallel}`);
        writeFileSync(p, b);
        return p;
      });
      const fromFiles = join(dir, `files-${parallel}.eif`);
      const rf = await buildEifFile({ ...pins, kernel: kpath, cmdline: 'x', ramdisks: paths, output: fromFiles, parallel });
      const s0 = recordingSource(rd0);
      const s1 = recordingSource(rd1);
      const fromSources = join(dir, `sources-${parallel}.eif`);
      const rs = await buildEifFile({
        ...pins,
        kernel: kpath,
        cmdline: new TextEncoder().encode('x'),
        ramdisks: [{ source: s0.source, label: 'bootstrap' }, { source: s1.source, label: 'customer' }],
        output: fromSources,
        parallel,
      });
      expect(readFileSync(fromSources).equals(readFileSync(fromFiles))).toBe(true);
      expect(rs.measurements).toEqual(rf.measurements);
      for (const [s, size] of [[s0, rd0.length], [s1, rd1.length]] as const) {
        let pos = 0;
        for (const [off, len] of s.reads) {
          expect(off).toBe(pos);
          pos += len;
        }
        expect(pos).toBe(size);
      }
    });
  }

  it('a source that gives fewer bytes than its size promised fails with INPUT_CHANGED and leaves no output', async () => {
    const kpath = join(dir, 'k-short');
    writeFileSync(kpath, new Uint8Array(10));
    const out = join(dir, 'short.eif');
    const liar = { size: 100, read: (o: number, l: number) => new Uint8Array(Math.max(0, l - 1)) };
    await expect(buildEifFile({ ...pins, kernel: kpath, cmdline: 'x', ramdisks: [{ source: liar, label: 'customer ramdisk' }], output: out })).rejects.toMatchObject({
      code: 'INPUT_CHANGED',
      message: expect.stringContaining('customer ramdisk'),
    });
    expect(existsSync(out)).toBe(false);
  });
});

describeShared('AWS eif_build vectors (../shared/test-vectors/eif/synthetic)', () => {
  const S = (f: string) => sharedPath('eif', 'synthetic', f);
  const awsPins = { name: 'test-image', buildTime: '2024-01-01T00:00:00+00:00', buildTool: 'eif_build', buildToolVersion: '0.3.1', imgOs: 'Linux', imgKernel: '4.14.256' };
  const expected = () => JSON.parse(readFileSync(S('expected.json'), 'utf8'));

  it('builds min-unsigned.eif byte-identical to eif_build 0.3.1', async () => {
    const dir = tempDir();
    const out = join(dir, 'min.eif');
    const cmdline = readFileSync(S('cmdline.txt'), 'utf8');
    const r = await buildEifFile({ ...awsPins, kernel: S('kernel.bin'), cmdline, ramdisks: [S('ramdisk0.cpio'), S('ramdisk1.cpio')], output: out });
    expect(Buffer.from(readFileSync(out)).equals(Buffer.from(readShared('eif', 'synthetic', 'min-unsigned.eif')))).toBe(true);
    expect(r.measurements).toMatchObject(expected()['synthetic/min-unsigned.eif'].measurements);
  });

  it('builds one-ramdisk-arm64flag.eif (aarch64 flag) byte-identical', async () => {
    const r = await buildEifBytes({
      ...awsPins,
      kernel: readShared('eif', 'synthetic', 'kernel.bin'),
      cmdline: readShared('eif', 'synthetic', 'cmdline.txt'),
      ramdisks: [readShared('eif', 'synthetic', 'ramdisk0.cpio')],
      arch: 'aarch64',
    });
    expect(Buffer.from(r.eif).equals(Buffer.from(readShared('eif', 'synthetic', 'one-ramdisk-arm64flag.eif')))).toBe(true);
    expect(r.measurements.PCR2).toBe(expected().constants['PCR_of_empty_input (extend0(sha384(b\'\')))']);
  });

  it('writes the same metadata bytes as eif_build', async () => {
    const r = await buildEifBytes({ ...awsPins, kernel: new Uint8Array(1), cmdline: 'x', ramdisks: [new Uint8Array(1)] });
    const metaBytes = readShared('eif', 'synthetic', 'metadata.json');
    const off = 548 + 12 + 1 + 12 + 1 + 12;
    expect(Buffer.from(r.eif.subarray(off, off + metaBytes.length)).equals(Buffer.from(metaBytes))).toBe(true);
  });
});

describe('builder input checks', () => {
  it('a cmdline with a NUL byte is refused (CMDLINE_NUL); argv cannot carry one, the library can', async () => {
    await expect(buildEifBytes({ kernel: new Uint8Array(1), cmdline: 'console=ttyS0\0x', ramdisks: [new Uint8Array(1)] })).rejects.toMatchObject({ code: 'CMDLINE_NUL' });
  });
  it('no ramdisk is refused (NO_RAMDISK)', async () => {
    await expect(buildEifBytes({ kernel: new Uint8Array(1), cmdline: 'x', ramdisks: [] })).rejects.toMatchObject({ code: 'NO_RAMDISK' });
  });
  it('at most 29 ramdisks (28 when signed) fit the 32-entry section table (TOO_MANY_SECTIONS)', async () => {
    const rd = Array.from({ length: 30 }, () => new Uint8Array(1));
    await expect(buildEifBytes({ kernel: new Uint8Array(1), cmdline: 'x', ramdisks: rd })).rejects.toMatchObject({ code: 'TOO_MANY_SECTIONS' });
    const ok = await buildEifBytes({ kernel: new Uint8Array(1), cmdline: 'x', ramdisks: rd.slice(1) });
    expect(new DataView(ok.eif.buffer).getUint16(26)).toBe(32);
    let signed = false;
    const signer = { signatureSection: async () => ((signed = true), { data: new Uint8Array(1), pcr8: '' }) };
    await expect(buildEifBytes({ kernel: new Uint8Array(1), cmdline: 'x', ramdisks: rd.slice(1), signer })).rejects.toMatchObject({ code: 'TOO_MANY_SECTIONS' });
    expect(signed).toBe(false);
  });
  it('SOURCE_DATE_EPOCH must be whole seconds', async () => {
    await expect(buildEifBytes({ kernel: new Uint8Array(1), cmdline: 'x', ramdisks: [new Uint8Array(1)], sourceDateEpoch: '1.5' })).rejects.toMatchObject({ code: 'BAD_SOURCE_DATE_EPOCH' });
    const r = await buildEifBytes({ kernel: new Uint8Array(1), cmdline: 'x', ramdisks: [new Uint8Array(1)], sourceDateEpoch: '1700000000' });
    expect(r.metadata.buildTime).toBe('2023-11-14T22:13:20+00:00');
  });
  it('without a pin, BuildTime is now in chrono\'s RFC 3339 form', async () => {
    const r = await buildEifBytes({ kernel: new Uint8Array(1), cmdline: 'x', ramdisks: [new Uint8Array(1)], now: () => new Date(Date.UTC(2025, 5, 1, 12, 0, 0, 250)) });
    expect(r.metadata.buildTime).toBe('2025-06-01T12:00:00.250+00:00');
    expect(r.metadata.imageName).toBe('bzImage');
    expect(r.metadata.imageVersion).toBe('1.0');
  });
});
