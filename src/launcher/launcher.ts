/**
 * The launcher API behind `eif run`, `eif describe-enclaves`, `eif terminate-enclave` and `eif console`
 * (ne-device.md §2.1, §4): pre-flight, launch through the helper, nitro-cli-shaped JSON.
 */
import type { ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { EifError } from '../errors.js';
import { launcherEnv, type LauncherEnv } from './env.js';
import { enclaveName, formatEnclaveId, instanceId, slotUidOf } from './enclave-id.js';
import { type HelperEvent, launchWithHelper, type LaunchHandle, spawnConsole, type StartedInfo } from './helper.js';
import { type EifFacts, type Finding, type LaunchRequest, PreflightError, preflight } from './preflight.js';
import { spawnEmulatedConsole } from './emulate-console.js';
import { controlRequest, ensureStateDir, type EnclaveRecord, liveState, pidAlive, readRecords, removeRecord } from './state.js';

export interface RunEnclaveOptions extends LaunchRequest {
  enclaveName?: string;
  /** Keep the enclave tied to this process (it ends when this process does); default false = detach. */
  attached?: boolean;
  env?: LauncherEnv;
  onFinding?: (f: Finding) => void;
  onStarted?: (s: StartedInfo) => void;
  onEvent?: (ev: HelperEvent) => void;
  now?: Date;
}

/** nitro-cli `run-enclave` output (§4), key order included. */
export interface RunEnclaveResult {
  EnclaveName: string;
  EnclaveID: string;
  ProcessID: number;
  EnclaveCID: number;
  NumberOfCPUs: number;
  CPUIDs: number[];
  MemoryMiB: number;
}

export interface DescribedEnclave extends RunEnclaveResult {
  State: 'RUNNING' | 'TERMINATING' | 'EMPTY';
  Flags: 'DEBUG_MODE' | 'NONE';
  Measurements: Record<string, string>;
  /** With `metadata: true` (nitro-cli `--metadata`), from the image's metadata section when it has one. */
  ImageName?: string;
  ImageVersion?: string;
  Metadata?: Record<string, unknown>;
  /** Emulated enclaves only (`eif run --emulate`): QEMU, not Nitro; their accelerator and vsock socket. */
  Emulated?: true;
  Accelerator?: 'kvm' | 'tcg';
  VsockSocket?: string;
}

export interface DescribeEnclavesOptions {
  /** nitro-cli `describe-enclaves --metadata`: add ImageName, ImageVersion and Metadata (§4). */
  metadata?: boolean;
}

export interface RunEnclaveOutcome {
  result: RunEnclaveResult;
  findings: Finding[];
  /** For attached launches: terminate / wait for the end. */
  handle: LaunchHandle;
}

/**
 * What the enclave record keeps for describe-enclaves: name, path, measurements and, for `--metadata`, the image's
 * ImageName / ImageVersion / Metadata as read at launch (nitro-cli's enclave process keeps them the same way).
 * The record travels on the helper's command line: metadata beyond 64 KiB (a huge DockerInfo) is left out.
 */
function recordMeta(name: string, eifPath: string, eif: EifFacts | undefined): Record<string, unknown> {
  const meta: Record<string, unknown> = { EnclaveName: name, EifPath: eifPath, Measurements: eif?.measurements ?? {} };
  if (eif?.metadata && JSON.stringify(eif.metadata).length <= 64 * 1024) meta.ImageMetadata = eif.metadata;
  return meta;
}

/**
 * Pre-flight, then launch. Throws PreflightError (all findings) or the helper's EifError.
 *
 * @example
 * import { runEnclave } from 'eifkit';
 * const { result } = await runEnclave({ eifPath: 'app.eif', memoryMiB: 512, cpuCount: 2 });
 * console.log(result.EnclaveID, result.EnclaveCID);
 */
export async function runEnclave(o: RunEnclaveOptions): Promise<RunEnclaveOutcome> {
  const env = o.env ?? launcherEnv();
  const eifPath = resolve(o.eifPath);
  const pf = await preflight(env, { ...o, eifPath }, o.now);
  for (const f of pf.findings) o.onFinding?.(f);
  if (pf.fatal) throw new PreflightError(pf.findings);
  ensureStateDir(env.stateDir);
  const taken = new Set(readRecords(env.stateDir).map((r) => r.meta?.EnclaveName).filter((n): n is string => !!n));
  const name = enclaveName(o.enclaveName, eifPath, taken);
  const handle = await launchWithHelper(
    env,
    {
      eifPath,
      memoryMiB: o.memoryMiB,
      cpuCount: o.cpuIds ? undefined : o.cpuCount,
      cpuIds: o.cpuIds,
      cid: o.cid,
      debug: o.debugMode,
      timeoutMs: pf.timeoutMs,
      detach: !o.attached,
      meta: recordMeta(name, eifPath, pf.eif),
    },
    { onStarted: o.onStarted, onEvent: o.onEvent },
  );
  const r = handle.ready;
  return {
    findings: pf.findings,
    handle,
    result: {
      EnclaveName: name,
      EnclaveID: formatEnclaveId(instanceId(env.sysfsRoot), r.slotUid),
      ProcessID: r.pid,
      EnclaveCID: r.cid,
      NumberOfCPUs: r.cpuIds.length,
      CPUIDs: r.cpuIds,
      MemoryMiB: r.memoryMiB,
    },
  };
}

function describeRecord(env: LauncherEnv, rec: EnclaveRecord, state: DescribedEnclave['State'], o: DescribeEnclavesOptions): DescribedEnclave {
  const out: DescribedEnclave = {
    EnclaveName: rec.meta?.EnclaveName ?? rec.slotUid,
    EnclaveID: formatEnclaveId(instanceId(env.sysfsRoot), rec.slotUid),
    ProcessID: rec.pid,
    EnclaveCID: rec.cid,
    NumberOfCPUs: rec.cpuIds.length,
    CPUIDs: rec.cpuIds,
    MemoryMiB: rec.memoryMiB,
    State: state,
    Flags: rec.debug ? 'DEBUG_MODE' : 'NONE',
    Measurements: rec.meta?.Measurements ?? {},
    ...(rec.emulated ? { Emulated: true as const, Accelerator: rec.emulated.accel, VsockSocket: rec.emulated.vsockSocket } : {}),
  };
  return o.metadata ? { ...out, ...rec.meta?.ImageMetadata } : out;
}

/**
 * Every enclave with a live helper; records left by a killed helper are removed on the way.
 *
 * @example
 * import { describeEnclaves, launcherEnv } from 'eifkit';
 * for (const e of await describeEnclaves(launcherEnv(), { metadata: true })) console.log(e.EnclaveName, e.State, e.ImageName);
 */
export async function describeEnclaves(env: LauncherEnv = launcherEnv(), o: DescribeEnclavesOptions = {}): Promise<DescribedEnclave[]> {
  const out: DescribedEnclave[] = [];
  for (const rec of readRecords(env.stateDir)) {
    const s = await liveState(env.stateDir, rec);
    if (s !== 'GONE') out.push(describeRecord(env, rec, s, o));
  }
  return out;
}

/**
 * The ID of the running enclave named `name` (nitro-cli's `--enclave-name`); ENCLAVE_NOT_FOUND when none is.
 *
 * @example
 * import { enclaveIdOfName, terminateEnclave } from 'eifkit';
 * await terminateEnclave(enclaveIdOfName('app'));
 */
export function enclaveIdOfName(name: string, env: LauncherEnv = launcherEnv()): string {
  const rec = readRecords(env.stateDir).find((r) => (r.meta?.EnclaveName ?? r.slotUid) === name && pidAlive(r.pid));
  if (!rec) throw new EifError('ENCLAVE_NOT_FOUND', `no running enclave named "${name}" (see eif describe-enclaves)`);
  return formatEnclaveId(instanceId(env.sysfsRoot), rec.slotUid);
}

function findRecord(env: LauncherEnv, enclaveId: string): EnclaveRecord {
  const slot = slotUidOf(enclaveId);
  const rec = readRecords(env.stateDir).find((r) => r.slotUid === slot);
  if (!rec) throw new EifError('ENCLAVE_NOT_FOUND', `no enclave with ID ${enclaveId} (see eif describe-enclaves)`);
  return rec;
}

export interface TerminateResult {
  EnclaveName: string;
  EnclaveID: string;
  Terminated: boolean;
}

async function terminateRecord(env: LauncherEnv, rec: EnclaveRecord, timeoutMs: number): Promise<TerminateResult> {
  const id = formatEnclaveId(instanceId(env.sysfsRoot), rec.slotUid);
  const name = rec.meta?.EnclaveName ?? rec.slotUid;
  try {
    const r = await controlRequest(env.stateDir, rec, 'terminate', timeoutMs);
    if (r.terminated !== true) throw new EifError('TERMINATE_FAILED', `enclave ${id} did not confirm termination`);
  } catch (e) {
    if (e instanceof EifError) throw e;
    if (pidAlive(rec.pid)) {
      throw new EifError('TERMINATE_FAILED', `enclave ${id} (process ${rec.pid}) did not answer the terminate request (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    removeRecord(env.stateDir, rec.slotUid, rec);
    throw new EifError('ENCLAVE_NOT_FOUND', `enclave ${id} is no longer running (its process ${rec.pid} is gone; stale record removed)`);
  }
  // The helper exits right after its reply; wait briefly so the CPUs and memory are back when we return.
  for (let i = 0; i < 100 && pidAlive(rec.pid); i++) await new Promise((r) => setTimeout(r, 20));
  return { EnclaveName: name, EnclaveID: id, Terminated: true };
}

/**
 * Terminate one enclave (close of its fd in the helper: ENCLAVE_STOP + SLOT_FREE, memory unmapped).
 *
 * @example
 * import { terminateEnclave } from 'eifkit';
 * const r = await terminateEnclave('i-0123456789abcdef0-enc1b3'); // { EnclaveName, EnclaveID, Terminated: true }
 */
export async function terminateEnclave(enclaveId: string, env: LauncherEnv = launcherEnv(), timeoutMs = 250_000): Promise<TerminateResult> {
  return terminateRecord(env, findRecord(env, enclaveId), timeoutMs);
}

/**
 * Terminate every enclave this launcher runs (nitro-cli `terminate-enclave --all`), one result each; enclaves
 * that ended meanwhile are skipped (ne-device.md §2.9).
 *
 * @example
 * import { terminateAllEnclaves } from 'eifkit';
 * for (const r of await terminateAllEnclaves()) console.log(r.EnclaveID, r.Terminated);
 */
export async function terminateAllEnclaves(env: LauncherEnv = launcherEnv(), timeoutMs = 250_000): Promise<TerminateResult[]> {
  const out: TerminateResult[] = [];
  for (const rec of readRecords(env.stateDir)) {
    try {
      out.push(await terminateRecord(env, rec, timeoutMs));
    } catch (e) {
      if (!(e instanceof EifError && e.code === 'ENCLAVE_NOT_FOUND')) throw e;
    }
  }
  return out;
}

/**
 * Attach to a debug-mode enclave's console (vsock CID 0, port CID + 10000 — §2.10).
 *
 * @example
 * import { openConsole, pipeConsole } from 'eifkit';
 * await pipeConsole(openConsole(enclaveId), process.stdout); // until the enclave's console closes
 */
export function openConsole(enclaveId: string, env: LauncherEnv = launcherEnv(), disconnectTimeoutMs?: number): ChildProcess {
  const rec = findRecord(env, enclaveId);
  if (!rec.debug) {
    throw new EifError('CONSOLE_NOT_DEBUG', `enclave ${enclaveId} was started in production mode, which has no console; start it with --debug-mode`);
  }
  if (!pidAlive(rec.pid)) {
    removeRecord(env.stateDir, rec.slotUid, rec);
    throw new EifError('ENCLAVE_NOT_FOUND', `enclave ${enclaveId} is no longer running`);
  }
  if (rec.emulated) return spawnEmulatedConsole(rec.emulated.consoleSocket, disconnectTimeoutMs);
  return spawnConsole(env, rec.cid, disconnectTimeoutMs);
}

/**
 * Stream a console child to `out` until EOF; rejects with the helper's error (e.g. connection refused).
 *
 * @example
 * import { openConsole, pipeConsole } from 'eifkit';
 * const child = openConsole(enclaveId);
 * await pipeConsole(child, process.stdout);
 */
export function pipeConsole(child: ChildProcess, out: NodeJS.WritableStream): Promise<void> {
  return new Promise((res, rej) => {
    let err = '';
    child.stdout!.pipe(out, { end: false });
    child.stderr!.on('data', (d: Buffer) => {
      if (err.length < 8192) err += d.toString('utf8');
    });
    child.on('error', (e) => rej(new EifError('HELPER_SPAWN', e.message)));
    child.on('close', (code, signal) => {
      if (code === 0) return res();
      const line = (err.trim().split('\n').pop() ?? '').trim();
      let msg = signal ? `console helper killed by ${signal}` : line;
      try {
        const ev = JSON.parse(line) as { code?: string; detail?: string };
        msg = `${ev.detail ?? ''}${ev.code === 'ECONNRESET' || ev.code === 'ECONNREFUSED' ? ' (the enclave has no console listener: not debug mode, or it has exited)' : ''}`;
      } catch {
        /* plain text */
      }
      rej(new EifError('CONSOLE_FAILED', msg || `console helper exit status ${code}`));
    });
  });
}
