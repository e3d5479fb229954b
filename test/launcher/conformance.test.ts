/**
 * The driver conformance suite (native/test/ne_conformance.c) against the simulator: one case per NE_ERR code
 * and per ordering rule of ne-device.md §2.3–§2.9. On an enclave-enabled host the same binary runs against the
 * real driver; any difference is simulator drift.
 */
import { spawnSync } from 'node:child_process';
import { expect, it } from 'vitest';
import { NE_ERRORS } from '../../src/launcher/ne-errors.js';
import { CONFORMANCE, describeNative, HELPER, SIM } from './simenv.js';


function run(mode: string, env: Record<string, string>): { out: string; status: number | null } {
  const r = spawnSync(CONFORMANCE, [mode], {
    encoding: 'utf8',
    timeout: 30_000,
    env: {
      ...process.env,
      LD_PRELOAD: SIM,
      NESIM_HUGEPAGES: '2M:200,32M:4',
      NESIM_NS: `conf-${process.pid}-${mode}`,
      NESIM_SCENARIO: 'silent',
      ...env,
    },
  });
  return { out: r.stdout + r.stderr, status: r.status };
}

describeNative('driver conformance (simulator)', () => {
  const outputs: string[] = [];

  it.each([
    ['all', {}],
    ['numa', { NESIM_MEM_NODE: '1' }],
    ['maxregions', { NESIM_MAX_REGIONS: '2' }],
    ['exit', { NESIM_SCENARIO: 'exit' }],
  ])('mode %s passes every case', (mode, env) => {
    const r = run(mode, env as Record<string, string>);
    outputs.push(r.out);
    expect(r.out).toMatch(/^0 failure\(s\)$/m);
    expect(r.out).not.toMatch(/^FAIL/m);
    expect(r.status).toBe(0);
    expect(r.out.match(/^ok /gm)!.length).toBeGreaterThan(mode === 'all' ? 50 : 0);
  });

  it('covers every NE_ERR code except the core-index one, which the helper tests inject', () => {
    const all = outputs.join('\n');
    const missing = NE_ERRORS.filter((e) => !all.includes(e.name)).map((e) => e.name);
    expect(missing).toEqual(['NE_ERR_VCPU_INVALID_CPU_CORE']);
  });
});

describeNative('helper ABI', () => {
  it('uses the ioctl numbers, struct sizes and NE_ERR names of ne-device.md §1', () => {
    const r = spawnSync(HELPER, ['abi'], { encoding: 'utf8' });
    const abi = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(abi).toMatchObject({
      NE_CREATE_VM: 0x8008ae20,
      NE_ADD_VCPU: 0xc004ae21,
      NE_GET_IMAGE_LOAD_INFO: 0xc010ae22,
      NE_SET_USER_MEMORY_REGION: 0x4018ae23,
      NE_START_ENCLAVE: 0xc010ae24,
      sizes: [16, 24, 16],
    });
    expect(abi.errors).toEqual(Object.fromEntries(NE_ERRORS.map((e) => [String(e.errno), e.name])));
  });
});
