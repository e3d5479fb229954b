/**
 * The TS side of the helper protocol (ne-device.md §5): spawn `eif-nehelper run`, read its newline-delimited JSON
 * events, turn an `error` event into an EifError with the driver errno explained, and never wait forever — a
 * helper that crashes or goes silent is reported within a bounded time.
 */
import { type ErrorCode, isErrorCode } from '../error-codes.js';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { EifError } from '../errors.js';
import { BUILD_HELPER_COMMAND, DEFAULT_HELPER, type LauncherEnv } from './env.js';
import { deviceOpenMessage, explainErrno } from './ne-errors.js';
import { ensureStateDir } from './state.js';

export interface HelperEvent {
  event: string;
  [key: string]: unknown;
}

export interface HelperRunArgs {
  eifPath: string;
  memoryMiB: number;
  cpuCount?: number;
  cpuIds?: number[];
  cid?: number;
  debug?: boolean;
  timeoutMs: number;
  /** Opaque JSON stored by the helper in the enclave record (name, measurements ...). */
  meta?: unknown;
  /** Fork and setsid, so the enclave outlives this process (nitro-cli's model). */
  detach: boolean;
  /** Extra time allowed beyond the heartbeat timeout before the helper is declared unresponsive. */
  graceMs?: number;
}

export interface StartedInfo {
  slotUid: string;
  cid: number;
  cpuIds: number[];
  memoryMiB: number;
  debug: boolean;
}

export interface ReadyInfo extends StartedInfo {
  pid: number;
  regionsMiB: number[];
}

export interface LaunchHandle {
  ready: ReadyInfo;
  /** Attached helpers only: ask the enclave to stop. */
  terminate(): void;
  /** Attached helpers only: resolves with the final event (`exited`, `terminated`) once the helper process has
   *  ended, or rejects when it ended without one (crash). */
  finished: Promise<HelperEvent>;
}

const SIGNALS: Record<number, string> = { 6: 'SIGABRT', 7: 'SIGBUS', 9: 'SIGKILL', 11: 'SIGSEGV', 15: 'SIGTERM' };

/** Map the helper's error event to the EifError the user sees. */
export function errorFromEvent(ev: HelperEvent, device: string): EifError {
  const raw = String(ev.code ?? 'HELPER_ERROR');
  // the helper's codes are documented (test/launcher/error-docs.test.ts); an unknown one is reported, not trusted
  const code: ErrorCode = isErrorCode(raw) ? raw : 'HELPER_ERROR';
  const op = String(ev.op ?? '?');
  const detail = String(ev.detail ?? '') + (code === raw ? '' : ` (helper code ${raw})`);
  if (op === 'open-device') {
    const m = deviceOpenMessage(device, raw);
    return new EifError(m.code, m.message);
  }
  const explained = explainErrno(raw);
  if (op.startsWith('NE_') && explained) return new EifError(code, `${op} failed — ${explained}`);
  const heartbeatAdvice = ' (rerun with --debug-mode and `eif console` to see the enclave\'s boot log)';
  switch (code) {
    case 'HEARTBEAT_TIMEOUT':
      return new EifError(code, `enclave boot failure: ${detail}: the kernel or init did not come up (bad EIF, expired signing certificate, too little memory, kernel panic)${heartbeatAdvice}`);
    case 'HEARTBEAT_WRONG_BYTE':
      return new EifError(code, `enclave boot failure: ${detail}: the enclave's init does not speak the Nitro heartbeat protocol${heartbeatAdvice}`);
    case 'HEARTBEAT_CLOSED':
      return new EifError(code, `enclave boot failure: ${detail}${heartbeatAdvice}`);
    case 'ENCLAVE_EXITED_DURING_BOOT':
      return new EifError(code, `enclave boot failure: ${detail} (it crashed or shut down while booting)${heartbeatAdvice}`);
    case 'HEARTBEAT_BIND':
      return new EifError(code, `${detail}; only one launch at a time can wait for the boot heartbeat — retry when the other launch has finished`);
    case 'HELPER_CRASHED':
      return new EifError(code, `the launcher helper crashed: ${detail}; the enclave (if it was created) is gone with it`);
    case 'HUGEPAGES_INSUFFICIENT':
      return new EifError(code, `${detail}; reserve more with memory_mib in /etc/nitro_enclaves/allocator.yaml and restart nitro-enclaves-allocator.service`);
    default:
      return new EifError(code, `${op}: ${detail}${explained && !detail.includes(explained) ? ` — ${explained}` : ''}`);
  }
}

