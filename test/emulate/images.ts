/**
 * Test enclave images for the emulation tests (issue 14; qemu-emulation.md "Kernel for test images"): Debian's 6.12
 * cloud kernel from the cache scripts/build-qemu.sh fills, and an initramfs made here — busybox-static, the five
 * modules (virtio_mmio, nsm, vsock, vmw_vsock_virtio_transport_common, vmw_vsock_virtio_transport), and
 * enclave-probe (fixtures/enclave-probe.c, compiled static). All cpio times are fixed, so the PCRs are too.
 * The vsock backend is eifkit's (native/vsock-backend.c), so the images reach the parent at CID 3 as on Nitro.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { S_IFDIR, S_IFREG, writeCpio, type CpioEntry } from '../../src/eif/cpio.js';
import { emulationCacheDir, findEmulationTools, nativeBackendPath } from '../../src/launcher/emulate-tools.js';
import { REPO_ROOT } from '../helpers/shared.js';

export const BIN = join(REPO_ROOT, 'bin', 'eif.js');
export const CACHE = emulationCacheDir();
export const KERNEL = join(CACHE, 'kernel', 'vmlinuz');
export const MODULES = ['virtio_mmio', 'nsm', 'vsock', 'vmw_vsock_virtio_transport_common', 'vmw_vsock_virtio_transport'];
/** The kernel command line of the test images (AWS's, minus `nomodules`: this kernel needs its modules). */
export const CMDLINE = 'reboot=k panic=30 pci=off console=ttyS0 random.trust_cpu=on';

/** Why the emulation tests cannot run here, or undefined when everything is in place. */
export function missingForEmulation(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') return 'emulation tests need an x86_64 Linux host';
  const t = findEmulationTools({ arch: 'x86_64' });
  const missing: string[] = [];
  if (!t.qemu) missing.push(`QEMU with the nitro-enclave machine (${t.qemuRejected.join('; ')})`);
  if (t.vsockBackend?.kind !== 'eifkit') missing.push(`eifkit's vsock backend ${nativeBackendPath()} (build it: node scripts/build-native.mjs)`);
  if (!t.firmwareDir) missing.push('bios-microvm.bin + linuxboot_dma.bin');
  if (!existsSync(KERNEL)) missing.push(`the test kernel ${KERNEL}`);
  for (const m of MODULES) if (!existsSync(join(CACHE, 'kernel', 'modules', `${m}.ko`))) missing.push(`module ${m}.ko`);
  if (!existsSync('/bin/busybox')) missing.push('/bin/busybox (busybox-static)');
  if (spawnSync('cc', ['--version']).status !== 0) missing.push('a C compiler');
  return missing.length ? `${missing.join(', ')} missing: run scripts/build-qemu.sh (EIF_QEMU_CACHE=${CACHE})` : undefined;
}

/** Compile enclave-probe statically into `dir`. */
export function compileProbe(dir: string): string {
  const out = join(dir, 'enclave-probe');
  const r = spawnSync('cc', ['-static', '-Os', '-o', out, join(REPO_ROOT, 'test', 'emulate', 'fixtures', 'enclave-probe.c')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot compile enclave-probe: ${r.stderr}`);
  return out;
}

const file = (name: string, data: Uint8Array | string, mode = 0o755): CpioEntry => ({
  name,
  mode: S_IFREG | mode,
  data: typeof data === 'string' ? new TextEncoder().encode(data) : data,
  mtime: 0,
});
const dir = (name: string): CpioEntry => ({ name, mode: S_IFDIR | 0o755, mtime: 0 });

/** The busybox part of /init: mount, load the modules (in order), then `rest`. */
export function initScript(rest: string): string {
  return [
    '#!/bin/busybox sh',
    'B=/bin/busybox',
    '$B mount -t proc proc /proc',
    '$B mount -t sysfs sys /sys',
    '$B mount -t devtmpfs dev /dev',
    ...MODULES.map((m) => `$B insmod /lib/modules/${m}.ko || echo "PROBE error insmod ${m}"`),
    rest,
    '',
  ].join('\n');
}

export interface ProbeImage {
  /** Parent CID the probe heartbeats to (3 as on Nitro; 2 for the older emulation, still routed). */
  parentCid: 2 | 3;
  /** Nonce (hex) of the document printed on the console at boot. */
  bootNonce: string;
  /** Extra bytes in the image (a different PCR1/PCR2 for "another image"). */
  salt?: string;
}

/** The probe initramfs: /init mounts, loads the modules and execs enclave-probe. */
export function probeRamdisk(probe: string, o: ProbeImage): Uint8Array {
  const entries: CpioEntry[] = [
    dir('bin'), dir('dev'), dir('proc'), dir('sys'), dir('lib'), dir('lib/modules'),
    file('bin/busybox', readFileSync('/bin/busybox')),
    ...MODULES.map((m) => file(`lib/modules/${m}.ko`, readFileSync(join(CACHE, 'kernel', 'modules', `${m}.ko`)), 0o644)),
    file('probe', readFileSync(probe)),
    file('init', initScript(`exec /probe ${o.parentCid} ${o.bootNonce}`)),
  ];
  if (o.salt) entries.push(file('salt', o.salt, 0o644));
  return writeCpio(entries);
}

/** `eif build` (the CLI, as a user runs it) → { stdout JSON measurements }; throws on failure. */
export function eifBuild(out: string, ramdisks: string[], extra: string[] = []): Record<string, unknown> {
  const args = ['build', '--kernel', KERNEL, '--kernel_config', join(CACHE, 'kernel', 'config'), '--cmdline', CMDLINE, ...ramdisks.flatMap((r) => ['--ramdisk', r]), '--output', out, '--quiet', '--build-time', '2026-01-01T00:00:00Z', ...extra];
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`eif build failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

export function writeRamdisk(path: string, bytes: Uint8Array): string {
  writeFileSync(path, bytes);
  return path;
}
