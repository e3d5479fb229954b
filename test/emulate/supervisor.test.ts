/**
 * The emulation supervisor's boot decisions (src/launcher/emulate-supervisor.ts) with a stand-in for QEMU, so they
 * run without a QEMU build: a node script that lists the nitro-enclave machine, prints console lines as a guest
 * would, and sends the 0xB7 heartbeat to the supervisor's `<slot>.vsock_9000` itself. eifkit's vsock backend is
 * the real one (it waits for a QEMU that never connects).
 *
 * Regression: a guest whose TSC calibration against the PIT fails (seen on a heavily loaded host even with -icount)
 * hangs; the supervisor boots it once more instead of waiting out the heartbeat timeout.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nativeBackendPath } from '../../src/launcher/emulate-tools.js';
import { BIN } from './images.js';

const why = process.platform !== 'linux' ? 'Linux only' : existsSync(nativeBackendPath()) ? undefined : 'eifkit\'s vsock backend is not built';
const dir = mkdtempSync(join(tmpdir(), 'eifkit-emu-sup-'));
afterAll(() => {
  spawnSync(process.execPath, [BIN, 'terminate-enclave', '--all'], { env: { ...process.env, EIF_ENCLAVE_STATE_DIR: join(dir, 'state') }, timeout: 20_000 });
  rmSync(dir, { recursive: true, force: true });
});

/** A fake qemu-system-x86_64: run N (counted in $FAKE_QEMU_RUNS) prints the lines of $FAKE_QEMU_SCRIPT_<N>. */
const FAKE = `#!${process.execPath}
const fs = require('node:fs'), net = require('node:net');
if (process.argv[2] === '-machine') { console.log('Supported machines are:\\nnitro-enclave        AWS Nitro Enclave'); process.exit(0); }
const runs = process.env.FAKE_QEMU_RUNS;
const n = (fs.existsSync(runs) ? Number(fs.readFileSync(runs, 'utf8')) : 0) + 1;
fs.writeFileSync(runs, String(n));
const chardev = process.argv[process.argv.indexOf('-chardev') + 1];
const slot = /path=(.*)\\.vhost$/.exec(chardev)[1];
process.stdout.write('[    0.000000] Linux version 6.12 (fake)\\n');
if (n === 1) {
  process.stdout.write('[    0.000000] tsc: Unable to calibrate against PIT\\n[    0.000000] tsc: No reference (HPET/PMTIMER) available\\n');
  setInterval(() => {}, 1000); // hangs, as the real guest does
} else {
  process.stdout.write('[    1.000000] Run /init as init process\\n');
  const s = net.connect(slot + '.vsock_9000', () => s.write(Buffer.from([0xb7])));
  s.on('data', () => s.end());
  setInterval(() => {}, 1000);
}
`;

describe.skipIf(!!why)(why ? `emulation supervisor (skipped: ${why})` : 'emulation supervisor, with a stand-in QEMU', () => {
  it('a failed TSC calibration under TCG: booted once more, with a note; the second boot heartbeats', () => {
    const qemu = join(dir, 'qemu-system-x86_64');
    writeFileSync(qemu, FAKE);
    chmodSync(qemu, 0o755);
    const fw = join(dir, 'fw');
    mkdirSync(fw);
    writeFileSync(join(fw, 'bios-microvm.bin'), 'x');
    writeFileSync(join(fw, 'linuxboot_dma.bin'), 'x');
    writeFileSync(join(dir, 'k'), Buffer.alloc(4096, 1));
    writeFileSync(join(dir, 'r'), Buffer.alloc(512, 2));
    const eif = join(dir, 'x.eif');
    expect(spawnSync(process.execPath, [BIN, 'build', '--kernel', join(dir, 'k'), '--cmdline', 'x', '--ramdisk', join(dir, 'r'), '--output', eif, '--quiet']).status).toBe(0);
    const state = join(dir, 'state');
    const env = { ...process.env, EIF_ENCLAVE_STATE_DIR: state, EIF_EMULATE_ACCEL: 'tcg', EIF_QEMU_FIRMWARE: fw, EIF_HEARTBEAT_TIMEOUT_MS: '20000', FAKE_QEMU_RUNS: join(dir, 'runs') };
    const r = spawnSync(process.execPath, [BIN, 'run', '--emulate', '--qemu', qemu, '--eif-path', eif, '--memory', '256', '--cpu-count', '1'], { encoding: 'utf8', env, timeout: 30_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(readFileSync(join(dir, 'runs'), 'utf8')).toBe('2');
    expect(r.stderr).toContain('eif: note: booting again: the guest kernel could not calibrate its TSC against the PIT');
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ Emulated: true, Accelerator: 'tcg', VsockBackend: 'eifkit' });
    const t = spawnSync(process.execPath, [BIN, 'terminate-enclave', '--enclave-id', out.EnclaveID], { encoding: 'utf8', env, timeout: 20_000 });
    expect(t.status, t.stderr).toBe(0);
    expect(readdirSync(state).filter((f) => !f.endsWith('.lock'))).toEqual([]);
  }, 60_000);
});
