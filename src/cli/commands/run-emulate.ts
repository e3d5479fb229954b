/**
 * `eif run --emulate` (docs/launcher.md, "Emulation"): the same report as `eif run` for an enclave booted on QEMU's
 * nitro-enclave machine, with what emulation cannot show said on stderr. Progress on stderr, JSON on stdout.
 */
import { usageError } from '../../errors.js';
import type { Finding } from '../../launcher/preflight.js';
import { printJson } from '../output.js';
import { intOf, preflightFailure, printFinding, type RunArgs } from './launcher.js';

export async function runEmulatedHandler(a: RunArgs): Promise<void> {
  if (a.config !== undefined) throw usageError('--emulate takes its settings as flags, not --config');
  if (a['cpu-ids'] !== undefined) throw usageError('--emulate takes --cpu-count (QEMU vCPUs), not --cpu-ids');
  if (a['eif-path'] === undefined) throw usageError('--eif-path is required');
  const { runEmulated, EMULATION_LIMITS, FALLBACK_BACKEND_LIMIT } = await import('../../launcher/emulate.js');
  const { PreflightError } = await import('../../launcher/preflight.js');
  const { openConsole, pipeConsole } = await import('../../launcher/launcher.js');
  const pending: Finding[] = [];
  try {
    const r = await runEmulated({
      eifPath: a['eif-path'],
      memoryMiB: a.memory === undefined ? undefined : intOf(a.memory, '--memory'),
      cpuCount: a['cpu-count'] === undefined ? undefined : intOf(a['cpu-count'], '--cpu-count'),
      cid: a['enclave-cid'] === undefined ? undefined : intOf(a['enclave-cid'], '--enclave-cid'),
      debugMode: a['debug-mode'] || a['attach-console'],
      enclaveName: a['enclave-name'],
      qemu: a.qemu,
      onFinding: (f) => pending.push(f),
      onEvent: (ev) => {
        pending.splice(0).forEach(printFinding);
        if (ev.event === 'started' && ev.accel === 'kvm') process.stderr.write('eif: note: booting under QEMU with KVM\n');
        if (ev.event === 'started' && ev.accel === 'tcg') process.stderr.write('eif: note: booting under QEMU with software emulation (TCG)\n');
        if (ev.event === 'accel') process.stderr.write(`eif: note: falling back to software emulation (TCG): ${String(ev.reason)}\n`);
        if (ev.event === 'restart') process.stderr.write(`eif: note: booting again: ${String(ev.reason)}\n`);
      },
    });
    pending.splice(0).forEach(printFinding);
    const how = r.Accelerator === 'kvm' ? 'KVM' : `software emulation (TCG${r.AcceleratorNote ? `: ${r.AcceleratorNote}` : ''})`;
    process.stderr.write(`Started emulated enclave with enclave-cid: ${r.EnclaveCID}, memory: ${r.MemoryMiB} MiB, cpus: ${r.NumberOfCPUs}, ${how}; heartbeat after ${(r.BootMs / 1000).toFixed(1)} s\n`);
    process.stderr.write(`eif: note EMULATED: ${EMULATION_LIMITS}\n`);
    process.stderr.write(`eif: note: host programs reach the enclave's vsock ports through ${r.VsockSocket} (write "CONNECT <port>\\n", read "OK …\\n", then talk)\n`);
    if (r.VsockBackend === 'eifkit') process.stderr.write(`eif: note: the enclave reaches the parent at vsock CID 3 (or 2) port P through a Unix socket listening at ${r.VsockSocket}_P\n`);
    else process.stderr.write(`eif: note EMULATED: ${FALLBACK_BACKEND_LIMIT}; the enclave reaches CID 2 port P through ${r.VsockSocket}_P\n`);
    printJson(r);
    if (a['attach-console']) await pipeConsole(openConsole(r.EnclaveID), process.stdout);
  } catch (e) {
    if (e instanceof PreflightError) throw preflightFailure(e);
    pending.splice(0).forEach(printFinding);
    throw e;
  }
}
