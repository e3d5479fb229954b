/**
 * Signing through an external command — `--signer-command 'CMD'` — for keys in an HSM, a PKCS#11 token or another
 * cloud's KMS (ecosystem.md user need #4). The COSE Sig_structure of the EIF signature (eif-format.md §4.2) is
 * hashed here; CMD, run by the shell, gets:
 *
 *   stdin   the raw digest (32 / 48 / 64 bytes for ES256 / ES384 / ES512)
 *   env     EIF_SIGN_ALG (ES384…), EIF_SIGN_HASH (sha384…), EIF_SIGN_DIGEST_HEX, EIF_SIGN_TBS_HEX (the whole
 *           Sig_structure, for tools that hash themselves, e.g. `openssl dgst -sha384 -sign`)
 *
 * and must print the ECDSA signature on stdout, DER or raw r‖s, nothing else. Exit status ≠ 0, a timeout,
 * oversized output or a signature that does not verify with the certificate all fail closed. Node only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:os';
import { EifError } from '../errors.js';
import { toHex } from '../util/hex.js';
import { createEifSigner, prepareCertificate, type EifSigner, type SignRequest, type SignerOptions } from '../signing/signer.js';

export interface CommandSignerOptions extends SignerOptions {
  certificatePem: Uint8Array;
  /** A shell command line. */
  command: string;
  /** Kill the command after this long (default 120 s: HSMs may ask for a PIN or a touch). */
  timeoutMs?: number;
}

/** More than any DER ECDSA signature (P-521: ≤ 139 bytes), small enough to never matter. */
const MAX_OUTPUT = 4096;
const STDERR_TAIL = 2048;

/**
 * A signer that runs `command` once per signature. Codes: SIG_COMMAND_FAILED, SIG_COMMAND_TIMEOUT, SIG_SIGNER_BAD_OUTPUT.
 *
 * @example
 * import { readFileSync } from 'node:fs';
 * import { createCommandSigner } from 'eifkit';
 * // the command reads the raw digest on stdin and prints the ECDSA signature (DER or r‖s)
 * const signer = await createCommandSigner({ certificatePem: readFileSync('cert.pem'), command: 'openssl pkeyutl -sign -inkey key.pem' });
 */
export async function createCommandSigner(options: CommandSignerOptions): Promise<EifSigner> {
  if (!options.command.trim()) throw new EifError('SIG_COMMAND_FAILED', '--signer-command is empty', { exitCode: 2 });
  const cert = await prepareCertificate(options.certificatePem, options);
  return createEifSigner(cert, (req) => runSignerCommand(options.command, req, options.timeoutMs ?? 120_000), `signer command "${options.command}"`);
}

/** Signer commands running now; each is killed (its whole process group) when eif exits or is interrupted. */
const running = new Set<ChildProcess>();
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** SIGKILL a signer command and what it started (POSIX: its process group, see runSignerCommand). */
function killCommand(child: ChildProcess): void {
  try {
    if (process.platform !== 'win32' && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    else child.kill('SIGKILL');
  } catch {
    /* already gone */
  }
}

function killAllCommands(): void {
  for (const c of running) killCommand(c);
  running.clear();
}

/**
 * eif interrupted: the command is in its own session, so neither a terminal's Ctrl-C nor a signal to eif (or to
 * eif's process group, as `timeout` sends) reaches it. Kill it, then end eif as the signal would have, unless
 * another handler (atomic output clean-up) is there to do that.
 */
function onStopSignal(sig: NodeJS.Signals): void {
  killAllCommands();
  unhook();
  if (process.listenerCount(sig) === 0) process.exit(128 + constants.signals[sig]);
}

function hook(): void {
  process.on('exit', killAllCommands);
  for (const sig of STOP_SIGNALS) process.on(sig, onStopSignal);
}

function unhook(): void {
  process.off('exit', killAllCommands);
  for (const sig of STOP_SIGNALS) process.off(sig, onStopSignal);
}

function track(child: ChildProcess): void {
  if (running.size === 0) hook();
  running.add(child);
}

function untrack(child: ChildProcess): void {
  if (running.delete(child) && running.size === 0) unhook();
}

function runSignerCommand(command: string, req: SignRequest, timeoutMs: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    // Own process group (POSIX), so a timeout or eif's own end kills the shell AND what it started (which would
    // hold stdout open, or outlive eif).
    const child = spawn(command, {
      shell: true,
      detached: process.platform !== 'win32',
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        ...process.env,
        EIF_SIGN_ALG: req.algorithm.name,
        EIF_SIGN_HASH: req.algorithm.hash.replace('-', '').toLowerCase(),
        EIF_SIGN_DIGEST_HEX: toHex(req.digest),
        EIF_SIGN_TBS_HEX: toHex(req.toBeSigned),
      },
    });
    const out: Buffer[] = [];
    let outLen = 0;
    let err = '';
    let failure: EifError | undefined;
    const fail = (e: EifError): void => {
      failure ??= e;
      killCommand(child);
    };
    if (child.pid !== undefined) track(child);
    const timer = setTimeout(() => fail(new EifError('SIG_COMMAND_TIMEOUT', `signer command did not finish within ${timeoutMs / 1000} s`)), timeoutMs);
    child.stdout.on('data', (b: Buffer) => {
      outLen += b.length;
      if (outLen > MAX_OUTPUT) fail(new EifError('SIG_SIGNER_BAD_OUTPUT', `signer command printed more than ${MAX_OUTPUT} bytes; it must print only the signature`));
      else out.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      err = (err + b.toString('utf8')).slice(-STDERR_TAIL);
    });
    child.stdin.on('error', () => undefined); // a command that ignores stdin closes it early: not an error by itself
    child.on('error', (e) => fail(new EifError('SIG_COMMAND_FAILED', `cannot run signer command: ${e.message}`, { cause: e })));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      untrack(child);
      if (failure) return reject(failure);
      if (code !== 0) {
        const why = signal ? `was killed by ${signal}` : `exited with status ${code}`;
        const tail = err.trim() ? `: ${err.trim().split('\n').slice(-3).join(' | ')}` : '';
        return reject(new EifError('SIG_COMMAND_FAILED', `signer command ${why}${tail}`));
      }
      resolve(new Uint8Array(Buffer.concat(out)));
    });
    child.stdin.end(req.digest);
  });
}
