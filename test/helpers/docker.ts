/**
 * A private Docker daemon for the differential tests (shared docs/oci-build.md "Real components"; issue 11
 * "Exactness, tested against … real Docker"). Each test file that needs Docker starts its own `dockerd` with its own
 * socket, data-root, exec-root and pidfile in a temp folder (no bridge, no iptables: it touches nothing of the host's
 * network or of another daemon), talks to it with `/usr/bin/docker -H unix://…`, and stops it by the pid in its pidfile.
 *
 * Use with top-level await, so that a machine without Docker skips the suite with the reason in its name:
 *
 *   const dk = await startPrivateDocker();
 *   afterAll(() => dk.docker?.stop());
 *   describeDocker(dk, 'docker export vs eifkit', () => { … dk.docker!.run([...]) … });
 *
 * Leftovers of test runs that died (their owner process is gone) are stopped and removed at the next start.
 */
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';

export const DOCKERD = '/usr/sbin/dockerd';
/** The Debian client that matches the daemon (another, newer one may sit earlier in PATH at /usr/local/bin). */
export const DOCKER_CLI = '/usr/bin/docker';
const PREFIX = 'eifkit-dockerd-';
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 15_000;

export interface RunResult {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

export interface PrivateDocker {
  /** The temp folder holding socket, data-root, exec-root, pidfile, log, and a `work/` folder for the tests. */
  readonly dir: string;
  readonly work: string;
  readonly socket: string;
  readonly pid: number;
  /** `docker -H unix://SOCKET ARGS…` (stdout as bytes: `docker export` / `docker save` write tars there). */
  run(args: string[], opts?: { input?: Uint8Array | string; cwd?: string; env?: Record<string, string>; timeoutMs?: number }): RunResult;
  /** As run, without blocking the event loop (several docker commands can then run at once). */
  runAsync(args: string[], opts?: { input?: Uint8Array | string; timeoutMs?: number }): Promise<RunResult>;
  /** As runAsync, but throws with the daemon's message when the command fails. */
  okAsync(args: string[], opts?: { input?: Uint8Array | string; timeoutMs?: number }): Promise<Buffer>;
  /** As run, but throws with the daemon's message when the command fails. */
  ok(args: string[], opts?: { input?: Uint8Array | string; cwd?: string; env?: Record<string, string>; timeoutMs?: number }): Buffer;
  /** Stop the daemon by its pid (SIGTERM, then SIGKILL after a timeout) and remove the temp folder. */
  stop(): Promise<void>;
}

export type StartResult = { docker: PrivateDocker; reason?: undefined } | { docker?: undefined; reason: string };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readPid(file: string): number | undefined {
  try {
    const n = Number.parseInt(readFileSync(file, 'utf8').trim(), 10);
    return Number.isSafeInteger(n) && n > 1 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The command line of a process, or '' (a pid may have been reused: we only signal a dockerd that names our folder). */
function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

function ageMs(path: string): number {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return 0;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!alive(pid)) return true;
    await sleep(100);
  }
  return !alive(pid);
}

/** Mount points at or under `dir`, deepest first (dockerd bind-mounts its data-root onto itself). */
function mountsUnder(dir: string): string[] {
  let info = '';
  try {
    info = readFileSync('/proc/self/mountinfo', 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of info.split('\n')) {
    const mp = line.split(' ')[4];
    if (mp && (mp === dir || mp.startsWith(dir + '/'))) out.push(mp.replace(/\\040/g, ' '));
  }
  return out.sort((a, b) => b.length - a.length);
}

/** Stop the daemon of one of our folders (by its pidfile, only if the process is a dockerd naming that folder). */
async function stopDaemonOf(dir: string): Promise<void> {
  const signalIfOurs = (pidfile: string, name: string, sig: NodeJS.Signals): number | undefined => {
    const pid = readPid(pidfile);
    if (pid === undefined || !alive(pid)) return undefined;
    const cl = cmdline(pid);
    if (!cl.includes(name) || !cl.includes(dir)) return undefined;
    try {
      process.kill(pid, sig);
    } catch {
      return undefined;
    }
    return pid;
  };
  const pid = signalIfOurs(join(dir, 'docker.pid'), 'dockerd', 'SIGTERM');
  if (pid !== undefined && !(await waitGone(pid, STOP_TIMEOUT_MS))) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone meanwhile */
    }
    await waitGone(pid, 5_000);
  }
  // dockerd's own containerd stops with it; after a SIGKILL (or a dockerd that died alone) it may remain.
  const cpid = signalIfOurs(join(dir, 'exec', 'containerd', 'containerd.pid'), 'containerd', 'SIGTERM');
  if (cpid !== undefined && !(await waitGone(cpid, 5_000))) {
    try {
      process.kill(cpid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  for (const mp of mountsUnder(dir)) spawnSync('umount', ['-l', mp], { stdio: 'ignore' });
  rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
}

/** Stop and remove the daemons of earlier test runs whose owner process is gone. */
export async function reapLeftovers(): Promise<void> {
  let names: string[] = [];
  try {
    names = readdirSync(tmpdir()).filter((n) => n.startsWith(PREFIX));
  } catch {
    return;
  }
  for (const n of names) {
    const dir = join(tmpdir(), n);
    const owner = readPid(join(dir, 'owner.pid'));
    if (owner !== undefined && alive(owner)) continue; // a run still going (another test file, another worktree)
    if (owner === undefined && ageMs(dir) < 60_000) continue; // just made by a run that has not written its owner yet
    await stopDaemonOf(dir);
  }
}

/** Why a private daemon cannot run here, or undefined when it may. */
export function dockerUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'not root (a private dockerd needs root)';
  if (!existsSync(DOCKERD)) return `no ${DOCKERD} (Debian docker.io; scripts/install-test-deps.sh installs it)`;
  if (!existsSync(DOCKER_CLI)) return `no ${DOCKER_CLI} (Debian docker.io)`;
  if (process.env.EIFKIT_SKIP_DOCKER) return 'EIFKIT_SKIP_DOCKER is set';
  return undefined;
}

/** Start a private dockerd and wait until it answers, or say why it cannot run (the suite is then skipped). */
export async function startPrivateDocker(): Promise<StartResult> {
  const why = dockerUnavailableReason();
  if (why) return { reason: why };
  await reapLeftovers();
  const dir = mkdtempSync(join(tmpdir(), PREFIX));
  writeFileSync(join(dir, 'owner.pid'), `${process.pid}\n`);
  const work = join(dir, 'work');
  for (const d of ['root', 'exec', 'work']) mkdirSync(join(dir, d));
  const socket = join(dir, 'docker.sock');
  const pidfile = join(dir, 'docker.pid');
  const logfile = join(dir, 'dockerd.log');
  const logFd = openSync(logfile, 'a');
  const child = spawn(
    DOCKERD,
    [
      '--data-root', join(dir, 'root'),
      '--exec-root', join(dir, 'exec'),
      '-H', `unix://${socket}`,
      '--pidfile', pidfile,
      '--iptables=false', '--ip6tables=false', '--bridge=none',
      '--storage-driver=overlay2',
    ],
    { stdio: ['ignore', logFd, logFd], detached: true },
  );
  closeSync(logFd);
  let exited: string | undefined;
  child.on('exit', (code, sig) => (exited = `dockerd exited (${code ?? sig})`));
  child.on('error', (e) => (exited = `dockerd did not start: ${e.message}`));
  child.unref();

  const env = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: join(dir, 'client-config') };
  delete (env as Record<string, string | undefined>).DOCKER_CONTEXT;
  const run: PrivateDocker['run'] = (args, opts = {}) => {
    const r = spawnSync(DOCKER_CLI, ['-H', `unix://${socket}`, ...args], {
      input: opts.input,
      cwd: opts.cwd,
      env: { ...env, ...opts.env },
      maxBuffer: 1 << 30,
      timeout: opts.timeoutMs ?? 120_000,
    });
    return { status: r.status, stdout: r.stdout ?? Buffer.alloc(0), stderr: (r.stderr ?? Buffer.alloc(0)).toString('utf8') };
  };
  const ok: PrivateDocker['ok'] = (args, opts) => {
    const r = run(args, opts);
    if (r.status !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.status}): ${r.stderr.trim()}`);
    return r.stdout;
  };
  const runAsync: PrivateDocker['runAsync'] = (args, opts = {}) =>
    new Promise((resolve) => {
      const child = spawn(DOCKER_CLI, ['-H', `unix://${socket}`, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      let err = '';
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
      child.on('error', (e) => (err += e.message));
      child.on('close', (status) => {
        clearTimeout(timer);
        resolve({ status, stdout: Buffer.concat(out), stderr: err });
      });
      child.stdin.on('error', () => undefined); // docker may exit before reading all of a refused archive
      child.stdin.end(opts.input ?? undefined);
    });
  const okAsync: PrivateDocker['okAsync'] = async (args, opts) => {
    const r = await runAsync(args, opts);
    if (r.status !== 0) throw new Error(`docker ${args.join(' ')} failed (${r.status}): ${r.stderr.trim()}`);
    return r.stdout;
  };

  const end = Date.now() + START_TIMEOUT_MS;
  let ready = false;
  while (Date.now() < end && exited === undefined) {
    if (existsSync(socket) && run(['version', '--format', '{{.Server.Version}}'], { timeoutMs: 5_000 }).status === 0) {
      ready = true;
      break;
    }
    await sleep(200);
  }
  const pid = readPid(pidfile) ?? child.pid;
  const stop = async () => {
    if (pid !== undefined && alive(pid) && cmdline(pid).includes(dir)) {
      // also covers the case where the pidfile was not written yet: child.pid is that dockerd
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* gone */
      }
      if (!(await waitGone(pid, STOP_TIMEOUT_MS))) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
        await waitGone(pid, 5_000);
      }
    }
    await stopDaemonOf(dir);
  };
  if (!ready) {
    let log = '';
    try {
      log = readFileSync(logfile, 'utf8').trim().split('\n').slice(-3).join(' | ');
    } catch {
      /* none */
    }
    await stop();
    return { reason: `${exited ?? `dockerd did not answer within ${START_TIMEOUT_MS / 1000} s`}${log ? `: ${log}` : ''}` };
  }
  if (pid === undefined) {
    await stop();
    return { reason: 'dockerd gave no pid' };
  }
  return { docker: { dir, work, socket, pid, run, ok, runAsync, okAsync, stop } };
}

/** Run `fn` over `items` with at most `n` at a time, results in order. */
export async function inPool<T, R>(items: readonly T[], n: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      for (let i = next++; i < items.length; i = next++) out[i] = await fn(items[i]!);
    }),
  );
  return out;
}

/**
 * `describe` when the private daemon started, else a skipped suite whose name says why (vitest shows it), so a
 * machine without Docker runs everything else.
 */
export function describeDocker(start: StartResult, name: string, fn: (docker: PrivateDocker) => void): void {
  if (start.docker) describe(name, () => fn(start.docker));
  else {
    describe.skip(`${name} (skipped: no private Docker daemon — ${start.reason})`, () => {
      it.skip('needs a private dockerd (root, Debian docker.io)', () => undefined);
    });
  }
}
