/**
 * `eif run --emulate`: boot an EIF on QEMU's `nitro-enclave` machine instead of Nitro hardware (docs/launcher.md,
 * "Emulation"; qemu-emulation.md). The pre-flight checks what `eif run` checks about the image (structure, CRC,
 * certificate, memory ≥ 4 × image, CID) plus what emulation needs (QEMU with the machine, the vsock backend, the
 * firmware, an image QEMU can boot here), all at once; then a detached supervisor (emulate-supervisor.ts) owns QEMU
 * and the backend, and this resolves once the enclave's 0xB7 heartbeat arrived.
 *
 * Emulation proves the image format, the boot path and the PCRs; it does not prove AWS's hypervisor or its signing:
 * QEMU's attestation documents are unsigned (`eif attest inspect` says so; verification rejects them).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, readSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EifError } from '../errors.js';
import { EIF_FLAG_ARCH_ARM64 } from '../eif/header.js';
import { openInput } from '../node/file-source.js';
import { enclaveName, formatEnclaveId, instanceId } from './enclave-id.js';
import { type LauncherEnv, launcherEnv } from './env.js';
import type { RunEnclaveResult } from './launcher.js';
import { BUILD_NATIVE_COMMAND, BUILD_QEMU_COMMAND, type EmulatedArch, findEmulationTools } from './emulate-tools.js';
import { type Finding, imagePreflight, PreflightError } from './preflight.js';
import { heartbeatTimeoutMs, minimumMemoryMiB, MIB } from './sizing.js';
import { type EnclaveRecord, ensureStateDir, readRecords, removeRecord } from './state.js';
import type { SupervisorSettings } from './emulate-supervisor.js';

/** One line for every emulated launch: what an emulated run shows and what it cannot. */
export const EMULATION_LIMITS =
  'emulated on QEMU (nitro-enclave machine): this proves the image format, the boot path and the PCRs, not AWS\'s ' +
  'hypervisor or its signing — attestation documents are unsigned (never authentic), debug mode does not zero the ' +
  'PCRs, and the parent (vsock CID 3, as on Nitro; CID 2 too) is this host\'s Unix sockets, not an EC2 instance';

/** Added to the limits when eifkit's own backend is not built and vhost-device-vsock stands in. */
export const FALLBACK_BACKEND_LIMIT =
  'eifkit\'s vsock backend (native/vsock-backend.c) is not built, so vhost-device-vsock serves the enclave\'s vsock: ' +
  `the parent is reachable only at CID 2, not 3 (build it: ${BUILD_NATIVE_COMMAND})`;

export interface EmulateOptions {
  eifPath: string;
  /** Default: the minimum (4 × image, ≥ 64 MiB) rounded up to 2 MiB, at least 256 MiB. */
  memoryMiB?: number;
  /** Default 2. */
  cpuCount?: number;
  /** 0 or undefined: the first free CID from 16. */
  cid?: number;
  debugMode?: boolean;
  enclaveName?: string;
  /** `--qemu PATH`. */
  qemu?: string;
  /** 'auto' (default): KVM when /dev/kvm is usable, falling back to TCG; or force one. */
  accel?: 'auto' | 'kvm' | 'tcg';
  env?: LauncherEnv;
  processEnv?: NodeJS.ProcessEnv;
  onFinding?: (f: Finding) => void;
  /** Progress events of the supervisor (`started`, `accel` when falling back to TCG). */
  onEvent?: (ev: Record<string, unknown>) => void;
  now?: Date;
}

/** `eif run`'s result (nitro-cli's run-enclave fields, same order) and what an emulated run adds. */
export interface EmulatedEnclaveResult extends RunEnclaveResult {
  Emulated: true;
  /** 'kvm' or 'tcg' (software emulation). */
  Accelerator: 'kvm' | 'tcg';
  /** Why TCG rather than KVM, when auto chose it. */
  AcceleratorNote?: string;
  /** Unix socket for the host's programs: write `CONNECT <port>\n`, read `OK <n>\n`, then talk to the enclave port.
   * The enclave's connections to the parent (CID 3, or 2) port P reach a Unix socket listening at `<VsockSocket>_P`. */
  VsockSocket: string;
  /** 'eifkit' (native/vsock-backend.c: CID 3 routed, as on Nitro) or 'vhost-device-vsock' (the fallback: CID 2 only). */
  VsockBackend: 'eifkit' | 'vhost-device-vsock';
  Measurements: Record<string, string>;
  BootMs: number;
}