function buildArgs(a: HelperRunArgs, env: LauncherEnv): string[] {
  const args = ['run', '--eif', a.eifPath, '--memory-mib', String(a.memoryMiB), '--timeout-ms', String(a.timeoutMs),
    '--device', env.device, '--state-dir', env.stateDir];
  if (a.cpuIds) args.push('--cpu-ids', a.cpuIds.join(','));
  else args.push('--cpu-count', String(a.cpuCount ?? 0));
  if (a.cid) args.push('--cid', String(a.cid));
  if (a.debug) args.push('--debug');
  if (a.detach) args.push('--detach');
  if (a.meta !== undefined) args.push('--meta', JSON.stringify(a.meta));
  return args;
}

export function helperEnv(env: LauncherEnv): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env };
  delete e.LD_PRELOAD;
  if (env.helperPreload) e.LD_PRELOAD = env.helperPreload;
  return e;
}

/** HELPER_MISSING, with the command that builds it (the install step skips it when there is no C compiler). */
function assertHelper(env: LauncherEnv): void {
  if (existsSync(env.helper)) return;
  if (env.helper !== DEFAULT_HELPER) {
    throw new EifError('HELPER_MISSING', `the launcher helper ${env.helper} (EIF_NE_HELPER) does not exist; unset EIF_NE_HELPER to use eifkit's own`);
  }
  throw new EifError(
    'HELPER_MISSING',
    `the launcher helper ${env.helper} is not built: eifkit compiles it when it is installed, which needs a C compiler. ` +
      'Install one (Debian/Ubuntu: sudo apt-get install gcc libc6-dev; Amazon Linux, Fedora, RHEL: sudo dnf install gcc), ' +
      `then run: ${BUILD_HELPER_COMMAND}`,
  );
}

/** Split a byte stream into lines; calls `onLine` per complete line. */
function lineReader(onLine: (line: string) => void): (chunk: Buffer) => void {
  let buf = '';
  return (chunk) => {
    buf += chunk.toString('utf8');
    if (buf.length > 1 << 20) buf = buf.slice(-65536); // a runaway helper cannot grow this without bound
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.trim()) onLine(line);
    }
  };
}

type LaunchHooks = { onEvent?: (ev: HelperEvent) => void; onStarted?: (s: StartedInfo) => void };

/** Step 1, spawn: the helper binary must exist and the state folder be writable before anything starts. */
function spawnHelper(env: LauncherEnv, a: HelperRunArgs): ChildProcess {
  assertHelper(env);
  ensureStateDir(env.stateDir);
  return spawn(env.helper, buildArgs(a, env), { stdio: ['pipe', 'pipe', 'pipe'], env: helperEnv(env) });
}

