/**
 * `eif console` for an emulated enclave (docs/launcher.md, "Emulation"): the supervisor serves QEMU's serial
 * console on `<slot>.console` (what was printed so far, then live). This child process copies it to its stdout,
 * so `pipeConsole` treats it like the helper's vsock console (same exit status rules).
 */
import { type ChildProcess, spawn } from 'node:child_process';

/** The copier, run by `node -e`: exit 0 at the console's end or the disconnect timeout, 1 with a JSON error line. */
const COPIER = `
const net = require('node:net');
const [path, ms] = process.argv.slice(1);
const s = net.connect(path);
s.pipe(process.stdout);
s.on('end', () => process.exit(0));
s.on('error', (e) => { process.stderr.write(JSON.stringify({ code: e.code, detail: 'emulated console ' + path + ': ' + e.message }) + '\\n'); process.exit(1); });
if (Number(ms) > 0) setTimeout(() => { s.destroy(); process.exit(0); }, Number(ms));
`;

export function spawnEmulatedConsole(consoleSocket: string, disconnectTimeoutMs?: number): ChildProcess {
  return spawn(process.execPath, ['-e', COPIER, consoleSocket, String(disconnectTimeoutMs ?? 0)], { stdio: ['ignore', 'pipe', 'pipe'] });
}
