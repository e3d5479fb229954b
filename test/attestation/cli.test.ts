/**
 * `eif attest inspect|verify` end to end through the compiled CLI (`node bin/eif.js`; `npm test` builds it):
 * exit 0 valid / 1 invalid / 2 usage, raw / base64 / hex / stdin input, --root, --at, --pcr, --policy, --eif,
 * --nonce, --max-age, --allow-debug, --json. Generator documents always; the shared real documents when present.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { eif, tempDir } from '../helpers/eif.js';
import { HAVE_SHARED, REPO_ROOT, sharedPath } from '../helpers/shared.js';
import { toHex } from '../../src/util/hex.js';
import { defaultPcrs, makeDocument, makePki, pcrValue, type Pki } from './helpers/generator.js';

const HAVE_CLI = existsSync(join(REPO_ROOT, 'dist', 'cli', 'main.js'));
const T = Date.UTC(2026, 8, 21, 12, 0, 0);
const AT = new Date(T).toISOString();

describe.skipIf(!HAVE_CLI)('eif attest', () => {
  const dir = tempDir();
  let pki: Pki;
  const f = (name: string): string => join(dir, name);
  const pcrHex = (i: number): string => toHex(defaultPcrs().get(i)!);

  beforeAll(async () => {
    pki = await makePki(T);
    writeFileSync(f('root.der'), pki.root.der);
    const b64 = btoa(String.fromCharCode(...pki.root.der)).replace(/(.{64})/g, '$1\n');
    writeFileSync(f('root.pem'), `-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`);
    const doc = await makeDocument(pki, T, { nonce: Uint8Array.of(0x0f, 0x1e, 0x2d), userData: Uint8Array.of(1), publicKey: Uint8Array.of(2) });
    writeFileSync(f('doc.cbor'), doc);
    writeFileSync(f('doc.b64'), btoa(String.fromCharCode(...doc)).replace(/(.{76})/g, '$1\n') + '\n');
    writeFileSync(f('doc.hex'), toHex(doc));
    const zero = defaultPcrs();
    for (const i of [0, 1, 2]) zero.set(i, new Uint8Array(48));
    writeFileSync(f('debug.cbor'), await makeDocument(pki, T, { pcrs: zero }));
    writeFileSync(f('policy.json'), JSON.stringify({ pcrs: { 0: pcrHex(0), 1: pcrHex(1) }, nonce: '0f1e2d', maxAge: '5m' }));
    writeFileSync(f('nitro.json'), JSON.stringify({ Measurements: { HashAlgorithm: 'Sha384 { ... }', PCR0: pcrHex(0), PCR1: pcrHex(1), PCR2: pcrHex(2) } }));
    writeFileSync(f('bad-policy.json'), '{"nonse": "00"}');
    writeFileSync(f('junk.txt'), 'hello world!');
  });

  const root = (): string[] => ['--root', f('root.der'), '--at', AT];

  it('inspect: authentic document → exit 0, PCRs in hex, ISO times, chain subjects and validity', () => {
    const r = eif(['attest', 'inspect', f('doc.cbor'), ...root()]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('verdict       AUTHENTIC');
    expect(r.stdout).toContain(`PCR0   ${pcrHex(0)}`);
    expect(r.stdout).toContain(`timestamp     ${AT}`);
    expect(r.stdout).toContain('nonce         0f1e2d (3 bytes)');
    expect(r.stdout).toMatch(/root\s+C=US, O=Synthetic, OU=TEST, CN=synthetic\.nitro-enclaves/);
    expect(r.stdout).toMatch(/leaf\s+C=US/);
    expect(r.stdout).toMatch(/valid 20\d\d-\d\d-\d\dT/);
  });

  it('inspect: base64 (wrapped), hex, stdin and PEM root all work', () => {
    for (const input of ['doc.b64', 'doc.hex']) {
      const r = eif(['attest', 'inspect', f(input), '--root', f('root.pem'), '--at', String(T)]);
      expect(r.status, input + r.stdout).toBe(0);
    }
    const r = eif(['attest', 'inspect', '-', ...root()], { input: readFileSync(f('doc.b64')) });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain('(base64)');
  });

  it('inspect: against the AWS root (default) → exit 1, ATT_ROOT_UNTRUSTED', () => {
    const r = eif(['attest', 'inspect', f('doc.cbor'), '--at', AT]);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('NOT AUTHENTIC');
    expect(r.stdout).toContain('ATT_ROOT_UNTRUSTED');
  });

  it('inspect: a later time → exit 1, ATT_CERT_VALIDITY; --json has the errors', () => {
    const r = eif(['attest', 'inspect', f('doc.cbor'), '--root', f('root.der'), '--at', '2026-09-22T12:00:00+02:00', '--json']);
    expect(r.status).toBe(1);
    const j = JSON.parse(r.stdout);
    expect(j.ok).toBe(false);
    expect(j.errors[0].code).toBe('ATT_CERT_VALIDITY');
    expect(j.document.pcrs['0']).toBe(pcrHex(0));
  });

  it('inspect: junk input → exit 1 with a reason, no stack trace', () => {
    const r = eif(['attest', 'inspect', f('junk.txt'), ...root()]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/ATT_(INPUT|CBOR_\w+)/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
  });

  it('verify: PCRs from flags → 0; a wrong one → 1 with the reason', () => {
    const ok = eif(['attest', 'verify', f('doc.cbor'), ...root(), '--pcr', `0=${pcrHex(0)}`, '--pcr', `PCR2=${pcrHex(2).toUpperCase()}`]);
    expect(ok.status, ok.stdout).toBe(0);
    expect(ok.stdout).toContain('verdict       VALID');
    const bad = eif(['attest', 'verify', f('doc.cbor'), ...root(), '--pcr', `0=${pcrHex(1)}`]);
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain('INVALID');
    expect(bad.stdout).toContain('ATT_PCR_MISMATCH');
  });

  it('verify: nonce / user data / public key as hex; --json', () => {
    const r = eif(['attest', 'verify', f('doc.cbor'), ...root(), '--nonce', '0F1E2D', '--user-data', '01', '--public-key', '02', '--json']);
    expect(r.status, r.stdout).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ ok: true, errors: [], document: { nonce: '0f1e2d', userData: '01', publicKey: '02' } });
    const bad = eif(['attest', 'verify', f('doc.cbor'), ...root(), '--nonce', '0f1e2e', '--json']);
    expect(bad.status).toBe(1);
    expect(JSON.parse(bad.stdout).errors.map((e: { code: string }) => e.code)).toEqual(['ATT_NONCE_MISMATCH']);
  });

  it('verify: --max-age', () => {
    expect(eif(['attest', 'verify', f('doc.cbor'), '--root', f('root.der'), '--at', String(T + 60_000), '--max-age', '5m']).status).toBe(0);
    const r = eif(['attest', 'verify', f('doc.cbor'), '--root', f('root.der'), '--at', String(T + 600_000), '--max-age', '5m']);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('ATT_TIMESTAMP_STALE');
  });

  it('verify: --policy files (own format, nitro-cli Measurements)', () => {
    expect(eif(['attest', 'verify', f('doc.cbor'), ...root(), '--policy', f('policy.json')]).status).toBe(0);
    expect(eif(['attest', 'verify', f('doc.cbor'), ...root(), '--policy', f('nitro.json')]).status).toBe(0);
    // a flag overrides the file's PCR
    const r = eif(['attest', 'verify', f('doc.cbor'), ...root(), '--policy', f('nitro.json'), '--pcr', `1=${toHex(pcrValue(9))}`]);
    expect(r.status).toBe(1);
  });

  it('verify: nothing to check → exit 1, ATT_POLICY_EMPTY', () => {
    const r = eif(['attest', 'verify', f('doc.cbor'), ...root()]);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('ATT_POLICY_EMPTY');
  });

  it('verify: debug documents need --allow-debug', () => {
    const r = eif(['attest', 'verify', f('debug.cbor'), ...root(), '--pcr', `4=${pcrHex(4)}`]);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('ATT_DEBUG_MODE');
    expect(r.stdout).toContain('DEBUG');
    expect(eif(['attest', 'verify', f('debug.cbor'), ...root(), '--pcr', `4=${pcrHex(4)}`, '--allow-debug']).status).toBe(0);
  });

  it('verify: --eif measures the image (mismatch here: the document is not of that image)', () => {
    const image = join(REPO_ROOT, 'test-vectors', 'eif', 'three-ramdisks.eif');
    const r = eif(['attest', 'verify', f('doc.cbor'), ...root(), '--eif', image, '--json']);
    expect(r.status).toBe(1);
    const j = JSON.parse(r.stdout);
    const expected = JSON.parse(readFileSync(join(REPO_ROOT, 'test-vectors', 'eif', 'expected.json'), 'utf8'))['three-ramdisks'].measurements;
    expect(j.errors.map((e: { code: string }) => e.code)).toEqual(['ATT_PCR_MISMATCH', 'ATT_PCR_MISMATCH', 'ATT_PCR_MISMATCH']);
    expect(j.errors[0].message).toContain(expected.PCR0);
  });

  it('verify: --eif with a document of that image → 0', async () => {
    const image = join(REPO_ROOT, 'test-vectors', 'eif', 'three-ramdisks.eif');
    const m = JSON.parse(readFileSync(join(REPO_ROOT, 'test-vectors', 'eif', 'expected.json'), 'utf8'))['three-ramdisks'].measurements;
    const pcrs = defaultPcrs();
    for (const i of [0, 1, 2]) pcrs.set(i, Uint8Array.from((m[`PCR${i}`] as string).match(/../g)!, (h) => parseInt(h, 16)));
    writeFileSync(f('image-doc.cbor'), await makeDocument(pki, T, { pcrs }));
    const r = eif(['attest', 'verify', f('image-doc.cbor'), ...root(), '--eif', image]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  it('usage errors exit 2', () => {
    const cases: string[][] = [
      ['attest'],
      ['attest', 'inspect'],
      ['attest', 'frobnicate', f('doc.cbor')],
      ['attest', 'inspect', f('missing.cbor')],
      ['attest', 'inspect', f('doc.cbor'), '--at', 'yesterday'],
      ['attest', 'inspect', f('doc.cbor'), '--root', f('missing.pem')],
      ['attest', 'inspect', f('doc.cbor'), '--root', f('junk.txt')],
      ['attest', 'verify', f('doc.cbor'), '--pcr', '0=zz'],
      ['attest', 'verify', f('doc.cbor'), '--pcr', `40=${pcrHex(0)}`],
      ['attest', 'verify', f('doc.cbor'), '--pcr', '0=abcd'],
      ['attest', 'verify', f('doc.cbor'), '--nonce', 'xyz'],
      ['attest', 'verify', f('doc.cbor'), '--max-age', 'soon'],
      ['attest', 'verify', f('doc.cbor'), '--policy', f('missing.json')],
      ['attest', 'verify', f('doc.cbor'), '--policy', f('bad-policy.json')],
      ['attest', 'verify', f('doc.cbor'), '--eif', f('missing.eif')],
    ];
    for (const args of cases) {
      const r = eif(args);
      expect(r.status, args.join(' ') + '\n' + r.stdout + r.stderr).toBe(2);
      expect(r.stderr).toMatch(/eif: error [A-Z_]+:/);
    }
  });
});

describe.skipIf(!HAVE_CLI || !HAVE_SHARED)('eif attest on genuine documents', () => {
  const index = HAVE_SHARED
    ? (JSON.parse(readFileSync(sharedPath('attestation', 'INDEX.json'), 'utf8')) as { file: string; expect: string; timestamp_ms: number; pcr0: string; debug_mode: boolean }[])
    : [];
  const genuine = index.filter((e) => e.expect === 'accept');

  it('every genuine document is authentic at its timestamp (AWS root) and not now', () => {
    for (const e of genuine) {
      const p = sharedPath('attestation', e.file);
      expect(eif(['attest', 'inspect', p, '--at', String(e.timestamp_ms)]).status, e.file).toBe(0);
      const args = ['attest', 'verify', p, '--at', new Date(e.timestamp_ms).toISOString(), '--pcr', `0=${e.pcr0}`, ...(e.debug_mode ? ['--allow-debug'] : [])];
      expect(eif(args).status, e.file).toBe(0);
    }
    expect(eif(['attest', 'inspect', sharedPath('attestation', genuine[0]!.file)]).status).toBe(1);
  });
});

describe.skipIf(!HAVE_CLI)('eif attest flag placement', () => {
  const dir = tempDir();
  it('repeatable flags before the document do not swallow it', async () => {
    const pki = await makePki(T);
    writeFileSync(join(dir, 'root.der'), pki.root.der);
    writeFileSync(join(dir, 'doc.cbor'), await makeDocument(pki, T));
    const p0 = toHex(defaultPcrs().get(0)!);
    const r = eif(['attest', 'verify', '--pcr', `0=${p0}`, '--root', join(dir, 'root.der'), '--at', AT, join(dir, 'doc.cbor')]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });
});
