/**
 * Where the launcher looks for things. Defaults are the real host paths; each can be redirected by an environment
 * variable so tests (and containers with unusual mounts) run against temp folders (docs/launcher.md).
 */
import { closeSync, existsSync, readSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openInput } from '../node/file-source.js';

export interface LauncherEnv {
  /** The Nitro Enclaves device (`EIF_NE_DEVICE`, default /dev/nitro_enclaves). */
  device: string;
  /** Root of sysfs (`EIF_SYSFS_ROOT`, default /sys): CPU pool, hugepage pools, NUMA nodes, instance id. */
  sysfsRoot: string;
  /** Folder of enclave records, control sockets and the launch lock (`EIF_ENCLAVE_STATE_DIR`, default /run/eifkit). */
  stateDir: string;
  /** The helper binary (`EIF_NE_HELPER`, default native/out/eif-nehelper of this package). */
  helper: string;
  /** A library LD_PRELOAD-ed into the helper only (`EIF_NE_HELPER_PRELOAD`; the test-suite's driver simulator). */
  helperPreload?: string;
  /** Heartbeat timeout override in ms (`EIF_HEARTBEAT_TIMEOUT_MS`); default nitro-cli's formula. */
  heartbeatTimeoutMs?: number;
}

const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The helper compiled on this machine by scripts/build-native.mjs (the package's install step; npm test). */
export const DEFAULT_HELPER = join(PACKAGE_ROOT, 'native', 'out', 'eif-nehelper');

/** The command that (re)builds DEFAULT_HELPER: shipped in the package, it needs only a C compiler. */
export const BUILD_HELPER_COMMAND = `node ${join(PACKAGE_ROOT, 'scripts', 'build-native.mjs')}`;

/**
 * The launcher's paths from `env` (EIF_NE_DEVICE, EIF_SYSFS_ROOT, EIF_ENCLAVE_STATE_DIR, EIF_NE_HELPER, …), each
 * defaulting to the real host path (docs/launcher.md).
 *
 * @example
 * import { launcherEnv, describeEnclaves } from 'eifkit';
 * const env = launcherEnv({ ...process.env, EIF_ENCLAVE_STATE_DIR: '/tmp/enclaves' });
 * const enclaves = await describeEnclaves(env);
 */
export function launcherEnv(env: NodeJS.ProcessEnv = process.env): LauncherEnv {
  const t = env.EIF_HEARTBEAT_TIMEOUT_MS;
  const timeout = t !== undefined && /^\d+$/.test(t) && Number(t) > 0 ? Number(t) : undefined;
  return {
    device: env.EIF_NE_DEVICE || '/dev/nitro_enclaves',
    sysfsRoot: env.EIF_SYSFS_ROOT || '/sys',
    stateDir: env.EIF_ENCLAVE_STATE_DIR || '/run/eifkit',
    helper: env.EIF_NE_HELPER || DEFAULT_HELPER,
    helperPreload: env.EIF_NE_HELPER_PRELOAD || undefined,
    heartbeatTimeoutMs: timeout,
  };
}

export function helperAvailable(e: LauncherEnv): boolean {
  return existsSync(e.helper);
}

/**
 * The text of a small sysfs or state file, or undefined when it cannot be read. Opened through openInput, so a
 * FIFO or device (say, under a test's EIF_SYSFS_ROOT) is refused rather than waited on; read to EOF, not to the
 * reported size (sysfs reports 4096), and at most `limit` bytes.
 */
export function readSmallText(path: string, limit = 65536): string | undefined {
  let fd: number;
  try {
    fd = openInput(path, 'file').fd;
  } catch {
    return undefined;
  }
  try {
    const buf = Buffer.alloc(limit);
    let n = 0;
    let r = 0;
    while (n < limit && (r = readSync(fd, buf, n, limit - n, null)) > 0) n += r;
    return buf.toString('utf8', 0, n);
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
