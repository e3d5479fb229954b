/**
 * The TS side of the helper protocol (ne-device.md §5): spawn `eif-nehelper run`, read its newline-delimited JSON
 * events, turn an `error` event into an EifError with the driver errno explained, and never wait forever — a
 * helper that crashes or goes silent is reported within a bounded time.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { EifError } from '../errors.js';
import type { LauncherEnv } from './env.js';
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
  const code = String(ev.code ?? 'HELPER_ERROR');
  const op = String(ev.op ?? '?');
  const detail = String(ev.detail ?? '');
  if (op === 'open-device') {
    const m = deviceOpenMessage(device, code);
    return new EifError(m.code, m.message);
  }
  const explained = explainErrno(code);
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

function assertHelper(env: LauncherEnv): void {
  if (!existsSync(env.helper)) {
    throw new EifError('HELPER_MISSING', `the launcher helper ${env.helper} is not built: run \`make -C native\` (needs a C compiler) or \`npm run build\``);
  }
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

/**
 * Launch through the helper. Resolves once the enclave has sent its heartbeat (`ready`); rejects with an EifError
 * on any failure, after the helper has released everything.
 */
export function launchWithHelper(
  env: LauncherEnv,
  a: HelperRunArgs,
  hooks: { onEvent?: (ev: HelperEvent) => void; onStarted?: (s: StartedInfo) => void } = {},
): Promise<LaunchHandle> {
  assertHelper(env);
  ensureStateDir(env.stateDir);
  const child: ChildProcess = spawn(env.helper, buildArgs(a, env), { stdio: ['pipe', 'pipe', 'pipe'], env: helperEnv(env) });
  let helperPid: number | undefined;
  let started: StartedInfo | undefined;
  let regionsMiB: number[] = [];
  let settled = false;
  let stderr = '';
  let pendingError: EifError | undefined;
  let finalEvent: HelperEvent | undefined;
  const killAll = (): void => {
    for (const pid of [helperPid, child.pid]) {
      try {
        if (pid) process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  };
  let resolveFinished!: (ev: HelperEvent) => void;
  let rejectFinished!: (e: unknown) => void;
  const finished = new Promise<HelperEvent>((res, rej) => {
    resolveFinished = res;
    rejectFinished = rej;
  });
  finished.catch(() => undefined);

  return new Promise<LaunchHandle>((resolve, reject) => {
    const grace = a.graceMs ?? 30_000 + Math.ceil(a.memoryMiB / 1024) * 1000;
    const timer = setTimeout(() => {
      if (settled) return;
      killAll();
      failAfterExit(new EifError('HELPER_UNRESPONSIVE', `the launcher helper gave no result within ${Math.round((a.timeoutMs + grace) / 1000)} s and was killed`));
    }, a.timeoutMs + grace);

    // Report once the helper has exited (so everything is released); kill it if it lingers more than 5 s.
    const failAfterExit = (err: EifError): void => {
      if (pendingError) return;
      pendingError = err;
      setTimeout(() => {
        killAll();
        done(pendingError);
      }, 5000).unref();
    };

    const done = (err?: EifError, ready?: ReadyInfo): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        reject(err);
        rejectFinished(err);
        return;
      }
      if (a.detach) {
        child.stdin?.destroy();
        child.stdout?.destroy();
        child.stderr?.destroy();
        child.unref();
        resolveFinished({ event: 'detached' });
      }
      resolve({
        ready: ready!,
        terminate: () => {
          if (!a.detach && child.stdin?.writable) child.stdin.write('terminate\n');
        },
        finished,
      });
    };

    child.on('error', (e) => done(new EifError('HELPER_SPAWN', `cannot start ${env.helper}: ${e.message}`)));
    child.stderr!.on('data', (d: Buffer) => {
      if (stderr.length < 8192) stderr += d.toString('utf8');
    });
    child.stdout!.on(
      'data',
      lineReader((line) => {
        let ev: HelperEvent;
        try {
          ev = JSON.parse(line) as HelperEvent;
        } catch {
          return; // not protocol output
        }
        hooks.onEvent?.(ev);
        switch (ev.event) {
          case 'hello':
            helperPid = Number(ev.pid);
            break;
          case 'allocated':
            regionsMiB = (ev.regionsMiB as number[]) ?? [];
            break;
          case 'started':
            started = {
              slotUid: String(ev.slotUid),
              cid: Number(ev.cid),
              cpuIds: (ev.cpuIds as number[]) ?? [],
              memoryMiB: Number(ev.memoryMiB),
              debug: Boolean(ev.debug),
            };
            hooks.onStarted?.(started);
            break;
          case 'ready':
            done(undefined, { ...started!, pid: Number(ev.pid), regionsMiB });
            break;
          case 'error':
            failAfterExit(errorFromEvent(ev, env.device));
            break;
          case 'exited':
          case 'terminated':
            finalEvent = ev; // resolved once the process has ended (everything released)
            break;
        }
      }),
    );
    child.on('close', (code, signal) => {
      const sig = signal ?? (code !== null && code > 128 ? SIGNALS[code - 128] : undefined);
      if (!settled && pendingError) {
        done(pendingError);
      } else if (!settled) {
        const why = sig ? `killed by ${sig}` : `exit status ${code}`;
        const extra = stderr.trim() ? ` (stderr: ${stderr.trim().slice(0, 500)})` : '';
        done(new EifError('HELPER_CRASHED', `the launcher helper ended without a result (${why})${extra}; the enclave, if it was created, is gone with it`));
      } else if (!a.detach && finalEvent) {
        resolveFinished(finalEvent);
      } else if (!a.detach) {
        rejectFinished(new EifError('HELPER_CRASHED', `the enclave process ended unexpectedly (${sig ?? `exit status ${code}`})`));
      }
    });
  });
}

/** Spawn `eif-nehelper console`; stdout is the console stream. */
export function spawnConsole(env: LauncherEnv, cid: number, disconnectTimeoutMs?: number): ChildProcess {
  assertHelper(env);
  const args = ['console', '--cid', String(cid)];
  if (disconnectTimeoutMs) args.push('--disconnect-timeout-ms', String(disconnectTimeoutMs));
  return spawn(env.helper, args, { stdio: ['ignore', 'pipe', 'pipe'], env: helperEnv(env) });
}
