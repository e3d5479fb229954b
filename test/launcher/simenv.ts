/**
 * Test harness around the driver simulator (native/out/libnesim.so, ne-device.md §6.2): a temp folder with a
 * fake device node, a fake sysfs tree consistent with the simulator's topology, per-test vsock namespace and
 * pool state, and the report/dump files the simulator writes. Everything lives under one temp dir.
 */
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { describe } from 'vitest';
import { REPO_ROOT } from '../helpers/shared.js';
import type { LauncherEnv } from '../../src/launcher/env.js';

export const NATIVE_OUT = join(REPO_ROOT, 'native', 'out');
export const HELPER = join(NATIVE_OUT, 'eif-nehelper');
export const SIM = join(NATIVE_OUT, 'libnesim.so');
export const CONFORMANCE = join(NATIVE_OUT, 'ne_conformance');
export const HAVE_NATIVE = existsSync(HELPER) && existsSync(SIM) && existsSync(CONFORMANCE);

/** `describe` when the native helper and simulator are built, else a skipped suite that says why. */
export function describeNative(name: string, fn: () => void): void {
  if (HAVE_NATIVE) describe(name, fn);
  else describe.skip(`${name} (skipped: native/out not built — run \`node scripts/build-native.mjs\`, needs a C compiler)`, fn);
}

export interface SimOptions {
  /** Emulated hugepages per size, e.g. { '2M': 64 } (also written to the fake sysfs); 'real' = the host's. */
  hugepages?: Record<string, number> | 'real';
  pool?: string;
  scenario?: 'ok' | 'silent' | 'wrong' | 'close' | 'exit';
  sim?: Record<string, string>;
  /** Heartbeat timeout for the helper (ms). */
  timeoutMs?: number;
  assetTag?: string;
  /** Share another environment's vsock namespace (a second, independent launcher on the same host). */
  ns?: string;
}

export interface ReportLine {
  ev: string;
  pid: number;
  [k: string]: unknown;
}

let counter = 0;

export class SimEnv {
  readonly dir: string;
  readonly device: string;
  readonly sysfs: string;
  readonly stateDir: string;
  readonly simState: string;
  readonly report: string;
  readonly ns: string;
  private opts: SimOptions;

  constructor(opts: SimOptions = {}) {
    this.opts = opts;
    this.dir = mkdtempSync(join(tmpdir(), 'eifkit-launch-'));
    this.device = join(this.dir, 'nitro_enclaves');
    this.sysfs = join(this.dir, 'sys');
    this.stateDir = join(this.dir, 'run');
    this.simState = join(this.dir, 'sim');
    this.report = join(this.dir, 'report.ndjson');
    this.ns = opts.ns ?? `t${process.pid}-${++counter}-${randomBytes(3).toString('hex')}`;
    writeFileSync(this.device, '');
    mkdirSync(this.simState);
    this.writeSysfs();
  }

  private hugepageSpec(): Record<string, number> {
    return this.opts.hugepages === 'real' ? {} : this.opts.hugepages ?? { '2M': 64 };
  }

  private writeSysfs(): void {
    const w = (rel: string, text: string): void => {
      const p = join(this.sysfs, rel);
      mkdirSync(join(p, '..'), { recursive: true });
      writeFileSync(p, text);
    };
    w('module/nitro_enclaves/parameters/ne_cpus', `${this.opts.pool ?? '1-3,5-7'}\n`);
    w('devices/system/cpu/cpu0/topology/thread_siblings_list', '0,4\n');
    w('devices/system/node/node0/cpulist', '0-7\n');
    w('devices/virtual/dmi/id/board_asset_tag', `${this.opts.assetTag ?? 'i-0123456789abcdef0'}\n`);
    for (const [size, count] of Object.entries(this.hugepageSpec())) {
      const kb = Number(size.slice(0, -1)) * (size.endsWith('G') ? 1024 * 1024 : 1024);
      w(`devices/system/node/node0/hugepages/hugepages-${kb}kB/free_hugepages`, `${count}\n`);
      w(`kernel/mm/hugepages/hugepages-${kb}kB/free_hugepages`, `${count}\n`);
      w(`kernel/mm/hugepages/hugepages-${kb}kB/resv_hugepages`, '0\n');
    }
  }

