/**
 * `eif attest` input hardening (audit findings): FIFOs and devices are refused at once, every file read has a
 * size limit, an empty path is not stdin, impossible --at dates are refused, and a malformed --policy (a bad PCR
 * value too) or an oversized --policy / --root is a usage error (exit 2). The CLI runs with a timeout, so a
 * regression to blocking fails instead of hanging the suite.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/eif.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { toHex } from '../../src/util/hex.js';
import { parseTime } from '../../src/cli/commands/attest-run.js';
import { defaultPcrs, makeDocument, makePki } from '../attestation/helpers/generator.js';

const HAVE_CLI = existsSync(join(REPO_ROOT, 'dist', 'cli', 'main.js'));
const HAVE_PYTHON = spawnSync('python3', ['--version']).status === 0;
const HAVE_MKFIFO = process.platform !== 'win32' && spawnSync('mkfifo', ['--version']).error === undefined;
const T = Date.UTC(2026, 8, 21, 12, 0, 0);
const AT = new Date(T).toISOString();

/** `node bin/eif.js …`, killed after 10 s (status null then). */
function run(args: string[], input?: string | Uint8Array): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'eif.js'), ...args], {
    encoding: 'utf8',
    input: input ?? '',
    timeout: 10_000,
    killSignal: 'SIGKILL',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Exit 2 with one `eif: error CODE: …` line on stderr and nothing on stdout. */
function expectUsage(args: string[], code: RegExp, input?: string | Uint8Array): string {
  const r = run(args, input);
  const what = `${args.join(' ')}\n${r.stdout}${r.stderr}`;
  expect(r.status, what).toBe(2);
  expect(r.stdout, what).toBe('');
  expect(r.stderr, what).toMatch(new RegExp(`^eif: error ${code.source}: [^\\n]+\\n$`));
  return r.stderr;
}

describe.skipIf(!HAVE_CLI)('eif attest: input files', () => {
  const dir = tempDir();
  const f = (name: string): string => join(dir, name);
  const pcr0 = toHex(defaultPcrs().get(0)!);
  const root = (): string[] => ['--root', f('root.der'), '--at', AT];

  beforeAll(async () => {
    const pki = await makePki(T);
    writeFileSync(f('root.der'), pki.root.der);
    writeFileSync(f('doc.cbor'), await makeDocument(pki, T, { nonce: Uint8Array.of(0x0f, 0x1e, 0x2d) }));
    if (HAVE_MKFIFO) expect(spawnSync('mkfifo', [f('fifo')]).status).toBe(0);
  });

  // Regression: on EAGAIN the stdin reader retried at once, burning a core until data came. A non-blocking stdin
  // needs O_NONBLOCK on the pipe eif inherits, which Node's spawn undoes (libuv makes a child's fds 0-2 blocking):
  // python sets it, then counts the CPU ticks eif uses while it waits a second for data.
  it.skipIf(!HAVE_PYTHON || process.platform !== 'linux')('a non-blocking stdin with no data yet is waited on, not spun on', { timeout: 30_000 }, () => {
    const script = [
      'import os, subprocess, sys, time',
      'r, w = os.pipe()',
      'p = subprocess.Popen(sys.argv[1:], stdin=r, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)',
      'os.set_blocking(r, False)', // shared with the child's fd 0; set before eif first reads it
      'time.sleep(1.5)',
      'ticks = lambda: sum(int(x) for x in open(f"/proc/{p.pid}/stat").read().rsplit(") ", 1)[1].split()[11:13])',
      'before = ticks(); time.sleep(1.0); spent = ticks() - before',
      'os.write(w, open(DOC, "rb").read()); os.close(w)',
      'out = p.stdout.read(); code = p.wait()',
      'print(spent, code, b"authentic" in out.lower())',
    ].join('\n').replace('DOC', JSON.stringify(f('doc.cbor')));
    const r = spawnSync('python3', ['-c', script, process.execPath, join(REPO_ROOT, 'bin', 'eif.js'), 'attest', 'inspect', '-', ...root()], { encoding: 'utf8', timeout: 25_000 });
    const [spent, code, authentic] = r.stdout.trim().split(' ');
    expect(Number(spent), `CPU ticks used in 1 s of waiting (${r.stdout}${r.stderr})`).toBeLessThan(20);
    expect(code).toBe('0');
    expect(authentic).toBe('True');
  });

  it.skipIf(!HAVE_MKFIFO)('a FIFO as the document, --root, --eif or --policy fails at once (USAGE_INPUT), never blocks', { timeout: 90_000 }, () => {
    const cases: string[][] = [
      ['attest', 'inspect', f('fifo')],
      ['attest', 'inspect', f('doc.cbor'), '--root', f('fifo')],
      ['attest', 'verify', f('doc.cbor'), ...root(), '--eif', f('fifo')],
      ['attest', 'verify', f('doc.cbor'), ...root(), '--policy', f('fifo')],
    ];
    for (const args of cases) expect(expectUsage(args, /USAGE_INPUT/)).toContain('not a regular file');
  });

  it.skipIf(!existsSync('/dev/zero'))('a device (/dev/zero) as the document, --root or --policy fails at once, never reads forever', { timeout: 90_000 }, () => {
    const cases: string[][] = [
      ['attest', 'inspect', '/dev/zero'],
      ['attest', 'inspect', f('doc.cbor'), '--root', '/dev/zero'],
      ['attest', 'verify', f('doc.cbor'), ...root(), '--policy', '/dev/zero'],
    ];
    for (const args of cases) expect(expectUsage(args, /USAGE_INPUT/)).toContain('not a regular file');
  });

  it('an oversized --policy or --root is a usage error (exit 2); an oversized document stays exit 1', () => {
    writeFileSync(f('big.json'), `{"nonce": "0f1e2d", "pad": "${'x'.repeat(70_000)}"}`);
    writeFileSync(f('big.pem'), readFileSync(f('root.der')).toString('base64').padEnd(70_000, '\n'));
    expect(expectUsage(['attest', 'verify', f('doc.cbor'), ...root(), '--policy', f('big.json')], /ATT_INPUT_TOO_LARGE/)).toContain('limit is 65536');
    expect(expectUsage(['attest', 'inspect', f('doc.cbor'), '--root', f('big.pem'), '--at', AT], /ATT_INPUT_TOO_LARGE/)).toContain('limit is 65536');
    writeFileSync(f('big.hex'), '00'.repeat(50_000));
    const r = run(['attest', 'inspect', f('big.hex'), ...root()]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^eif: error ATT_INPUT_TOO_LARGE: [^\n]+\n$/);
  });

  it("an empty document path is a usage error, not stdin; '-' still reads stdin", () => {
    const doc = readFileSync(f('doc.cbor'));
    expect(expectUsage(['attest', 'inspect', '', ...root()], /USAGE_INPUT/, doc)).toContain('path is empty');
    expectUsage(['attest', 'verify', '', ...root(), '--nonce', '0f1e2d'], /USAGE_INPUT/, doc);
    for (const flag of ['--root', '--policy', '--eif']) {
      expectUsage(['attest', 'verify', f('doc.cbor'), '--at', AT, '--nonce', '0f1e2d', flag, ''], /USAGE_INPUT/);
    }
    const r = run(['attest', 'inspect', '-', ...root()], doc);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('document      stdin (cbor)');
    const v = run(['attest', 'verify', ...root(), '--nonce', '0f1e2d', '-'], doc);
    expect(v.status, v.stdout + v.stderr).toBe(0);
  });

  it('--at: an impossible calendar date or time is a usage error; real ones (leap day, offsets) work', () => {
    for (const at of ['2026-02-30T12:00:00Z', '2025-02-29T12:00:00Z', '2026-04-31T00:00:00Z', '2026-09-21T24:00:00Z', '2026-09-21T12:00:00+24:00', '9999999999999999']) {
      expectUsage(['attest', 'inspect', f('doc.cbor'), '--root', f('root.der'), '--at', at], /USAGE/);
    }
    expect(run(['attest', 'inspect', f('doc.cbor'), '--root', f('root.der'), '--at', '2026-09-21T14:00:00+02:00']).status).toBe(0);
    expect(run(['attest', 'inspect', f('doc.cbor'), '--root', f('root.der'), '--at', '2026-09-21 12:00:00.5z']).status).toBe(0);
  });

  it('--policy with a malformed PCR value is a usage error (ATT_POLICY_INVALID, exit 2), not an INVALID verdict', () => {
    const bad = {
      'pcrs-zz': { pcrs: { 0: 'zz' } },
      'flat-zz': { PCR0: 'zz' },
      'flat-short': { PCR0: 'abcd' },
      'nitro-zz': { Measurements: { HashAlgorithm: 'Sha384 { ... }', PCR0: 'zz' } },
      'pcrs-odd': { pcrs: { 0: pcr0.slice(1) } },
      'pcrs-long': { pcrs: { 0: pcr0 + '00' } },
    };
    for (const [name, policy] of Object.entries(bad)) {
      writeFileSync(f(`${name}.json`), JSON.stringify(policy));
      const err = expectUsage(['attest', 'verify', f('doc.cbor'), ...root(), '--policy', f(`${name}.json`)], /ATT_POLICY_INVALID/);
      expect(err).toContain('PCR0');
    }
  });

  it('--policy that checks nothing on its own is fine when flags add the checks', () => {
    writeFileSync(f('debug-only.json'), '{"allowDebug": false}');
    const r = run(['attest', 'verify', f('doc.cbor'), ...root(), '--policy', f('debug-only.json'), '--nonce', '0f1e2d']);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    const none = run(['attest', 'verify', f('doc.cbor'), ...root(), '--policy', f('debug-only.json')]);
    expect(none.status).toBe(1);
    expect(none.stdout).toContain('ATT_POLICY_EMPTY');
  });
});

describe('parseTime (--at)', () => {
  it('reads RFC 3339 times (any offset, fractions, leap days) and epoch milliseconds', () => {
    expect(parseTime('2024-02-29T12:00:00Z')).toBe(Date.UTC(2024, 1, 29, 12));
    expect(parseTime('2026-09-21T14:00:00.250+02:00')).toBe(T + 250);
    expect(parseTime(' 1758456000000 ')).toBe(1758456000000);
  });

  it('refuses dates that Date.parse would roll over, and times out of range', () => {
    for (const t of ['2026-02-30T12:00:00Z', '2025-02-29T00:00:00Z', '2026-13-01T00:00:00Z', '2026-00-10T00:00:00Z', '2026-01-00T00:00:00Z', '2026-01-01T12:00:60Z', '2026-01-01T12:60:00Z', '2026-01-01T12:00:00-00:60', '8640000000000001']) {
      expect(() => parseTime(t), t).toThrow(/--at/);
    }
  });
});
