/**
 * createCommandSigner (--signer-command): the digest on stdin / the Sig_structure in EIF_SIGN_TBS_HEX, a DER or
 * r‖s signature back — exercised with openssl as the "HSM" — and every failure closed with a stable code.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, VECTORS } from '../helpers/eif.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { CURVES, HAVE_OPENSSL, makeEcKey, writeFile, type TestKey } from './keys.js';
import { createCommandSigner } from '../../src/node/signer-command.js';
import { inspectSignatureSection } from '../../src/signing/verify.js';
import { EifError } from '../../src/errors.js';
import { codeOf } from '../helpers/errors.js';

const PCR0 = Uint8Array.from({ length: 48 }, (_, i) => (i * 3 + 17) & 0xff);

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

describe.skipIf(!HAVE_OPENSSL)('createCommandSigner', () => {
  const dir = tempDir();
  const keys = {} as Record<string, TestKey>;
  beforeAll(() => {
    for (const c of CURVES) keys[c] = makeEcKey(dir, c, c);
    keys.other = makeEcKey(dir, 'other', 'P-384');
  });

  for (const curve of CURVES) {
    it(`${curve}: "openssl pkeyutl -sign" on the digest from stdin (DER out) verifies`, async () => {
      const k = keys[curve]!;
      const signer = await createCommandSigner({ certificatePem: k.certPem, command: `openssl pkeyutl -sign -inkey ${q(k.keyPath)}` });
      const r = await inspectSignatureSection((await signer.signatureSection(PCR0)).data, PCR0);
      expect([r.signatureValid, r.payloadMatches]).toEqual([true, true]);
    });
  }

  it('an "openssl dgst"-based script that hashes EIF_SIGN_TBS_HEX itself with EIF_SIGN_HASH', async () => {
    const k = keys['P-384']!;
    const script = writeFile(dir, 'sign.sh', `#!/bin/sh\nset -e\nprintf '%s' "$EIF_SIGN_TBS_HEX" | xxd -r -p | openssl dgst -"$EIF_SIGN_HASH" -sign ${q(k.keyPath)}\n`);
    const signer = await createCommandSigner({ certificatePem: k.certPem, command: `sh ${q(script)}` });
    const r = await inspectSignatureSection((await signer.signatureSection(PCR0)).data, PCR0);
    expect([r.signatureValid, r.payloadMatches]).toEqual([true, true]);
  });

  it('a raw r‖s signature on stdout is accepted too', async () => {
    const k = keys['P-256']!;
    // DER -> r‖s with openssl asn1parse output, to play an HSM that returns raw signatures.
    const script = writeFile(
      dir,
      'raw.sh',
      `#!/bin/sh\nset -e\nopenssl pkeyutl -sign -inkey ${q(k.keyPath)} > "$0.der"\n` +
        `openssl asn1parse -inform DER -in "$0.der" | awk -F: '/INTEGER/ {print $NF}' | while read h; do printf '%064s' "$h" | tr ' ' 0; done | xxd -r -p\n`,
    );
    const signer = await createCommandSigner({ certificatePem: k.certPem, command: `sh ${q(script)}` });
    const r = await inspectSignatureSection((await signer.signatureSection(PCR0)).data, PCR0);
    expect(r.signatureValid).toBe(true);
  });

  const failing: [string, string | (() => string), string, number?][] = [
    ['exits non-zero', 'echo "token not present" >&2; exit 3', 'SIG_COMMAND_FAILED'],
    ['prints something that is no signature', 'echo hello', 'SIG_SIGNER_BAD_OUTPUT'],
    ['prints nothing', 'true', 'SIG_SIGNER_BAD_OUTPUT'],
    ['prints megabytes', 'head -c 1000000 /dev/zero', 'SIG_SIGNER_BAD_OUTPUT'],
    ['signs with another key', () => `openssl pkeyutl -sign -inkey ${q(keys.other!.keyPath)}`, 'SIG_KEY_CERT_MISMATCH'],
    ['does not exist', 'no-such-signer-command-xyz', 'SIG_COMMAND_FAILED'],
    ['hangs', 'sleep 30', 'SIG_COMMAND_TIMEOUT', 300],
  ];
  for (const [what, cmd, code, timeoutMs] of failing) {
    it(`a command that ${what} -> ${code}`, async () => {
      const signer = await createCommandSigner({
        certificatePem: keys['P-384']!.certPem,
        command: typeof cmd === 'string' ? cmd : cmd(),
        ...(timeoutMs ? { timeoutMs } : {}),
      });
      const started = Date.now();
      expect(await codeOf(signer.signatureSection(PCR0))).toBe(code);
      expect(Date.now() - started).toBeLessThan(20_000);
    });
  }

  it('an empty command is a usage error', async () => {
    const e = await createCommandSigner({ certificatePem: keys['P-384']!.certPem, command: '  ' }).catch((x: EifError) => x);
    expect(e).toBeInstanceOf(EifError);
    expect((e as EifError).exitCode).toBe(2);
  });
});

/** Alive and not a zombie (an orphan may wait a while for its reaper here). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const HAVE_CLI = existsSync(join(REPO_ROOT, 'dist', 'cli', 'main.js'));

describe.skipIf(!HAVE_OPENSSL || !HAVE_CLI || process.platform === 'win32')('eif sign --signer-command, interrupted', () => {
  const dir = tempDir();
  let key: TestKey;
  beforeAll(() => {
    key = makeEcKey(dir, 'sig', 'P-384');
  });

  // Regression: the command runs in its own process group, which a signal to eif did not reach: `sleep 100`
  // stayed behind after eif had gone (SIGINT / SIGTERM / `timeout`).
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    it(`${sig} to eif kills the signer command and what it started`, async () => {
      const pidFile = join(dir, `${sig}.pid`);
      const out = join(dir, `${sig}.eif`);
      // The sleep is a grandchild of eif (the shell's background job), so only killing the group reaches it.
      const command = `sleep 100 & echo $! > ${q(pidFile)}; wait`;
      const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'eif.js'), 'sign', '--eif-path', join(VECTORS, 'three-ramdisks.eif'),
        '--output', out, '--signing-certificate', key.certPath, '--signer-command', command], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (b) => (stderr += b));
      const closed = new Promise<[number | null, NodeJS.Signals | null]>((res) => child.on('close', (c, s) => res([c, s])));
      try {
        await until(() => existsSync(pidFile) && readFileSync(pidFile, 'utf8').endsWith('\n'), 10_000, 'the signer command to start');
        const sleepPid = Number(readFileSync(pidFile, 'utf8'));
        expect(alive(sleepPid)).toBe(true);
        child.kill(sig);
        const [code, signal] = await closed;
        expect(code !== 0 || signal !== null).toBe(true);
        expect(stderr).not.toMatch(/ at |INTERNAL/);
        await until(() => !alive(sleepPid), 3000, `sleep ${sleepPid} to be killed`);
        expect(existsSync(out)).toBe(false);
      } finally {
        child.kill('SIGKILL');
        if (existsSync(pidFile)) {
          try {
            process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
          } catch {
            /* gone, as it should be */
          }
        }
      }
    });
  }
});
