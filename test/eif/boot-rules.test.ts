/**
 * Header rules of the boot stack (src/eif/boot-rules.ts, eif-format.md §1.2, §1.3, §1.5): an image whose header the
 * hypervisor refuses — reserved flag bits, the arch flag against the kernel's arch, version 3 with a v4 metadata
 * section — is still readable (describe shows it, with a warning), but `eif verify` fails it with the rule's code,
 * also when its CRC was recomputed so that nothing else is wrong (issue 9's hostile-input audit).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initCore } from '../../src/core/index.js';
import { buildEifBytes } from '../../src/eif/builder.js';
import { KERNEL_PROBE_SIZE, headerFindings, kernelArch } from '../../src/eif/boot-rules.js';
import { decodeEifHeader } from '../../src/eif/header.js';
import { bytesSource, readLayout } from '../../src/eif/layout.js';
import { inspectEifBytes } from '../../src/inspect/eif.js';
import { describeEifFileDetails } from '../../src/node/describe.js';
import { verifyEifFile } from '../../src/node/verify.js';
import { eif, fixCrc, tempDir, vector, view } from '../helpers/eif.js';

beforeAll(() => initCore());

const pins = { buildTime: '2024-01-01T00:00:00+00:00', name: 'boot', version: '1' } as const;

/** A stand-in kernel of `size` bytes with the x86 bzImage magic "HdrS" at 0x202 or the arm64 Image magic at 0x38. */
function kernel(kind: 'bzImage' | 'arm64' | 'neither', size = 8192): Uint8Array {
  const k = new Uint8Array(size).map((_, i) => (i * 7 + 3) & 0xff);
  if (kind === 'bzImage') k.set([0x48, 0x64, 0x72, 0x53], 0x202);
  if (kind === 'arm64') k.set([0x41, 0x52, 0x4d, 0x64], 0x38);
  return k;
}

async function image(kind: 'bzImage' | 'arm64' | 'neither', arch: 'x86_64' | 'aarch64'): Promise<Uint8Array> {
  const rd = new Uint8Array(3000).map((_, i) => i & 0xff);
  return (await buildEifBytes({ ...pins, kernel: kernel(kind), cmdline: 'console=ttyS0', ramdisks: [rd], arch })).eif;
}

/** Header field edits, with the CRC recomputed so that only the header rule is broken. */
const setFlags = (b: Uint8Array, flags: number): Uint8Array => {
  const out = b.slice();
  view(out).setUint16(6, flags);
  return fixCrc(out);
};
const setVersion = (b: Uint8Array, version: number): Uint8Array => {
  const out = b.slice();
  view(out).setUint16(4, version);
  return fixCrc(out);
};

const findingCodes = async (b: Uint8Array): Promise<string[]> => (await readLayout(bytesSource(b))).headerFindings.map((f) => f.code);

describe('kernelArch', () => {
  it('tells a bzImage ("HdrS" at 0x202) from an arm64 Image ("ARM\\x64" at 0x38), and neither from both', () => {
    expect(kernelArch(kernel('bzImage'))).toBe('x86_64');
    expect(kernelArch(kernel('arm64'))).toBe('aarch64');
    expect(kernelArch(kernel('neither'))).toBeUndefined();
    expect(kernelArch(kernel('bzImage').subarray(0, KERNEL_PROBE_SIZE - 1))).toBeUndefined(); // too short to say
    expect(kernelArch(new Uint8Array(0))).toBeUndefined();
  });
});