function imageArch(path: string): EmulatedArch | undefined {
  let fd: number | undefined;
  try {
    fd = openInput(path, 'EIF file').fd;
    const b = Buffer.alloc(8);
    if (readSync(fd, b, 0, 8, 0) < 8) return undefined;
    return b.readUInt16BE(6) & EIF_FLAG_ARCH_ARM64 ? 'aarch64' : 'x86_64';
  } catch {
    return undefined; // the image checks report it
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The memory an emulated run gets when --memory is not given. */
export function defaultEmulatedMemoryMiB(eifBytes: number): number {
  const min = minimumMemoryMiB(eifBytes);
  return Math.max(256, Math.ceil(min / 2) * 2);
}

interface EmulationPlan {
  findings: Finding[];
  settings?: Omit<SupervisorSettings, 'slotUid' | 'enclaveId' | 'stateDir' | 'meta' | 'cid'> & { cid?: number };
  measurements: Record<string, string>;
  metadata?: Record<string, unknown>;
}

/**
 * Every pre-flight finding of an emulated launch (tools first, then the image), never starting anything.
 *
 * @example
 * import { emulationPreflight } from 'eifkit';
 * const p = await emulationPreflight({ eifPath: 'app.eif' });
 * for (const f of p.findings) console.log(f.severity, f.code, f.message); // e.g. EMULATE_QEMU_MISSING + the fix
 */
export async function emulationPreflight(o: EmulateOptions): Promise<EmulationPlan> {
  const penv = o.processEnv ?? process.env;
  const findings: Finding[] = [];
  const eifPath = resolve(o.eifPath);
  const arch = imageArch(eifPath) ?? 'x86_64';
  const host: EmulatedArch = process.arch === 'arm64' ? 'aarch64' : 'x86_64';
  if (arch === 'aarch64') {
    findings.push({ severity: 'fatal', code: 'EMULATE_ARCH_UNSUPPORTED', message: `${o.eifPath} is an aarch64 image: QEMU's nitro-enclave machine exists only for x86_64 (QEMU 10.0); emulate an x86_64 build of the image, or run it on a Graviton instance with enclaves` });
  } else if (host !== arch && o.accel === 'kvm') {
    findings.push({ severity: 'fatal', code: 'EMULATE_ARCH_UNSUPPORTED', message: `${o.eifPath} is an ${arch} image and this host is ${host}: KVM cannot run it; omit --accel kvm (software emulation)` });
  }
  const tools = findEmulationTools({ qemu: o.qemu, arch, env: penv });
  if (arch !== 'aarch64' && !tools.qemu) {
    findings.push({ severity: 'fatal', code: 'EMULATE_QEMU_MISSING', message: `no qemu-system-${arch} with the nitro-enclave machine (${tools.qemuRejected.join('; ')}): build one into the project cache with ${BUILD_QEMU_COMMAND} (Debian/Ubuntu, ~2–3 min on 2 cores), or pass --qemu PATH to a QEMU ≥ 9.2 built with libcbor and gnutls` });
  }
  if (!tools.vsockBackend) {
    findings.push({ severity: 'fatal', code: 'EMULATE_VSOCK_BACKEND_MISSING', message: `no vhost-user vsock backend (the machine requires one): eifkit's eif-vsock-backend is not built — build it with ${BUILD_NATIVE_COMMAND} (needs a C compiler) or set EIF_VSOCK_BACKEND; vhost-device-vsock, the fallback (its enclaves reach the parent only at CID 2), is not in the project cache or on PATH either` });
  } else if (tools.vsockBackend.kind !== 'eifkit') {
    findings.push({ severity: 'warning', code: 'EMULATE_VSOCK_BACKEND_MISSING', message: `eifkit's vsock backend is not built: using ${tools.vsockBackend.path}, whose enclaves reach the parent only at CID 2 (an init heartbeating to CID 3, as AWS's does, fails with EMULATE_HEARTBEAT_CID3); build it with ${BUILD_NATIVE_COMMAND}` });
  }
  if (!tools.firmwareDir) {
    findings.push({ severity: 'fatal', code: 'EMULATE_FIRMWARE_MISSING', message: `no folder with both bios-microvm.bin and linuxboot_dma.bin (searched ${tools.firmwareSearched.join(', ')}): ${BUILD_QEMU_COMMAND} puts them in the cache; or install Debian's seabios and qemu-system-data and set EIF_QEMU_FIRMWARE to a folder holding both` });
  }
  if (o.cpuCount !== undefined && (!Number.isSafeInteger(o.cpuCount) || o.cpuCount < 1)) {
    findings.push({ severity: 'fatal', code: 'USAGE', message: '--cpu-count must be at least 1' });
  }
  let size = 0;
  try {
    const fd = openInput(eifPath, 'EIF file');
    size = fd.size;
    closeSync(fd.fd);
  } catch {
    /* reported by the image checks */
  }
  const memoryMiB = o.memoryMiB ?? defaultEmulatedMemoryMiB(size);
  const eif = await imagePreflight({ eifPath, memoryMiB, cid: o.cid }, findings, o.now);
  const measurements = (eif?.measurements ?? {}) as unknown as Record<string, string>;
  if (findings.some((f) => f.severity === 'fatal')) return { findings, measurements };
  const env = o.env ?? launcherEnv(penv);
  return {
    findings,
    measurements,
    metadata: eif?.metadata,
    settings: {
      qemu: tools.qemu!,
      vsockBackend: tools.vsockBackend!.path,
      vsockBackendKind: tools.vsockBackend!.kind,
      firmwareDir: tools.firmwareDir!,
      arch,
      eifPath,
      memoryMiB,
      cpuCount: o.cpuCount ?? 2,
      cid: o.cid || undefined,
      debug: o.debugMode === true,
      // the real path's timeout (nitro-cli's formula), or EIF_HEARTBEAT_TIMEOUT_MS
      timeoutMs: env.heartbeatTimeoutMs ?? heartbeatTimeoutMs(size, memoryMiB * MIB),
      accel: o.accel ?? (penv.EIF_EMULATE_ACCEL as 'auto' | 'kvm' | 'tcg' | undefined) ?? 'auto',
      kvmProbeMs: Number(penv.EIF_EMULATE_KVM_PROBE_MS) > 0 ? Number(penv.EIF_EMULATE_KVM_PROBE_MS) : 20_000,
    },
  };
}

const SUPERVISOR = join(dirname(fileURLToPath(import.meta.url)), 'emulate-supervisor.js');

/** First CID from 16 that no running enclave (real or emulated) of this state folder uses. */
function freeCid(stateDir: string): number {
  const used = new Set(readRecords(stateDir).map((r) => r.cid));
  let c = 16;
  while (used.has(c)) c++;
  return c;
}

/**
 * Pre-flight, then boot the EIF under QEMU and wait for its heartbeat. Throws PreflightError (all findings) or
 * the supervisor's EifError (HEARTBEAT_TIMEOUT, ENCLAVE_EXITED_DURING_BOOT, EMULATE_HEARTBEAT_CID3, …).
 * The enclave keeps running after this returns: `terminateEnclave(EnclaveID)` stops it.
 *
 * @example
 * import { runEmulated, terminateEnclave } from 'eifkit';
 * const r = await runEmulated({ eifPath: 'app.eif', memoryMiB: 512, cpuCount: 1 });
 * console.log(r.EnclaveID, r.EnclaveCID, r.Accelerator, r.VsockSocket);
 * await terminateEnclave(r.EnclaveID);
 */
export async function runEmulated(o: EmulateOptions): Promise<EmulatedEnclaveResult> {
  const plan = await emulationPreflight(o);
  for (const f of plan.findings) o.onFinding?.(f);
  if (!plan.settings) throw new PreflightError(plan.findings);
  const env = o.env ?? launcherEnv(o.processEnv ?? process.env);
  ensureStateDir(env.stateDir);
  const taken = new Set(readRecords(env.stateDir).map((r) => r.meta?.EnclaveName).filter((n): n is string => !!n));
  const name = enclaveName(o.enclaveName, plan.settings.eifPath, taken);
  // a slot uid of our own: 'e' + random hex (real ones come from the hypervisor)
  const slotUid = `e${randomBytes(6).toString('hex')}`;
  const enclaveId = formatEnclaveId(instanceId(env.sysfsRoot), slotUid);
  const meta: Record<string, unknown> = { EnclaveName: name, EifPath: plan.settings.eifPath, Measurements: plan.measurements };
  if (plan.metadata && JSON.stringify(plan.metadata).length <= 64 * 1024) meta.ImageMetadata = plan.metadata;
  const settings: SupervisorSettings = { ...plan.settings, cid: plan.settings.cid ?? freeCid(env.stateDir), slotUid, enclaveId, stateDir: env.stateDir, meta };
  const child = spawn(process.execPath, [SUPERVISOR, JSON.stringify(settings)], { detached: true, stdio: ['pipe', 'pipe', 'ignore'] });
  // Ctrl-C while booting: the supervisor (in its own session, so the terminal's SIGINT does not reach it) is told
  // by pid to stop QEMU and the backend and remove its files; it exits, and this rejects with EMULATE_INTERRUPTED.
  let interrupted = false;
  let children: number[] = [];
  const onSignal = (): void => {
    interrupted = true;
    child.kill('SIGTERM');
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const ready = await new Promise<Record<string, unknown>>((res, rej) => {
      let buf = '';
      let settled = false;
      child.stdout!.on('data', (d: Buffer) => {
        buf += d.toString('utf8');
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          let ev: Record<string, unknown>;
          try {
            ev = JSON.parse(line) as Record<string, unknown>;
          } catch {
            continue;
          }
          if (ev.event === 'ready') {
            settled = true;
            res(ev);
          } else if (ev.event === 'error') {
            settled = true;
            const tail = typeof ev.console === 'string' && ev.console ? ` (console: ${ev.console})` : '';
            rej(new EifError(String(ev.code) as never, `${String(ev.detail)}${tail}`));
          } else {
            if (ev.event === 'started') children = [Number(ev.qemuPid), Number(ev.backendPid)];
            o.onEvent?.(ev);
          }
        }
      });
      child.on('error', (e) => rej(new EifError('EMULATE_START_FAILED', `cannot start the emulation supervisor: ${e.message}`)));
      child.on('exit', (code, signal) => {
        // a supervisor that died without cleaning up (SIGKILL, crash) leaves QEMU and the backend: stop them by pid
        if (!settled) removeRecord(env.stateDir, slotUid, { emulated: { qemuPid: children[0], backendPid: children[1] } } as EnclaveRecord);
        if (!settled && interrupted) rej(new EifError('EMULATE_INTERRUPTED', 'interrupted: the emulated enclave was stopped before its heartbeat; nothing was left running'));
        else if (!settled) rej(new EifError('EMULATE_START_FAILED', `the emulation supervisor ended before the enclave was ready (${signal ?? `exit status ${code}`})`));
      });
    });
    child.stdin!.end();
    child.stdout!.destroy();
    child.unref();
    return {
      EnclaveName: name,
      EnclaveID: enclaveId,
      ProcessID: Number(ready.pid),
      EnclaveCID: Number(ready.cid),
      NumberOfCPUs: settings.cpuCount,
      CPUIDs: ready.cpuIds as number[],
      MemoryMiB: settings.memoryMiB,
      Emulated: true,
      Accelerator: ready.accel as 'kvm' | 'tcg',
      ...(ready.accelNote ? { AcceleratorNote: String(ready.accelNote) } : {}),
      VsockSocket: String(ready.vsockSocket),
      VsockBackend: ready.vsockBackend as 'eifkit' | 'vhost-device-vsock',
      Measurements: plan.measurements,
      BootMs: Number(ready.bootMs),
    };
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}
