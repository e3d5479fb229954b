/** Pure launch arithmetic (ne-device.md §2.2, §2.7, §3.1, §2.1 step 10) and IDs/names (§4). */
import { describe, expect, it } from 'vitest';
import { EifError } from '../../src/errors.js';
import { enclaveName, formatEnclaveId, slotUidOf } from '../../src/launcher/enclave-id.js';
import { deviceOpenMessage, explainErrno, neError, NE_ERRORS } from '../../src/launcher/ne-errors.js';
import {
  MIB,
  cidProblem,
  heartbeatTimeoutMs,
  minimumMemoryMiB,
  parseCpuList,
  placeEif,
  planHugepages,
  requestedBytes,
} from '../../src/launcher/sizing.js';

const GIB = 1024 * MIB;

describe('memory sizing', () => {
  it('needs 4 × the EIF (in whole MiB) and never less than 64 MiB', () => {
    expect(minimumMemoryMiB(1000)).toBe(64);
    expect(minimumMemoryMiB(16 * MIB)).toBe(64);
    expect(minimumMemoryMiB(16 * MIB + 1)).toBe(68);
    expect(minimumMemoryMiB(100 * MIB)).toBe(400);
    expect(requestedBytes(65)).toBe(66 * MIB);
  });

  it('uses nitro-cli\'s heartbeat timeout: 90 s per started 6 GiB of EIF + 90 s per started 100 GiB of memory', () => {
    expect(heartbeatTimeoutMs(10 * MIB, 512 * MIB)).toBe(180_000);
    expect(heartbeatTimeoutMs(6 * GIB + 1, 100 * GIB)).toBe(270_000);
    expect(heartbeatTimeoutMs(7 * GIB, 150 * GIB)).toBe(360_000);
  });
});

describe('hugepage plan (nitro-cli\'s allocation)', () => {
  it('takes large pages first and reports what was actually allocated (256 MiB with only 1 GiB pages -> 1 GiB, #602)', () => {
    expect(planHugepages(256 * MIB, new Map([[GIB, 2]]))).toEqual([GIB]);
    expect(planHugepages(1536 * MIB, new Map([[GIB, 4], [2 * MIB, 512]]))).toEqual([GIB, ...Array(256).fill(2 * MIB)]);
  });

  it('drops surplus small regions and fails when the pools are short', () => {
    expect(planHugepages(64 * MIB, new Map([[2 * MIB, 31]]))).toBeUndefined();
    // pass 2 takes a 1 GiB page after the 2 MiB ones ran out; the 2 MiB pages are then surplus
    expect(planHugepages(64 * MIB, new Map([[GIB, 1], [2 * MIB, 3]]))).toEqual([GIB]);
  });
});

describe('EIF placement (§2.7)', () => {
  it('starts in the 5th region with 2 MiB pages', () => {
    const p = placeEif(Array(8).fill(2 * MIB), 3 * MIB);
    expect(p).toEqual([
      { region: 4, offsetInRegion: 0, fileOffset: 0, length: 2 * MIB },
      { region: 5, offsetInRegion: 0, fileOffset: 2 * MIB, length: MIB },
    ]);
  });

  it('starts 8 MiB into a 1 GiB first region and spills into the next', () => {
    const p = placeEif([GIB, 2 * MIB], GIB - 8 * MIB + 100);
    expect(p).toEqual([
      { region: 0, offsetInRegion: 8 * MIB, fileOffset: 0, length: GIB - 8 * MIB },
      { region: 1, offsetInRegion: 0, fileOffset: GIB - 8 * MIB, length: 100 },
    ]);
  });

  it('rejects an EIF that does not fit after the load offset', () => {
    expect(() => placeEif([8 * MIB, 2 * MIB], 2 * MIB + 1)).toThrow(RangeError);
  });
});

describe('CPU lists and CIDs', () => {
  it('parses the kernel cpu-list syntax', () => {
    expect(parseCpuList('1,3')).toEqual([1, 3]);
    expect(parseCpuList(' 2-5,10\n')).toEqual([2, 3, 4, 5, 10]);
    expect(parseCpuList('')).toEqual([]);
    expect(() => parseCpuList('3-1')).toThrow(RangeError);
    expect(() => parseCpuList('a')).toThrow(RangeError);
  });

  it('refuses the CIDs the driver refuses', () => {
    for (const c of [1, 2, 3, 0xffffffff, 0x100000000]) expect(cidProblem(c)).toBeDefined();
    for (const c of [0, 4, 16, 0xfffffffe]) expect(cidProblem(c)).toBeUndefined();
  });
});

describe('enclave IDs and names', () => {
  it('formats and parses nitro-cli enclave IDs', () => {
    const id = formatEnclaveId('i-0123456789abcdef0', '17aab64b3f7703d');
    expect(id).toBe('i-0123456789abcdef0-enc17aab64b3f7703d');
    expect(slotUidOf(id)).toBe('17aab64b3f7703d');
    expect(slotUidOf('i-0000000000000000-enc00AB')).toBe('ab');
    expect(() => slotUidOf('i-123')).toThrow(EifError);
    expect(() => slotUidOf('x-encZZ')).toThrow(/not an enclave ID/);
  });

  it('names after the EIF file and de-duplicates with _1, _2', () => {
    expect(enclaveName(undefined, '/x/hello.eif', new Set())).toBe('hello');
    expect(enclaveName(undefined, '/x/hello.eif', new Set(['hello', 'hello_1']))).toBe('hello_2');
    expect(enclaveName('web', '/x/hello.eif', new Set(['web']))).toBe('web_1');
  });
});

describe('NE errno table (§1.4)', () => {
  it('names 256..275 in order and explains each', () => {
    expect(NE_ERRORS.map((e) => e.errno)).toEqual(Array.from({ length: 20 }, (_, i) => 256 + i));
    expect(neError(272)!.name).toBe('NE_ERR_NO_CPUS_AVAIL_IN_POOL');
    expect(neError('NE_ERR_INVALID_ENCLAVE_CID')!.errno).toBe(275);
    for (const e of NE_ERRORS) expect(explainErrno(e.name)).toContain(e.advice);
    expect(explainErrno('ETIMEDOUT')).toMatch(/120 s/);
    expect(explainErrno('E999')).toBeUndefined();
  });

  it('tells a missing device from a permission problem', () => {
    expect(deviceOpenMessage('/dev/nitro_enclaves', 'ENOENT')).toMatchObject({ code: 'NE_DEVICE_MISSING' });
    expect(deviceOpenMessage('/dev/nitro_enclaves', 'ENOENT').message).toContain(
      'this host has no Nitro Enclaves device — enclave support off, driver not loaded, or the device not mapped into the container',
    );
    const denied = deviceOpenMessage('/dev/nitro_enclaves', 'EACCES');
    expect(denied.code).toBe('NE_DEVICE_PERMISSION');
    expect(denied.message).toContain('group `ne`');
  });
});
