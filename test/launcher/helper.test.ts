/**
 * The real helper binary under the LD_PRELOAD driver simulator (ne-device.md §6.2): byte-exact EIF placement,
 * boot failures, NE_ERR decoding, termination, crash handling, launch serialization, and no leaks on any path.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { EifError } from '../../src/errors.js';
import { type HelperEvent, type HelperRunArgs, launchWithHelper } from '../../src/launcher/helper.js';
import { NE_ERRORS } from '../../src/launcher/ne-errors.js';
import { MIB, placeEif, planHugepages } from '../../src/launcher/sizing.js';
import { terminateEnclave, describeEnclaves } from '../../src/launcher/launcher.js';
import { formatEnclaveId } from '../../src/launcher/enclave-id.js';
import { describeNative, leakFree, pidAlive, SimEnv, type SimOptions, waitFor } from './simenv.js';

const envs: SimEnv[] = [];
afterEach(() => {
  while (envs.length) envs.pop()!.cleanup();
});

function sim(o: SimOptions = {}): SimEnv {
  const s = new SimEnv(o);
  envs.push(s);
  return s;
}

function eifFile(s: SimEnv, size: number): { path: string; bytes: Buffer } {
  const bytes = randomBytes(size);
  const path = join(s.dir, 'image.eif');
  writeFileSync(path, bytes);
  return { path, bytes };
}

function args(s: SimEnv, path: string, o: Partial<HelperRunArgs> = {}): HelperRunArgs {
  return { eifPath: path, memoryMiB: 64, cpuCount: 2, timeoutMs: 1500, detach: false, graceMs: 10_000, ...o };
}

async function launchError(s: SimEnv, a: HelperRunArgs, extra: Record<string, string> = {}, events?: HelperEvent[]): Promise<EifError> {
  return s.with(extra, async () => {
    try {
      const h = await launchWithHelper(s.env(), a, { onEvent: (e) => events?.push(e) });
      h.terminate();
      await h.finished.catch(() => undefined);
    } catch (e) {
      expect(e).toBeInstanceOf(EifError);
      return e as EifError;
    }
    throw new Error('launch unexpectedly succeeded');
  });
}

describeNative('helper under the driver simulator', () => {
  it('places the EIF byte-exactly at 8 MiB across 2 MiB regions', async () => {
    const s = sim({ hugepages: { '2M': 40 } });
    const { path, bytes } = eifFile(s, 10 * MIB + 12345);
    const dump = join(s.dir, 'dump.bin');
    const h = await s.with({ NESIM_DUMP: dump, NESIM_DUMP_LEN: String(bytes.length) }, () => launchWithHelper(s.env(), args(s, path)));
    expect(h.ready.regionsMiB).toEqual(Array(32).fill(2));
    // the EIF starts in the 5th region (index 4) and spans 6 regions
    const pieces = placeEif(h.ready.regionsMiB.map((m) => m * MIB), bytes.length);
    expect(pieces[0]).toMatchObject({ region: 4, offsetInRegion: 0, fileOffset: 0 });
    expect(pieces.length).toBe(6);
    expect(readFileSync(dump).equals(bytes)).toBe(true);
    h.terminate();
    expect((await h.finished).event).toBe('terminated');
    expect(leakFree(s.exits())).toBe(true);
  });

  const realFree = (() => {
    try {
      return Number(readFileSync('/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages', 'utf8'));
    } catch {
      return 0;
    }
  })();
  it.skipIf(realFree < 40)('uses real hugetlb pages when the host has 40 free (the simulator checks them via smaps)', async () => {
    const s = sim({ hugepages: 'real' });
    const { path, bytes } = eifFile(s, 5 * MIB + 1);
    const dump = join(s.dir, 'dump.bin');
    const h = await s.with({ NESIM_DUMP: dump, NESIM_DUMP_LEN: String(bytes.length) }, () => launchWithHelper(s.env(), args(s, path)));
    expect(h.ready.regionsMiB).toEqual(Array(32).fill(2));
    expect(readFileSync(dump).equals(bytes)).toBe(true);
    h.terminate();
    await h.finished;
    expect(leakFree(s.exits())).toBe(true);
  });

  it('places the EIF across regions of different sizes (32 MiB first, then 2 MiB), largest first', async () => {
    const s = sim({ hugepages: { '32M': 1, '2M': 64 } });
    const { path, bytes } = eifFile(s, 30 * MIB + 7);
    const dump = join(s.dir, 'dump.bin');
    const h = await s.with({ NESIM_DUMP: dump, NESIM_DUMP_LEN: String(bytes.length) }, () => launchWithHelper(s.env(), args(s, path)));
    const expected = planHugepages(64 * MIB, new Map([[32 * MIB, 1], [2 * MIB, 64]]))!;
    expect(h.ready.regionsMiB).toEqual(expected.map((b) => b / MIB));
    expect(h.ready.regionsMiB[0]).toBe(32);
    const pieces = placeEif(expected, bytes.length);
    expect(pieces[0]).toMatchObject({ region: 0, offsetInRegion: 8 * MIB, length: 24 * MIB });
    expect(readFileSync(dump).equals(bytes)).toBe(true);
    const start = s.reportLines().find((l) => l.ev === 'start')!;
    expect(start.chunksMiB).toEqual(h.ready.regionsMiB); // regions handed over in the copy order
    h.terminate();
    await h.finished;
  });

  it('reports a heartbeat timeout, a wrong byte, a closed connection and an early exit each with its own message', async () => {
    const cases: [SimOptions['scenario'], string, RegExp][] = [
      ['silent', 'HEARTBEAT_TIMEOUT', /no boot heartbeat .* within 1 s/],
      ['wrong', 'HEARTBEAT_WRONG_BYTE', /sent 0x42 instead of the heartbeat byte 0xB7/],
      ['close', 'HEARTBEAT_CLOSED', /closed the heartbeat connection without sending/],
      ['exit', 'ENCLAVE_EXITED_DURING_BOOT', /exited during boot/],
    ];
    const messages = new Set<string>();
    for (const [scenario, code, re] of cases) {
      const s = sim({ scenario });
      const { path } = eifFile(s, 4096);
      const t0 = Date.now();
      const e = await launchError(s, args(s, path, { timeoutMs: 1000 }));
      expect(e.code).toBe(code);
      expect(e.message).toMatch(re);
      expect(e.message).toMatch(/--debug-mode/);
      messages.add(e.message);
      if (scenario === 'exit') expect(Date.now() - t0).toBeLessThan(900); // did not wait out the timeout
      expect(leakFree(s.exits())).toBe(true);
      expect(s.simSlots()).toEqual([]);
    }
    expect(messages.size).toBe(4);
  });

  it('decodes every NE_ERR code (256-275) by name with its explanation, and leaks nothing', async () => {
    const opOf = (n: number): string =>
      [256, 257, 258, 270, 271].includes(n) ? 'add_vcpu'
        : n === 272 ? 'create_vm'
          : n === 274 ? 'get_image_load_info'
            : [266, 267, 268, 269, 275].includes(n) ? 'start'
              : 'set_mem';
    const s = sim();
    const { path } = eifFile(s, 4096);
    for (const ne of NE_ERRORS) {
      const e = await launchError(s, args(s, path), { NESIM_INJECT: `${opOf(ne.errno)}:${ne.errno}` });
      expect(e.code, ne.name).toBe(ne.name);
      expect(e.message).toContain(ne.meaning);
      expect(e.message).toContain(ne.advice);
    }
    expect(NE_ERRORS.length).toBe(20);
    const exits = s.exits();
    expect(exits.length).toBe(20);
    expect(leakFree(exits)).toBe(true);
    expect(s.simSlots()).toEqual([]);
  });

  it('explains device-open failures (ENOENT vs EACCES) and device timeouts', async () => {
    const s = sim();
    const { path } = eifFile(s, 4096);
    const missing = await launchError(s, args(s, path), { NESIM_INJECT: 'open:ENOENT' });
    expect(missing.code).toBe('NE_DEVICE_MISSING');
    expect(missing.message).toContain('this host has no Nitro Enclaves device — enclave support off, driver not loaded, or the device not mapped into the container');
    const denied = await launchError(s, args(s, path), { NESIM_INJECT: 'open:EACCES' });
    expect(denied.code).toBe('NE_DEVICE_PERMISSION');
    expect(denied.message).toContain('group `ne`');
    const slow = await launchError(s, args(s, path), { NESIM_INJECT: 'start:ETIMEDOUT' });
    expect(slow.code).toBe('ETIMEDOUT');
    expect(slow.message).toMatch(/NE_START_ENCLAVE failed — ETIMEDOUT: the Nitro Enclaves PCI device did not answer/);
    expect(leakFree(s.exits())).toBe(true);
  });

  it('fails cleanly when hugepages are short or not faultable', async () => {
    const s = sim({ hugepages: { '2M': 10 } });
    const { path } = eifFile(s, 4096);
    const short = await launchError(s, args(s, path));
    expect(short.code).toBe('HUGEPAGES_INSUFFICIENT');
    expect(short.message).toMatch(/44 MiB of 64 MiB remained/);
    const s2 = sim();
    const { path: p2 } = eifFile(s2, 4096);
    const nofault = await launchError(s2, args(s2, p2), { NESIM_INJECT: 'populate:EFAULT' });
    expect(nofault.code).toBe('HUGEPAGES_NOT_ACCESSIBLE');
    expect(nofault.message).toMatch(/not accessible in this container/);
    expect(leakFree([...s.exits(), ...s2.exits()])).toBe(true);
  });

  it('terminate frees everything: slot, cores, memory, records; the pool can be fully used again', async () => {
    const s = sim({ hugepages: { '2M': 200 } });
    const { path } = eifFile(s, 4096);
    const h = await s.with({}, () => launchWithHelper(s.env(), args(s, path, { detach: true, meta: { EnclaveName: 'a' } })));
    expect(h.ready.cpuIds).toEqual([1, 5]);
    const files = readdirSync(s.stateDir).sort();
    expect(files).toEqual([`${h.ready.slotUid}.json`, `${h.ready.slotUid}.sock`, 'heartbeat.lock'].sort());
    expect(s.simSlots().length).toBe(1);
    const listed = await describeEnclaves(s.env());
    expect(listed.map((d) => d.State)).toEqual(['RUNNING']);
    const id = formatEnclaveId('i-0123456789abcdef0', h.ready.slotUid);
    expect(listed[0]!.EnclaveID).toBe(id);
    const r = await terminateEnclave(id, s.env(), 5000);
    expect(r).toEqual({ EnclaveName: 'a', EnclaveID: id, Terminated: true });
    expect(pidAlive(h.ready.pid)).toBe(false);
    expect(readdirSync(s.stateDir)).toEqual(['heartbeat.lock']);
    expect(s.simSlots()).toEqual([]);
    expect(leakFree(s.exits())).toBe(true);
    // all three pool cores (6 CPUs) are free again
    const all = await s.with({}, () => launchWithHelper(s.env(), args(s, path, { cpuCount: 6 })));
    expect(all.ready.cpuIds.sort()).toEqual([1, 2, 3, 5, 6, 7]);
    all.terminate();
    await all.finished;
  });

  it('SIGTERM to a detached enclave process terminates the enclave and cleans up', async () => {
    const s = sim();
    const { path } = eifFile(s, 4096);
    const h = await s.with({}, () => launchWithHelper(s.env(), args(s, path, { detach: true })));
    process.kill(h.ready.pid, 'SIGTERM');
    await waitFor(() => !pidAlive(h.ready.pid), 3000, 'helper exit');
    expect(readdirSync(s.stateDir)).toEqual(['heartbeat.lock']);
    expect(s.simSlots()).toEqual([]);
    expect(leakFree(s.exits())).toBe(true);
  });

  it('an exhausted pool surfaces as NE_ERR_NO_CPUS_AVAIL_IN_POOL from the second enclave', async () => {
    const s = sim({ pool: '1,5' });
    const { path } = eifFile(s, 4096);
    const first = await s.with({}, () => launchWithHelper(s.env(), args(s, path)));
    const e = await launchError(s, args(s, path));
    expect(e.code).toBe('NE_ERR_NO_CPUS_AVAIL_IN_POOL');
    expect(e.message).toMatch(/cpu_count in \/etc\/nitro_enclaves\/allocator.yaml/);
    first.terminate();
    await first.finished;
  });

  it('reports an enclave that exits while running, and removes its record', async () => {
    const s = sim();
    const { path } = eifFile(s, 4096);
    const h = await s.with({ NESIM_EXIT_MS: '150' }, () => launchWithHelper(s.env(), args(s, path)));
    const ev = await h.finished;
    expect(ev.event).toBe('exited');
    expect(String(ev.reason)).toMatch(/POLLHUP/);
    await waitFor(() => readdirSync(s.stateDir).every((f) => !f.endsWith('.json')), 2000, 'record removal');
    expect(leakFree(s.exits())).toBe(true);
  });

  it('reports a crashed helper (attached and detached) instead of hanging', async () => {
    for (const detach of [false, true]) {
      const s = sim();
      const { path } = eifFile(s, 4096);
      const t0 = Date.now();
      const e = await launchError(s, args(s, path, { detach, timeoutMs: 20_000 }), { NESIM_CRASH: 'start' });
      expect(e.code).toBe('HELPER_CRASHED');
      expect(e.message).toMatch(/SIGSEGV/);
      expect(Date.now() - t0).toBeLessThan(5000);
    }
  });

  it('a hung helper is killed and reported after the heartbeat timeout plus grace', async () => {
    const s = sim();
    const { path } = eifFile(s, 4096);
    const t0 = Date.now();
    const e = await launchError(s, args(s, path, { timeoutMs: 500, graceMs: 500 }), { NESIM_HANG: 'start' });
    expect(e.code).toBe('HELPER_UNRESPONSIVE');
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(s.simSlots()).toEqual([]); // the killed process's slot is not counted as live
  });

  it('a helper killed with SIGKILL during boot is reported within a second', async () => {
    const s = sim({ scenario: 'silent' });
    const { path } = eifFile(s, 4096);
    let pid = 0;
    const events: HelperEvent[] = [];
    const p = s.with({}, () =>
      launchWithHelper(s.env(), args(s, path, { timeoutMs: 20_000 }), {
        onEvent: (ev) => {
          events.push(ev);
          if (ev.event === 'hello') pid = Number(ev.pid);
          if (ev.event === 'started') process.kill(pid, 'SIGKILL');
        },
      }),
    );
    const t0 = Date.now();
    await expect(p).rejects.toMatchObject({ code: 'HELPER_CRASHED' });
    await expect(p).rejects.toThrow(/SIGKILL/);
    expect(Date.now() - t0).toBeLessThan(1500);
  });

  it('serializes concurrent launches on the heartbeat port lock; both succeed', async () => {
    const s = sim({ hugepages: { '2M': 200 } });
    const { path } = eifFile(s, 4096);
    const events: HelperEvent[][] = [[], []];
    const [a, b] = await s.with({ NESIM_BOOT_MS: '300' }, () =>
      Promise.all([0, 1].map((i) => launchWithHelper(s.env(), args(s, path, { timeoutMs: 5000 }), { onEvent: (e) => events[i]!.push(e) }))),
    );
    expect(new Set([a!.ready.cid, b!.ready.cid]).size).toBe(2);
    const waited = events.filter((evs) => evs.some((e) => e.event === 'progress' && e.step === 'waiting-for-launch-lock'));
    expect(waited.length).toBe(1);
    a!.terminate();
    b!.terminate();
    await Promise.all([a!.finished, b!.finished]);
    const hb = s.reportLines().filter((l) => l.ev === 'heartbeat');
    expect(hb.map((l) => l.echo)).toEqual([0xb7, 0xb7]); // both heartbeats echoed
  });

  it('retries a heartbeat port held by a launcher outside our lock, then says so', async () => {
    const other = sim({ scenario: 'silent' });
    const { path: p0 } = eifFile(other, 4096);
    let holderStarted!: () => void;
    const started = new Promise<void>((r) => (holderStarted = r));
    const holder = other.with({}, () =>
      launchWithHelper(other.env(), args(other, p0, { timeoutMs: 4500 }), { onStarted: () => holderStarted() }).catch((e) => e as EifError),
    );
    await started; // the other launcher (different lock) now listens on 3:9000 and waits for its heartbeat
    const s = sim({ ns: other.ns, pool: '1,5' });
    const { path } = eifFile(s, 4096);
    const t0 = Date.now();
    const e = await launchError(s, args(s, path));
    expect(e.code).toBe('HEARTBEAT_BIND');
    expect(e.message).toMatch(/another enclave launch, e.g. nitro-cli, holds the port/);
    expect(Date.now() - t0).toBeGreaterThan(1500); // 100+200+400+800+1600 ms of backoff first
    expect(leakFree(s.exits())).toBe(true);
    expect(((await holder) as EifError).code).toBe('HEARTBEAT_TIMEOUT');
  });
});
