/**
 * Pre-flight (ne-device.md §3.5): every finding reported together, with the numbers the user needs, against a
 * fake sysfs tree; the EIF checks use the EIF reader on images built by the builder.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCore } from '../../src/core/index.js';
import { buildEifFile } from '../../src/node/builder.js';
import { preflight, type LaunchRequest } from '../../src/launcher/preflight.js';
import { MIB } from '../../src/launcher/sizing.js';
import { describeShared, sharedPath } from '../helpers/shared.js';
import { SimEnv } from './simenv.js';

let s: SimEnv;
let eifPath: string;
let eifSize: number;

beforeAll(async () => {
  await initCore();
  s = new SimEnv({ hugepages: { '2M': 64 } });
  const kernel = join(s.dir, 'bzImage');
  const ramdisk = join(s.dir, 'rootfs.cpio');
  writeFileSync(kernel, randomBytes(3 * MIB));
  writeFileSync(ramdisk, randomBytes(2 * MIB));
  eifPath = join(s.dir, 'hello.eif');
  const r = await buildEifFile({ kernel, cmdline: 'console=ttyS0', ramdisks: [ramdisk], output: eifPath, sourceDateEpoch: '1700000000' });
  eifSize = r.size;
});
afterAll(() => s.cleanup());

const req = (o: Partial<LaunchRequest> = {}): LaunchRequest => ({ eifPath, memoryMiB: 64, cpuCount: 2, ...o });
const codes = (r: { findings: { code: string; severity: string }[] }, sev = 'fatal') =>
  r.findings.filter((f) => f.severity === sev).map((f) => f.code);

describe('launch pre-flight', () => {
  it('passes a good request and plans the regions and timeout', async () => {
    const r = await preflight(s.env(), req());
    expect(codes(r)).toEqual([]);
    expect(r.fatal).toBe(false);
    expect(r.eif!.size).toBe(eifSize);
    expect(r.eif!.measurements!.PCR0).toMatch(/^[0-9a-f]{96}$/);
    expect(r.plannedRegions).toEqual(Array(32).fill(2 * MIB));
    expect(r.pool).toEqual([1, 2, 3, 5, 6, 7]);
  });

  it('reports every problem at once, fast, with the numbers to fix them', async () => {
    const t0 = performance.now();
    const r = await preflight({ ...s.env(), device: join(s.dir, 'no-such-device') }, req({ memoryMiB: 16, cpuCount: 8, cid: 3 }));
    const ms = performance.now() - t0;
    expect(codes(r)).toEqual(['MEMORY_TOO_SMALL', 'CID_INVALID', 'NE_DEVICE_MISSING', 'CPU_POOL_TOO_SMALL']);
    const msg = (c: string) => r.findings.find((f) => f.code === c)!.message;
    expect(msg('MEMORY_TOO_SMALL')).toMatch(/at least 64 MiB/);
    expect(msg('CPU_POOL_TOO_SMALL')).toMatch(/8 CPUs requested but the enclave CPU pool has 6 \(\[1-3,5-7\]\)/);
    expect(msg('NE_DEVICE_MISSING')).toMatch(/this host has no Nitro Enclaves device/);
    expect(ms).toBeLessThan(1000);
    // the full read of the image (time proportional to its size) is skipped once a cheap check failed
    expect(codes(r, 'info')).toEqual(['EIF_NOT_HASHED']);
    expect(r.eif!.measurements).toBeUndefined();
  });

  it('prints the memory minimum from the EIF size (4 ×)', async () => {
    const big = join(s.dir, 'big.eif');
    const kernel = join(s.dir, 'k2');
    writeFileSync(kernel, randomBytes(20 * MIB));
    const r0 = await buildEifFile({ kernel, cmdline: 'x', ramdisks: [join(s.dir, 'rootfs.cpio')], output: big, sourceDateEpoch: '1700000000' });
    const min = 4 * Math.ceil(r0.size / MIB);
    const r = await preflight(s.env(), req({ eifPath: big, memoryMiB: 64 }));
    expect(codes(r)).toContain('MEMORY_TOO_SMALL');
    expect(r.findings.find((f) => f.code === 'MEMORY_TOO_SMALL')!.message).toContain(`at least ${min} MiB`);
  });

  // Regression: `--memory 1` got MEMORY_TOO_SMALL "at least 64 MiB" while the hugepage check planned for the 2 MiB
  // asked (no HUGEPAGES_INSUFFICIENT with 20 MiB free; "1 GiB for the 2 MiB requested" with a 1 GiB page), and
  // `--memory 0` had a message of its own. Now every value below the minimum names the same minimum everywhere.
  it('one memory minimum: MEMORY_TOO_SMALL and the hugepage check agree for --memory 0, 1 and 63', async () => {
    for (const hugepages of [{ '2M': 10 }, { '1G': 1 }]) {
      const t = new SimEnv({ hugepages });
      try {
        for (const memoryMiB of [0, 1, 63]) {
          const r = await preflight(t.env(), req({ memoryMiB }));
          const msg = (c: string) => r.findings.find((f) => f.code === c)?.message;
          expect(msg('MEMORY_TOO_SMALL')).toBe(
            `--memory ${memoryMiB} is too small: at least 64 MiB must be allocated (4 times the EIF size of ${Math.ceil(eifSize / MIB)} MiB, and never less than 64 MiB)`,
          );
          expect(r.needBytes).toBe(64 * MIB);
          if ('2M' in hugepages) {
            expect(codes(r)).toEqual(['MEMORY_TOO_SMALL', 'HUGEPAGES_INSUFFICIENT']);
            expect(msg('HUGEPAGES_INSUFFICIENT')).toMatch(/^64 MiB of hugepages needed but only 20 MiB free .* at least 64 and restart/);
          } else {
            expect(codes(r)).toEqual(['MEMORY_TOO_SMALL']);
            expect(msg('MEMORY_ROUNDED_UP')).toMatch(/give 1 GiB for the 64 MiB needed/);
          }
        }
      } finally {
        t.cleanup();
      }
    }
  });

  it('checks CPU ids against the pool, duplicates, and whole cores', async () => {
    const r = await preflight(s.env(), req({ cpuCount: undefined, cpuIds: [1, 1, 4] }));
    expect(codes(r)).toEqual(['CPU_IDS_DUPLICATE', 'CPU_NOT_IN_POOL', 'CPU_COUNT_NOT_FULL_CORES']);
    expect(r.findings.find((f) => f.code === 'CPU_NOT_IN_POOL')!.message).toMatch(/CPU 4 is not in the enclave CPU pool/);
    expect(codes(await preflight(s.env(), req({ cpuCount: 3 })))).toEqual(['CPU_COUNT_NOT_FULL_CORES']);
  });

  it('compares hugepages on the CPU pool\'s NUMA node with the need', async () => {
    const t = new SimEnv({ hugepages: { '2M': 64 } });
    try {
      // the pool lives on node 1, which has only 8 free 2 MiB pages; node 0's pages do not count
      writeFileSync(join(t.sysfs, 'devices/system/node/node0/cpulist'), '0,4\n');
      mkdirSync(join(t.sysfs, 'devices/system/node/node1/hugepages/hugepages-2048kB'), { recursive: true });
      writeFileSync(join(t.sysfs, 'devices/system/node/node1/cpulist'), '1-3,5-7\n');
      writeFileSync(join(t.sysfs, 'devices/system/node/node1/hugepages/hugepages-2048kB/free_hugepages'), '8\n');
      const r = await preflight(t.env(), req());
      expect(codes(r)).toEqual(['HUGEPAGES_INSUFFICIENT']);
      expect(r.findings[0]!.message).toMatch(/64 MiB of hugepages needed but only 16 MiB free on NUMA node 1 \(8 × 2 MiB\)/);
      expect(r.findings[0]!.message).toMatch(/memory_mib .* at least 64/);
    } finally {
      t.cleanup();
    }
  });

  it('notes when only larger pages are free (the enclave gets more than asked)', async () => {
    const t = new SimEnv({ hugepages: { '1G': 1 } });
    try {
      const r = await preflight(t.env(), req({ memoryMiB: 256 }));
      expect(codes(r)).toEqual([]);
      expect(codes(r, 'info')).toEqual(['MEMORY_ROUNDED_UP']);
      expect(r.plannedRegions).toEqual([1024 * MIB]);
    } finally {
      t.cleanup();
    }
  });

  it('reports an unloaded driver (no ne_cpus) and an empty pool', async () => {
    const t = new SimEnv({ pool: '' });
    try {
      expect(codes(await preflight(t.env(), req()))).toEqual(['CPU_POOL_EMPTY']);
      rmSync(join(t.sysfs, 'module'), { recursive: true });
      const r = await preflight(t.env(), req());
      expect(codes(r, 'warning')).toEqual(['NE_CPU_POOL_UNREADABLE']); // device present: only a warning
      expect(codes(await preflight({ ...t.env(), device: '/nonexistent/ne' }, req()))).toEqual(['NE_DEVICE_MISSING', 'NE_CPU_POOL_UNREADABLE']);
    } finally {
      t.cleanup();
    }
  });

  it('reports a permission problem on the device (EACCES)', async () => {
    if (process.getuid?.() === 0) return; // root passes access(); the EACCES text is covered in sizing.test.ts
    const dev = join(s.dir, 'locked');
    writeFileSync(dev, '');
    chmodSync(dev, 0o000);
    expect(codes(await preflight({ ...s.env(), device: dev }, req()))).toEqual(['NE_DEVICE_PERMISSION']);
  });

  it('rejects a damaged EIF (CRC) and a non-EIF', async () => {
    const bytes = new Uint8Array(readFileSync(eifPath));
    bytes[bytes.length - 10]! ^= 0xff;
    const damaged = join(s.dir, 'damaged.eif');
    writeFileSync(damaged, bytes);
    expect(codes(await preflight(s.env(), req({ eifPath: damaged })))).toEqual(['EIF_BAD_CRC']);
    const junk = join(s.dir, 'junk.eif');
    writeFileSync(junk, randomBytes(4096));
    const r = await preflight(s.env(), req({ eifPath: junk }));
    expect(codes(r)).toEqual(['EIF_INVALID']);
    expect(codes(await preflight(s.env(), req({ eifPath: join(s.dir, 'missing.eif') })))).toEqual(['EIF_NOT_FOUND']);
  });
});

describeShared('launch pre-flight: signing certificate validity', () => {
  it('refuses an EIF whose signing certificate has expired (nitro-cli #243), accepts it while valid', async () => {
    const signed = sharedPath('eif', 'synthetic', 'min-signed.eif');
    const ok = await preflight(s.env(), req({ eifPath: signed }), new Date('2030-01-01T00:00:00Z'));
    expect(codes(ok)).toEqual([]);
    expect(ok.eif!.measurements!.PCR8).toMatch(/^[0-9a-f]{96}$/);
    const late = await preflight(s.env(), req({ eifPath: signed }), new Date('2125-01-01T00:00:00Z'));
    expect(codes(late)).toEqual(['EIF_CERT_EXPIRED']);
    expect(late.findings[0]!.message).toMatch(/expired on 2124-01-01T00:00:00.000Z/);
    const early = await preflight(s.env(), req({ eifPath: signed }), new Date('2020-01-01T00:00:00Z'));
    expect(codes(early)).toEqual(['EIF_CERT_NOT_YET_VALID']);
  });
});
