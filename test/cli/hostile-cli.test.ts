/**
 * Regression tests for an audit of the CLI with hostile command lines and files (2026-11-22): each case broke a
 * rule of docs/errors.md before its fix (replaced a device, overwrote the signing key, hid a damaged image,
 * hung on a FIFO, printed a stack trace, or ended as an internal error).
 */
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/shared.js';
import { eif, tempDir, vector } from '../helpers/eif.js';
import { HAVE_OPENSSL, makeEcKey } from '../signing/keys.js';

const oneErrorLine = (stderr: string, code: string): void => {
  const lines = stderr.trim().split('\n').filter((l) => !l.startsWith('eif: warning:'));
  expect(lines).toEqual([expect.stringMatching(new RegExp(`^eif: error ${code}: `))]);
};

describe('hostile command lines (audit regressions)', () => {
  const dir = tempDir();
  const kernel = join(dir, 'K');
  const rd = join(dir, 'R0');
  writeFileSync(kernel, new Uint8Array(4096).fill(1));
  writeFileSync(rd, new Uint8Array(2048).fill(2));
  const fifo = join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  const build = (out: string, ...more: string[]) => ['build', '--kernel', kernel, '--cmdline', 'x', '--ramdisk', rd, '--output', out, '--quiet', ...more];
  const image = join(dir, 'ok.eif');
  expect(eif(build(image)).status).toBe(0);

  it('an output that is a FIFO or a directory is refused and left as it was (OUTPUT_NOT_FILE)', () => {
    for (const out of [fifo, dir]) {
      const r = eif(build(out));
      expect(r.status).toBe(1);
      oneErrorLine(r.stderr, 'OUTPUT_NOT_FILE');
    }
    expect(lstatSync(fifo).isFIFO()).toBe(true);
    expect(statSync(dir).isDirectory()).toBe(true);
  });

  it('inputs that are FIFOs or devices fail at once (INPUT_NOT_FILE), never wait', () => {
    const cases = [
      ['describe', fifo],
      ['verify', fifo],
      ['build', '--kernel', fifo, '--cmdline', 'x', '--ramdisk', rd, '--output', join(dir, 'n.eif')],
      ['build', '--kernel', kernel, '--cmdline', 'x', '--ramdisk', rd, '--metadata', fifo, '--output', join(dir, 'n.eif')],
      ['verify', image, '--expect', fifo],
      ['verify', image, '--expect', '/dev/zero'],
    ];
    for (const args of cases) {
      const t0 = Date.now();
      const r = eif(args);
      expect(Date.now() - t0, args.join(' ')).toBeLessThan(20_000);
      expect(r.status, args.join(' ')).not.toBe(0);
      expect(r.stderr, args.join(' ')).toMatch(/eif: error INPUT_NOT_FILE: /);
    }
    expect(existsSync(join(dir, 'n.eif'))).toBe(false);
  });

  it.skipIf(!HAVE_OPENSSL)('build refuses to write its output over the signing key or certificate (OUTPUT_IS_INPUT)', () => {
    const keys = join(dir, 'keys');
    mkdirSync(keys);
    const k = makeEcKey(keys, 'k', 'P-384');
    for (const target of [k.keyPath, k.certPath]) {
      const before = readFileSync(target);
      const r = eif(build(target, '--signing-certificate', k.certPath, '--private-key', k.keyPath));
      expect(r.status).toBe(1);
      oneErrorLine(r.stderr, 'OUTPUT_IS_INPUT');
      expect(readFileSync(target).equals(before)).toBe(true);
    }
  });

  it.skipIf(!HAVE_OPENSSL)('sign refuses an image whose CRC does not match (it would re-seal the damage)', () => {
    const keys = join(dir, 'keys2');
    mkdirSync(keys);
    const k = makeEcKey(keys, 'k', 'P-256');
    const bad = vector('three-ramdisks');
    bad[bad.length - 10] ^= 0x01; // a ramdisk byte: structure fine, CRC (and PCRs) now wrong
    const p = join(dir, 'bad.eif');
    writeFileSync(p, bad);
    const out = join(dir, 'signed.eif');
    const r = eif(['sign', '--eif-path', p, '--signing-certificate', k.certPath, '--private-key', k.keyPath, '--output', out]);
    expect(r.status).toBe(1);
    oneErrorLine(r.stderr, 'EIF_CRC_MISMATCH');
    expect(existsSync(out)).toBe(false);
    // A sound image still signs, and re-signing a signed one (old signature section in the CRC) works too.
    const good = join(dir, 'good.eif');
    writeFileSync(good, vector('three-ramdisks'));
    for (let i = 0; i < 2; i++) {
      const s = eif(['sign', '--eif-path', good, '--signing-certificate', k.certPath, '--private-key', k.keyPath]);
      expect(s.status, s.stderr).toBe(0);
    }
    expect(JSON.parse(eif(['describe', good]).stdout).CheckCRC).toBe(true);
  });

  it.skipIf(!HAVE_OPENSSL)('the AWS SDK’s notice about its own Node support does not reach the user’s stderr', () => {
    const keys = join(dir, 'keys3');
    mkdirSync(keys);
    const k = makeEcKey(keys, 'k', 'P-384');
    const r = eif(build(join(dir, 'kms.eif'), '--signing-certificate', k.certPath, '--private-key', 'arn:aws:kms:us-east-1:111122223333:key/abc'), {
      env: { AWS_EC2_METADATA_DISABLED: 'true', AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: 'eifkit-test-none', AWS_CONFIG_FILE: join(dir, 'none'), AWS_SHARED_CREDENTIALS_FILE: join(dir, 'none') },
    });
    expect(r.status).toBe(1);
    expect(r.stderr).not.toMatch(/NodeVersionSupportWarning|AWS SDK for JavaScript/);
    oneErrorLine(r.stderr, 'SIG_KMS_\\w+');
    expect(existsSync(join(dir, 'kms.eif'))).toBe(false);
  });

  it('a flag given twice is a usage error, not an internal error or a joined value', () => {
    for (const args of [
      build(join(dir, 'd.eif'), '--build-time', 'a', '--build-time', 'b'),
      build(join(dir, 'd.eif'), '--img-os', 'a', '--img-os', 'b'),
      build(join(dir, 'd.eif'), '--arch', 'x86_64', '--arch', 'aarch64'),
      ['pcr', '--role-arn', 'a', '--role-arn', 'b'],
      ['verify', image, '--pcr0', 'a'.repeat(96), '--pcr0', 'a'.repeat(96)],
      ['describe-eif', '--eif-path', image, '--eif-path', image],
    ]) {
      const r = eif(args);
      expect(r.status, args.join(' ')).toBe(2);
      oneErrorLine(r.stderr, 'USAGE');
      expect(r.stderr).toMatch(/may be given only once/);
      expect(r.stdout).toBe('');
    }
    expect(existsSync(join(dir, 'd.eif'))).toBe(false);
    // Repeatable flags still repeat.
    expect(eif(['build', '--kernel', kernel, '--cmdline', 'x', '--ramdisk', rd, '--ramdisk', rd, '--output', join(dir, 'two.eif'), '--quiet']).status).toBe(0);
  });

  it('the EIF named both as FILE and as --eif-path is a usage error', () => {
    for (const cmd of ['describe', 'verify']) {
      const r = eif([cmd, image, '--eif-path', image]);
      expect(r.status).toBe(2);
      oneErrorLine(r.stderr, 'USAGE');
    }
  });

  it('usage errors are one line that points at the help', () => {
    const r = eif(['build', '--kernel', kernel]);
    expect(r.status).toBe(2);
    oneErrorLine(r.stderr, 'USAGE');
    expect(r.stderr).toContain('(see: eif build --help)');
    // an alias (nitro-cli's spelling) points at its own help too
    const a = eif(['run-enclave', '--memory', '64', '--memory', '65']);
    expect(a.status).toBe(2);
    oneErrorLine(a.stderr, 'USAGE');
    expect(a.stderr).toContain('(see: eif run-enclave --help)');
  });

  it('an error message carrying its input’s line breaks is printed on one line', () => {
    const p = join(dir, 'multi.json');
    writeFileSync(p, '{\n  "PCR0": \n\n');
    const r = eif(['verify', image, '--expect', p]);
    expect(r.status).toBe(2);
    oneErrorLine(r.stderr, 'EXPECT_NOT_JSON');
  });

  it('a reader that closes stdout early (| true) ends the command quietly, no stack trace', () => {
    // A shell pipe into a reader that has exited: every write to stdout gets EPIPE.
    const cli = join(REPO_ROOT, 'bin', 'eif.js');
    const r = spawnSync('sh', ['-c', `"${process.execPath}" "${cli}" verify "${image}" | true`], { encoding: 'utf8' });
    expect(r.stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
    expect(r.stderr).not.toMatch(/EPIPE/);
  });

  it('an output that is a symlink: the file it points to is replaced, the link stays', () => {
    const real = join(dir, 'real-target');
    mkdirSync(real);
    const target = join(real, 'img.eif');
    writeFileSync(target, 'old');
    const link = join(dir, 'link.eif');
    symlinkSync(target, link);
    expect(eif(build(link)).status).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(target).subarray(0, 4).toString()).toBe('.eif');
    expect(readdirSync(real)).toEqual(['img.eif']); // no temp file left next to the target
  });

  it('warns (and still builds, as eif_build does) for a --build-time that is not RFC 3339 or metadata that is not an object', () => {
    const m = join(dir, 'list.json');
    writeFileSync(m, '[1,2]');
    const r = eif(build(join(dir, 'w.eif'), '--build-time', '2026-02-30T00:00:00Z', '--metadata', m));
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/warning: --build-time "2026-02-30T00:00:00Z" is not an RFC 3339 time/);
    expect(r.stderr).toMatch(/warning: --metadata .* is not a JSON object/);
    const ok = eif(build(join(dir, 'w2.eif'), '--build-time', '2024-02-29T23:59:60.5+01:00'));
    expect(ok.stderr).toBe('');
  });
});
