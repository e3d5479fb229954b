/**
 * Finding what `eif run --emulate` needs (src/launcher/emulate-tools.ts): the order of the candidates and why a
 * QEMU is passed over (no nitro-enclave machine: Debian's builds). Fake binaries in a temp folder; no QEMU needed.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { findEmulationTools } from '../../src/launcher/emulate-tools.js';

const dir = mkdtempSync(join(tmpdir(), 'eifkit-emu-tools-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function fakeQemu(path: string, machines: string): string {
  writeFileSync(path, `#!/bin/sh\n[ "$1" = -machine ] && printf '%s\\n' 'Supported machines are:' ${machines.split(' ').map((m) => `'${m.padEnd(20)} some machine'`).join(' ')}\n`);
  chmodSync(path, 0o755);
  return path;
}

describe('findEmulationTools', () => {
  const cache = join(dir, 'cache');
  mkdirSync(join(cache, 'bin'), { recursive: true });
  mkdirSync(join(cache, 'firmware'), { recursive: true });
  const debianLike = fakeQemu(join(dir, 'qemu-debian'), 'microvm pc q35');
  const withMachine = fakeQemu(join(cache, 'bin', 'qemu-system-x86_64'), 'microvm nitro-enclave pc');

  it('passes over a QEMU without the nitro-enclave machine and says why; takes the cache\'s', () => {
    const t = findEmulationTools({ arch: 'x86_64', env: { EIF_QEMU: debianLike, EIF_QEMU_CACHE: cache, PATH: '' } });
    expect(t.qemu).toBe(withMachine);
    const only = findEmulationTools({ arch: 'x86_64', qemu: debianLike, env: { EIF_QEMU_CACHE: cache, PATH: '' } });
    expect(only.qemu).toBeUndefined();
    expect(only.qemuRejected).toEqual([`${debianLike}: has no nitro-enclave machine (Debian's QEMU is built without libcbor)`]);
    const missing = findEmulationTools({ arch: 'x86_64', qemu: join(dir, 'nope'), env: { EIF_QEMU_CACHE: cache, PATH: '' } });
    expect(missing.qemuRejected).toEqual([`${join(dir, 'nope')}: no such file`]);
  });

  it('the firmware folder must hold both files; the backend must be executable', () => {
    const env = { EIF_QEMU_CACHE: cache, PATH: '', EIF_NATIVE_OUT: join(dir, 'no-native') };
    writeFileSync(join(cache, 'firmware', 'bios-microvm.bin'), 'x');
    expect(findEmulationTools({ arch: 'x86_64', env }).firmwareDir).not.toBe(join(cache, 'firmware'));
    writeFileSync(join(cache, 'firmware', 'linuxboot_dma.bin'), 'x');
    expect(findEmulationTools({ arch: 'x86_64', env }).firmwareDir).toBe(join(cache, 'firmware'));
    writeFileSync(join(cache, 'bin', 'vhost-device-vsock'), '#!/bin/sh\n');
    expect(findEmulationTools({ arch: 'x86_64', env }).vhostVsock).toBeUndefined();
    chmodSync(join(cache, 'bin', 'vhost-device-vsock'), 0o755);
    expect(findEmulationTools({ arch: 'x86_64', env }).vhostVsock).toBe(join(cache, 'bin', 'vhost-device-vsock'));
  });

  it('eifkit\'s own backend (the native build output) comes first; vhost-device-vsock is only the fallback', () => {
    const native = join(dir, 'native-out');
    mkdirSync(native, { recursive: true });
    const env = { EIF_QEMU_CACHE: cache, PATH: '', EIF_NATIVE_OUT: native };
    writeFileSync(join(cache, 'bin', 'vhost-device-vsock'), '#!/bin/sh\n');
    chmodSync(join(cache, 'bin', 'vhost-device-vsock'), 0o755);
    // not built yet: the fallback, and the pre-flight says so (emulate.ts)
    expect(findEmulationTools({ arch: 'x86_64', env }).vsockBackend).toEqual({ path: join(cache, 'bin', 'vhost-device-vsock'), kind: 'vhost-device-vsock' });
    writeFileSync(join(native, 'eif-vsock-backend'), '#!/bin/sh\n');
    chmodSync(join(native, 'eif-vsock-backend'), 0o755);
    const t = findEmulationTools({ arch: 'x86_64', env });
    expect(t.vsockBackend).toEqual({ path: join(native, 'eif-vsock-backend'), kind: 'eifkit' });
    expect(t.vhostVsock).toBe(join(cache, 'bin', 'vhost-device-vsock'));
    // EIF_VSOCK_BACKEND names another build of ours
    const other = join(dir, 'my-backend');
    writeFileSync(other, '#!/bin/sh\n');
    chmodSync(other, 0o755);
    expect(findEmulationTools({ arch: 'x86_64', env: { ...env, EIF_VSOCK_BACKEND: other } }).vsockBackend).toEqual({ path: other, kind: 'eifkit' });
    // neither: nothing, and the pre-flight reports EMULATE_VSOCK_BACKEND_MISSING with the build command
    rmSync(join(cache, 'bin', 'vhost-device-vsock'));
    rmSync(join(native, 'eif-vsock-backend'));
    expect(findEmulationTools({ arch: 'x86_64', env }).vsockBackend).toBeUndefined();
  });
});