  /** NESIM_* variables (plus the launcher's EIF_* redirections) for a helper or CLI run. */
  vars(extra: Record<string, string> = {}): Record<string, string> {
    return {
      NESIM_DEVICE: this.device,
      NESIM_STATE_DIR: this.simState,
      NESIM_NS: this.ns,
      NESIM_REPORT: this.report,
      NESIM_HUGEPAGES: Object.entries(this.hugepageSpec()).map(([s, n]) => `${s}:${n}`).join(','), // '' = real
      NESIM_POOL: this.opts.pool ?? '1-3,5-7',
      NESIM_SCENARIO: this.opts.scenario ?? 'ok',
      ...(this.opts.sim ?? {}),
      EIF_NE_DEVICE: this.device,
      EIF_SYSFS_ROOT: this.sysfs,
      EIF_ENCLAVE_STATE_DIR: this.stateDir,
      EIF_NE_HELPER: HELPER,
      EIF_NE_HELPER_PRELOAD: SIM,
      EIF_HEARTBEAT_TIMEOUT_MS: String(this.opts.timeoutMs ?? 3000),
      ...extra,
    };
  }

  /** The LauncherEnv matching vars(). */
  env(): LauncherEnv {
    return {
      device: this.device,
      sysfsRoot: this.sysfs,
      stateDir: this.stateDir,
      helper: HELPER,
      helperPreload: SIM,
      heartbeatTimeoutMs: this.opts.timeoutMs ?? 3000,
    };
  }

  /**
   * Put the NESIM_* variables into process.env (the helper inherits them) for the duration of fn.
   * Test files run in their own process and their tests one after another, so this is not racy.
   */
  async with<T>(extra: Record<string, string>, fn: () => Promise<T>): Promise<T> {
    const vars = this.vars(extra);
    const saved: Record<string, string | undefined> = {};
    for (const k of Object.keys(vars)) {
      saved[k] = process.env[k];
      process.env[k] = vars[k];
    }
    try {
      return await fn();
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  }

  reportLines(): ReportLine[] {
    if (!existsSync(this.report)) return [];
    return readFileSync(this.report, 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as ReportLine);
  }

  /** Exit lines of processes that touched the device: every count must be zero (no leaks). */
  exits(): ReportLine[] {
    return this.reportLines().filter((l) => l.ev === 'exit');
  }

  /** Live enclave slots in the simulator's cross-process pool state (entries of dead processes do not count). */
  simSlots(): string[] {
    const p = join(this.simState, 'slots');
    if (!existsSync(p)) return [];
    return readFileSync(p, 'utf8')
      .split('\n')
      .filter((l) => l.trim() && pidAlive(Number(l.split(' ')[0]))); // the simulator's own liveness rule
  }

  /** Kill any helper a failed test left running (its record names the pid), then remove the folder. */
  cleanup(): void {
    if (existsSync(this.stateDir)) {
      for (const f of readdirSync(this.stateDir).filter((n) => n.endsWith('.json'))) {
        try {
          if (!lstatSync(join(this.stateDir, f)).isFile()) continue; // a test's FIFO: reading it would block
          process.kill((JSON.parse(readFileSync(join(this.stateDir, f), 'utf8')) as { pid: number }).pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }
    rmSync(this.dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 });
  }
}

/** Wait until cond() holds (polling), bounded. */
export async function waitFor(cond: () => boolean, ms = 3000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Alive and not a zombie (this sandbox's init reaps orphans slowly). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

/** Expect no resource left behind by any helper process that touched the device. */
export function leakFree(lines: ReportLine[]): boolean {
  return lines.every(
    (l) => l.deviceFds === 0 && l.enclaveFds === 0 && l.vsockFds === 0 && l.hugeMappings === 0 && l.openFds === 0,
  );
}