describe('headerFindings (library)', () => {
  it('well-formed images of both arches have none, nor have the synthetic vectors (kernels of neither kind)', async () => {
    expect(await findingCodes(await image('bzImage', 'x86_64'))).toEqual([]);
    expect(await findingCodes(await image('arm64', 'aarch64'))).toEqual([]);
    expect(await findingCodes(vector('three-ramdisks'))).toEqual([]);
    expect(await findingCodes(vector('one-ramdisk-aarch64'))).toEqual([]); // flags 1, kernel of neither kind
    expect(await findingCodes(vector('empty-cmdline'))).toEqual([]);
  });
  it('reserved flag bits: EIF_RESERVED_FLAGS, with or without the aarch64 bit (incl. the PCIe bits 6 and 9)', async () => {
    const good = await image('bzImage', 'x86_64');
    for (const flags of [0x0002, 0x8000, 0x0240]) expect(await findingCodes(setFlags(good, flags))).toEqual(['EIF_RESERVED_FLAGS']);
    const arm = await image('arm64', 'aarch64');
    expect(await findingCodes(setFlags(arm, 0x0041))).toEqual(['EIF_RESERVED_FLAGS']);
  });
  it('the aarch64 flag on an x86 bzImage, and no flag on an arm64 Image: EIF_ARCH_MISMATCH', async () => {
    expect(await findingCodes(setFlags(await image('bzImage', 'x86_64'), 1))).toEqual(['EIF_ARCH_MISMATCH']);
    expect(await findingCodes(await image('bzImage', 'aarch64'))).toEqual(['EIF_ARCH_MISMATCH']); // built so
    expect(await findingCodes(setFlags(await image('arm64', 'aarch64'), 0))).toEqual(['EIF_ARCH_MISMATCH']);
    // a kernel of neither kind is not judged
    expect(await findingCodes(setFlags(await image('neither', 'x86_64'), 1))).toEqual([]);
  });
  it('version 3 on a v4-shaped image (it has a metadata section): EIF_VERSION_MISMATCH; v3 without metadata is fine', async () => {
    const v3 = setVersion(await image('bzImage', 'x86_64'), 3);
    expect(await findingCodes(v3)).toEqual(['EIF_VERSION_MISMATCH']);
    const h = decodeEifHeader(v3);
    expect(headerFindings({ ...h, version: 3 }, [1, 2, 3], kernel('bzImage'))).toEqual([]); // kernel, cmdline, ramdisk
    expect(headerFindings({ ...h, version: 4 }, [1, 2, 5, 3], kernel('bzImage'))).toEqual([]);
  });
  it('several broken rules give several findings', async () => {
    const b = setVersion(setFlags(await image('bzImage', 'x86_64'), 0x0003), 3);
    expect((await findingCodes(b)).sort()).toEqual(['EIF_ARCH_MISMATCH', 'EIF_RESERVED_FLAGS', 'EIF_VERSION_MISMATCH']);
  });
  it('the browser inspector still reads such an image (CRC good) and lists the findings in its layout', async () => {
    const r = await inspectEifBytes(setFlags(await image('bzImage', 'x86_64'), 1));
    expect(r.checkCrc).toBe(true);
    expect(r.layout.headerFindings.map((f) => f.code)).toEqual(['EIF_ARCH_MISMATCH']);
  });
});

describe('eif verify / describe on images the boot stack refuses', () => {
  const dir = tempDir();
  const cases: [string, () => Promise<Uint8Array>, string][] = [
    ['reserved flag bits', async () => setFlags(await image('bzImage', 'x86_64'), 0x0004), 'EIF_RESERVED_FLAGS'],
    ['aarch64 flag on an x86 bzImage', async () => setFlags(await image('bzImage', 'x86_64'), 0x0001), 'EIF_ARCH_MISMATCH'],
    ['version 3 on a v4-shaped image', async () => setVersion(await image('bzImage', 'x86_64'), 3), 'EIF_VERSION_MISMATCH'],
  ];
  for (const [name, make, code] of cases) {
    it(`${name}: verifyEifFile and \`eif verify\` fail with ${code} (CRC good); describe shows it with a warning`, async () => {
      const p = join(dir, `${code}.eif`);
      writeFileSync(p, await make());
      const r = await verifyEifFile(p);
      expect(r.ok).toBe(false);
      expect(r.checks.find((c) => c.check === 'crc')?.ok).toBe(true);
      expect(r.checks.filter((c) => !c.ok).map((c) => c.code)).toEqual([code]);

      const v = eif(['verify', p, '--quiet']);
      expect(v.status).toBe(1);
      expect(v.stdout).toMatch(new RegExp(`FAIL header +${code}: `));
      expect(v.stdout).toMatch(/NOT verified/);
      const j = JSON.parse(eif(['verify', p, '--quiet', '--json']).stdout);
      expect(j.Ok).toBe(false);
      expect(j.Checks.filter((c: { Ok: boolean }) => !c.Ok).map((c: { Code: string }) => c.Code)).toEqual([code]);

      const d = await describeEifFileDetails(p);
      expect(d.warnings.some((w) => w.startsWith(`${code}: `))).toBe(true);
      const cli = eif(['describe', p, '--quiet']);
      expect(cli.status).toBe(0);
      expect(JSON.parse(cli.stdout).CheckCRC).toBe(true);
      expect(cli.stderr).toContain(`eif: warning: ${code}: `);
    });
  }
  it('a well-formed image passes the header check', async () => {
    const p = join(dir, 'good.eif');
    writeFileSync(p, await image('bzImage', 'x86_64'));
    const r = await verifyEifFile(p);
    expect(r.ok).toBe(true);
    expect(r.checks.find((c) => c.check === 'header')).toMatchObject({ ok: true });
    expect(eif(['verify', p, '--quiet']).status).toBe(0);
  });
});
