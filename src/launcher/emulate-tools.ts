/**
 * What `eif run --emulate` needs on the host (qemu-emulation.md, "What to know"): a QEMU that has the
 * `nitro-enclave` machine, a vhost-user vsock backend, and the firmware QEMU loads for it (`bios-microvm.bin`,
 * `linuxboot_dma.bin`). Each is looked up in order: an explicit path (flag or environment), the project cache that
 * `scripts/build-qemu.sh` fills (`.cache/qemu/`), then the system (PATH, /usr/share).
 *
 * The backend is eifkit's own `eif-vsock-backend` (native/vsock-backend.c, built next to the launcher helper by
 * scripts/build-native.mjs), which routes the enclave's CID 3 to the host as on Nitro; rust-vmm's
 * `vhost-device-vsock` is the fallback when ours is not built (its enclaves reach the parent only at CID 2).
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where scripts/build-native.mjs puts eifkit's vsock backend (`EIF_NATIVE_OUT` overrides the folder, as there). */
export function nativeBackendPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.EIF_NATIVE_OUT || join(PACKAGE_ROOT, 'native', 'out'), 'eif-vsock-backend');
}

/** The command that builds eifkit's vsock backend (and the launcher helper). */
export const BUILD_NATIVE_COMMAND = `node ${join(PACKAGE_ROOT, 'scripts', 'build-native.mjs')}`;

/** Which vsock backend: eifkit's (CID 3 routed), or vhost-device-vsock (the fallback; CID 2 only). */
export type VsockBackendKind = 'eifkit' | 'vhost-device-vsock';

/** The project-local cache scripts/build-qemu.sh builds into (`EIF_QEMU_CACHE` overrides it). */
export function emulationCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.EIF_QEMU_CACHE || join(PACKAGE_ROOT, '.cache', 'qemu');
}

/** The command that builds QEMU with the machine, the backend and the firmware into that cache. */
export const BUILD_QEMU_COMMAND = `${join(PACKAGE_ROOT, 'scripts', 'build-qemu.sh')}`;

export type EmulatedArch = 'x86_64' | 'aarch64';

export interface EmulationTools {
  qemu?: string;
  /** Why each QEMU candidate was passed over (no such file, no nitro-enclave machine …). */
  qemuRejected: string[];
  /** The backend `eif run --emulate` uses: eifkit's when built, else vhost-device-vsock when found. */
  vsockBackend?: { path: string; kind: VsockBackendKind };
  /** eifkit's backend (EIF_VSOCK_BACKEND, or the native build output), when executable. */
  nativeBackend?: string;
  /** vhost-device-vsock (EIF_VHOST_DEVICE_VSOCK, the cache, PATH), when found. */
  vhostVsock?: string;
  firmwareDir?: string;
  firmwareSearched: string[];
}

export interface ToolOptions {
  /** `--qemu PATH`. */
  qemu?: string;
  /** The image's architecture: selects qemu-system-x86_64 or qemu-system-aarch64. */
  arch: EmulatedArch;
  env?: NodeJS.ProcessEnv;
}

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string, env: NodeJS.ProcessEnv): string | undefined {
  for (const d of (env.PATH ?? '').split(delimiter)) {
    if (d && executable(join(d, name))) return join(d, name);
  }
  return undefined;
}

const machineCache = new Map<string, boolean>();

/** Does this QEMU binary list the nitro-enclave machine? (`-machine help`, bounded to 10 s.) */
export function hasNitroMachine(qemu: string): boolean {
  const known = machineCache.get(qemu);
  if (known !== undefined) return known;
  const r = spawnSync(qemu, ['-machine', 'help'], { encoding: 'utf8', timeout: 10_000 });
  const ok = r.status === 0 && /^nitro-enclave\s/m.test(r.stdout ?? '');
  machineCache.set(qemu, ok);
  return ok;
}

/**
 * Find QEMU, the vsock backend and the firmware (each optional in the result; the pre-flight reports what is
 * missing, with the fix).
 *
 * @example
 * import { findEmulationTools } from 'eifkit';
 * const t = findEmulationTools({ arch: 'x86_64' });
 * console.log(t.qemu ?? t.qemuRejected.join('; '), t.vsockBackend?.kind, t.firmwareDir);
 */
export function findEmulationTools(o: ToolOptions): EmulationTools {
  const env = o.env ?? process.env;
  const cache = emulationCacheDir(env);
  const name = `qemu-system-${o.arch}`;
  const candidates = o.qemu !== undefined
    ? [o.qemu]
    : [env.EIF_QEMU, join(cache, 'bin', name), onPath(name, env)].filter((p): p is string => !!p);
  const rejected: string[] = [];
  let qemu: string | undefined;
  for (const c of candidates) {
    if (!existsSync(c)) rejected.push(`${c}: no such file`);
    else if (!executable(c)) rejected.push(`${c}: not executable`);
    else if (!hasNitroMachine(c)) rejected.push(`${c}: has no nitro-enclave machine (Debian's QEMU is built without libcbor)`);
    else {
      qemu = c;
      break;
    }
  }
  if (candidates.length === 0) rejected.push(`no ${name} in ${join(cache, 'bin')} or on PATH`);
  const nativeBackend = [env.EIF_VSOCK_BACKEND, nativeBackendPath(env)].find((p): p is string => !!p && executable(p));
  const vhostVsock = [env.EIF_VHOST_DEVICE_VSOCK, join(cache, 'bin', 'vhost-device-vsock'), onPath('vhost-device-vsock', env)]
    .find((p): p is string => !!p && executable(p));
  const vsockBackend = nativeBackend
    ? { path: nativeBackend, kind: 'eifkit' as const }
    : vhostVsock
      ? { path: vhostVsock, kind: 'vhost-device-vsock' as const }
      : undefined;
  const firmwareSearched = [env.EIF_QEMU_FIRMWARE, join(cache, 'firmware'), '/usr/share/qemu', '/usr/share/seabios'].filter((p): p is string => !!p);
  // QEMU takes one -L folder: it must hold both files
  const firmwareDir = firmwareSearched.find((d) => existsSync(join(d, 'bios-microvm.bin')) && existsSync(join(d, 'linuxboot_dma.bin')));
  return { qemu, qemuRejected: qemu ? [] : rejected, vsockBackend, nativeBackend, vhostVsock, firmwareDir, firmwareSearched };
}