/** A promise with its resolve/reject in hand; a rejection nobody awaits is not an unhandled one. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => undefined);
  return { promise, resolve, reject };
}

/** One launch in progress: what the events said so far, and how it settles. */
class Launch {
  private helperPid: number | undefined;
  private started: StartedInfo | undefined;
  private regionsMiB: number[] = [];
  private stderr = '';
  private settled = false;
  private pendingError: EifError | undefined;
  private finalEvent: HelperEvent | undefined;
  private readonly finished = deferred<HelperEvent>();
  private readonly result = deferred<LaunchHandle>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly env: LauncherEnv,
    private readonly a: HelperRunArgs,
    private readonly hooks: LaunchHooks,
    private readonly child: ChildProcess,
  ) {
    const limitMs = a.timeoutMs + (a.graceMs ?? 30_000 + Math.ceil(a.memoryMiB / 1024) * 1000);
    this.timer = setTimeout(() => this.unresponsive(limitMs), limitMs);
    child.on('error', (e) => this.settle(new EifError('HELPER_SPAWN', `cannot start ${env.helper}: ${e.message}`)));
    child.stderr!.on('data', (d: Buffer) => {
      if (this.stderr.length < 8192) this.stderr += d.toString('utf8');
    });
    child.stdout!.on('data', lineReader((line) => this.onLine(line)));
    child.on('close', (code, signal) => this.onClose(code, signal));
  }

  get promise(): Promise<LaunchHandle> {
    return this.result.promise;
  }

  // Step 2, events: one protocol line at a time.

  private onLine(line: string): void {
    let ev: HelperEvent;
    try {
      ev = JSON.parse(line) as HelperEvent;
    } catch {
      return; // not protocol output
    }
    this.hooks.onEvent?.(ev);
    this.onEvent(ev);
  }

  private onEvent(ev: HelperEvent): void {
    switch (ev.event) {
      case 'hello':
        this.helperPid = Number(ev.pid);
        break;
      case 'allocated':
        this.regionsMiB = (ev.regionsMiB as number[]) ?? [];
        break;
      case 'started':
        this.started = startedInfo(ev);
        this.hooks.onStarted?.(this.started);
        break;
      case 'ready':
        this.settle(undefined, { ...this.started!, pid: Number(ev.pid), regionsMiB: this.regionsMiB });
        break;
      case 'error':
        this.failAfterExit(errorFromEvent(ev, this.env.device));
        break;
      case 'exited':
      case 'terminated':
        this.finalEvent = ev; // resolved once the process has ended (everything released)
        break;
    }
  }

  // Step 3, settle: exactly once, and a failure only once the helper has released everything.

  private onClose(code: number | null, signal: NodeJS.Signals | null): void {
    const sig = signal ?? (code !== null && code > 128 ? SIGNALS[code - 128] : undefined);
    if (!this.settled) {
      this.settle(this.pendingError ?? crashedError(sig ? `killed by ${sig}` : `exit status ${code}`, this.stderr));
    } else if (!this.a.detach && this.finalEvent) {
      this.finished.resolve(this.finalEvent);
    } else if (!this.a.detach) {
      this.finished.reject(new EifError('HELPER_CRASHED', `the enclave process ended unexpectedly (${sig ?? `exit status ${code}`})`));
    }
  }

  private unresponsive(limitMs: number): void {
    if (this.settled) return;
    this.killAll();
    this.failAfterExit(new EifError('HELPER_UNRESPONSIVE', `the launcher helper gave no result within ${Math.round(limitMs / 1000)} s and was killed`));
  }

  /** Report once the helper has exited (onClose); kill it if it lingers more than 5 s. */
  private failAfterExit(err: EifError): void {
    if (this.pendingError) return;
    this.pendingError = err;
    setTimeout(() => {
      this.killAll();
      this.settle(err);
    }, 5000).unref();
  }

  private settle(err?: EifError, ready?: ReadyInfo): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    if (err) {
      this.result.reject(err);
      this.finished.reject(err);
      return;
    }
    if (this.a.detach) this.letGo();
    const child = this.child;
    const detach = this.a.detach;
    this.result.resolve({
      ready: ready!,
      terminate: () => {
        if (!detach && child.stdin?.writable) child.stdin.write('terminate\n');
      },
      finished: this.finished.promise,
    });
  }

  /** A detached enclave process lives on: stop listening to it, and do not keep this process alive for it. */
  private letGo(): void {
    this.child.stdin?.destroy();
    this.child.stdout?.destroy();
    this.child.stderr?.destroy();
    this.child.unref();
    this.finished.resolve({ event: 'detached' });
  }

  private killAll(): void {
    for (const pid of [this.helperPid, this.child.pid]) {
      try {
        if (pid) process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
}

function startedInfo(ev: HelperEvent): StartedInfo {
  return {
    slotUid: String(ev.slotUid),
    cid: Number(ev.cid),
    cpuIds: (ev.cpuIds as number[]) ?? [],
    memoryMiB: Number(ev.memoryMiB),
    debug: Boolean(ev.debug),
  };
}

function crashedError(why: string, stderr: string): EifError {
  const extra = stderr.trim() ? ` (stderr: ${stderr.trim().slice(0, 500)})` : '';
  return new EifError('HELPER_CRASHED', `the launcher helper ended without a result (${why})${extra}; the enclave, if it was created, is gone with it`);
}

/**
 * Launch through the helper: spawn it, follow its events, settle once. Resolves once the enclave has sent its
 * heartbeat (`ready`); rejects with an EifError on any failure, after the helper has released everything. Never
 * waits unboundedly: a crash is HELPER_CRASHED, no result within the heartbeat timeout + grace HELPER_UNRESPONSIVE.
 */
export function launchWithHelper(env: LauncherEnv, a: HelperRunArgs, hooks: LaunchHooks = {}): Promise<LaunchHandle> {
  return new Launch(env, a, hooks, spawnHelper(env, a)).promise;
}

/** Spawn `eif-nehelper console`; stdout is the console stream. */
export function spawnConsole(env: LauncherEnv, cid: number, disconnectTimeoutMs?: number): ChildProcess {
  assertHelper(env);
  const args = ['console', '--cid', String(cid)];
  if (disconnectTimeoutMs) args.push('--disconnect-timeout-ms', String(disconnectTimeoutMs));
  return spawn(env.helper, args, { stdio: ['ignore', 'pipe', 'pipe'], env: helperEnv(env) });
}
