/**
 * nitro-cli drop-in (issue 9): the command lines of nitro-cli's documentation (eif-format.md §6.2–6.5,
 * ecosystem.md §4.1) replayed through bin/eif.js — build-enclave, describe-eif, sign-eif, pcr, explain — and
 * eif_build's --algo / --kernel_config; unknown flags are one line naming the flag.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cases, meta } from '../../test-vectors/eif/generate.mjs';
import { eif, expectedVectors, tempDir, vector } from '../helpers/eif.js';
import { HAVE_OPENSSL, makeEcKey } from '../signing/keys.js';
import { NITRO_CLI_ERRORS } from '../../src/cli/nitro-errors.js';

const dir = tempDir();
const c = (cases as any)['three-ramdisks'].inputs;
const kernel = join(dir, 'bzImage');
const rds = [0, 1, 2].map((i) => join(dir, `rd${i}.cpio`));
writeFileSync(kernel, c.kernel);
c.ramdisks.forEach((r: Uint8Array, i: number) => writeFileSync(rds[i]!, r));
const pin = ['--name', meta.name, '--build-time', meta.time, '--build-tool', meta.tool, '--build-tool-version', meta.toolVersion, '--img-os', meta.os, '--img-kernel', meta.kernel];
const parts = ['--kernel', kernel, '--cmdline', c.cmdline.toString(), ...rds.flatMap((r) => ['--ramdisk', r])];
const exp = expectedVectors['three-ramdisks'];

/** One line on stderr, `eif: error CODE: …`, the given exit status, nothing on stdout. */
function oneLineError(r: { status: number | null; stdout: string; stderr: string }, code: string, status = 2): string {
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(new RegExp(`^eif: error ${code}: [^\\n]+\\n$`));
  expect(r.status).toBe(status);
  return r.stderr;
}

describe('nitro-cli build-enclave', () => {
  it('--output-file with kernel/ramdisk inputs builds the same image as eif build, with nitro-cli stdout and stderr', () => {
    const out = join(dir, 'be.eif');
    const r = eif(['build-enclave', ...parts, '--output-file', out, ...pin]);
    expect(r.status).toBe(0);
    expect(readFileSync(out).equals(Buffer.from(vector('three-ramdisks')))).toBe(true);
    expect(JSON.parse(r.stdout)).toEqual({ Measurements: { HashAlgorithm: 'Sha384 { ... }', ...exp.measurements } });
    expect(r.stderr).toBe('Start building the Enclave Image...\nEnclave Image successfully created.\n');
  });
  // --docker-uri pulls from the registry (test/registry/cli.test.ts); --docker-dir needs a daemon
  for (const flag of ['--docker-dir']) {
    it(`${flag} (nitro-cli's documented form) is one clear line naming the flag and what to do, exit 2, no file`, () => {
      const out = join(dir, `docker${flag}.eif`);
      const value = dir;
      const line = oneLineError(eif(['build-enclave', flag, value, '--output-file', out]), 'BUILD_DOCKER_UNSUPPORTED');
      expect(line).toContain(`${flag}:`);
      expect(line).toContain('--kernel');
      expect(line).toContain('--ramdisk');
      expect(existsSync(out)).toBe(false);
    });
  }
  it('without --docker-uri or kernel inputs it names what is missing', () => {
    expect(oneLineError(eif(['build-enclave', '--output-file', join(dir, 'm.eif')]), 'USAGE')).toContain('missing --kernel, --cmdline, --ramdisk');
  });
  it('eif build takes --output-file too (same flag, given once)', () => {
    const out = join(dir, 'of.eif');
    expect(eif(['build', ...parts, '--output-file', out, ...pin]).status).toBe(0);
    expect(readFileSync(out).equals(Buffer.from(vector('three-ramdisks')))).toBe(true);
    oneLineError(eif(['build', ...parts, '--output-file', out, '--output', out]), 'USAGE');
  });
});

describe("eif_build's --algo and --kernel_config", () => {
  it('--algo sha384 is accepted; sha256 and sha512 are refused with the reason', () => {
    const out = join(dir, 'algo.eif');
    expect(eif(['build', ...parts, '--output', out, '--algo', 'sha384', ...pin]).status).toBe(0);
    for (const algo of ['sha256', 'sha512', 'md5']) {
      const line = oneLineError(eif(['build', ...parts, '--output', join(dir, `${algo}.eif`), '--algo', algo]), 'BUILD_ALGO_UNSUPPORTED');
      expect(line).toContain(`--algo ${algo}`);
      expect(line).toMatch(/SHA-384/);
      expect(existsSync(join(dir, `${algo}.eif`))).toBe(false);
    }
  });
  it('--kernel_config fills OperatingSystem / KernelVersion from its line 3 (nitro-cli blobs parsing); explicit flags win', () => {
    const cfg = join(dir, 'bzImage.config');
    writeFileSync(cfg, '#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86_64 4.14.256-209.484.amzn2.x86_64 Kernel Configuration\nCONFIG_X=y\n');
    const out = join(dir, 'kc.eif');
    expect(eif(['build', ...parts, '--output', out, '--kernel_config', cfg]).status).toBe(0);
    const d = JSON.parse(eif(['describe', out]).stdout);
    expect([d.Metadata.OperatingSystem, d.Metadata.KernelVersion]).toEqual(['Linux', '4.14.256']);
    const out2 = join(dir, 'kc2.eif');
    expect(eif(['build', ...parts, '--output', out2, '--kernel-config', cfg, '--img-os', 'MyOS', '--img-kernel', '6.6']).status).toBe(0);
    const d2 = JSON.parse(eif(['describe', out2]).stdout);
    expect([d2.Metadata.OperatingSystem, d2.Metadata.KernelVersion]).toEqual(['MyOS', '6.6']);
    // PCRs never depend on metadata
    expect(d.Measurements.PCR0).toBe(exp.measurements.PCR0);
    oneLineError(eif(['build', ...parts, '--output', join(dir, 'kc3.eif'), '--kernel_config', join(dir, 'none.config')]), 'INPUT_NOT_FOUND', 1);
  });
});

describe('nitro-cli describe-eif, pcr, sign-eif', () => {
  const eifPath = join(dir, 'for-sign.eif');
  writeFileSync(eifPath, vector('three-ramdisks'));
  it('describe-eif --eif-path P', () => {
    const r = eif(['describe-eif', '--eif-path', eifPath]);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ EifVersion: 4, IsSigned: false, CheckCRC: true, Measurements: exp.measurements });
  });
  it('pcr --input FILE', () => {
    const r = eif(['pcr', '--input', eifPath]);
    expect(r.status).toBe(0);
    expect(Object.keys(JSON.parse(r.stdout))).toEqual(['PCR']);
  });
  it.skipIf(!HAVE_OPENSSL)('sign-eif --eif-path --signing-certificate --private-key, then pcr --signing-certificate gives its PCR8', () => {
    const k = makeEcKey(dir, 'dropin', 'P-384');
    const r = eif(['sign-eif', '--eif-path', eifPath, '--signing-certificate', k.certPath, '--private-key', k.keyPath]);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('Enclave Image successfully signed.\n');
    const m = JSON.parse(r.stdout).Measurements;
    expect(m.PCR0).toBe(exp.measurements.PCR0);
    const p = eif(['pcr', '--signing-certificate', k.certPath]);
    expect(JSON.parse(p.stdout)).toEqual({ PCR8: m.PCR8 });
    expect(JSON.parse(eif(['describe-eif', '--eif-path', eifPath]).stdout)).toMatchObject({ IsSigned: true, SignatureCheck: true });
  });
});

describe('explain --error-code', () => {
  it("explains every nitro-cli code E00–E59 in one paragraph", () => {
    expect(Object.keys(NITRO_CLI_ERRORS)).toEqual(Array.from({ length: 60 }, (_, i) => `E${String(i).padStart(2, '0')}`));
    const r = eif(['explain', '--error-code', 'E26']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^\[ E26 \] Insufficient memory requested.*MEMORY_TOO_SMALL/);
  });
  it("explains eifkit's own codes from docs/ (and IO_<errno>)", () => {
    const r = eif(['explain', '--error-code', 'SIG_INVALID']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^SIG_INVALID: .*signature.*\(docs\/errors\.md\)\n$/);
    expect(eif(['explain', '--error-code', 'IO_ENOSPC']).stdout).toContain('names the file');
    expect(eif(['explain', '--error-code', 'ATT_INPUT_NOT_DOCUMENT']).stdout).toContain('docs/attestation.md');
  });
  it('an unknown code is one line with a stable code', () => {
    expect(oneLineError(eif(['explain', '--error-code', 'E99']), 'EXPLAIN_UNKNOWN_CODE')).toContain('E99');
  });
});

describe('unknown flags: one line naming the flag, the command and where to look', () => {
  const cases: [string[], string, string][] = [
    [['build-enclave', '--enclave-config-file', 'x.json', '--output-file', 'o.eif'], '--enclave-config-file', 'build-enclave'],
    [['describe-eif', '--eif-path', 'x.eif', '--fooBar'], '--fooBar', 'describe-eif'],
    [['pcr', '--input=README.md', '--no-such-flag'], '--no-such-flag', 'pcr'],
    [['sign-eif', '--eif-path', 'x', '--signing-certificate', 'c', '--typo-key', 'k'], '--typo-key', 'sign-eif'],
    [['attest', 'verify', 'doc.cbor', '--pcrs', '0=00'], '--pcrs', 'attest verify'],
  ];
  for (const [args, flag, command] of cases) {
    it(`${args.join(' ')}`, () => {
      const line = oneLineError(eif(args), 'USAGE_UNKNOWN_FLAG');
      expect(line).toBe(`eif: error USAGE_UNKNOWN_FLAG: unknown option ${flag} for ${command}; see eif ${command} --help\n`);
    });
  }
  it('an unknown command with a flag is reported as the unknown command, not as a flag of it', () => {
    const line = oneLineError(eif(['frobnicate', '--x']), 'USAGE');
    expect(line).toContain('frobnicate');
    expect(line).not.toContain('for frobnicate');
  });
  it('declared flags in camelCase and --no-<boolean> still work', () => {
    const r = eif(['describe', '--eifPath', join(dir, 'for-sign.eif'), '--no-quiet']);
    expect(r.status).toBe(0);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('verify --expect takes what the build printed, in every --format (and eif_build\'s "Output file:" line)', () => {
  for (const format of ['nitro', 'eif_build', 'json'] as const) {
    it(`--format ${format}`, () => {
      const out = join(dir, `fmt-${format}.eif`);
      const b = eif(['build', ...parts, '--output', out, '--format', format, ...pin]);
      expect(b.status).toBe(0);
      const file = join(dir, `fmt-${format}.out`);
      writeFileSync(file, b.stdout);
      const v = eif(['verify', out, '--expect', file, '--json']);
      expect(v.status, v.stdout + v.stderr).toBe(0);
      const pcrChecks = JSON.parse(v.stdout).Checks.filter((x: { Check: string }) => /^PCR/.test(x.Check));
      // PCR8 too: an unsigned build's output pins "not signed" (fail closed, issue 9)
      expect(pcrChecks.map((x: { Check: string }) => x.Check)).toEqual(['PCR0', 'PCR1', 'PCR2', 'PCR8']);
      // the values are compared, not skipped: one changed digit fails
      writeFileSync(file, b.stdout.replace(exp.measurements.PCR2, exp.measurements.PCR2.replace(/^./, (d: string) => (d === '0' ? '1' : '0'))));
      const bad = eif(['verify', out, '--expect', file]);
      expect(bad.status).toBe(1);
      expect(bad.stdout).toMatch(/FAIL PCR2 +PCR_MISMATCH/);
    });
  }
  it('only a first "Output file:" line is skipped; other text before the JSON is still EXPECT_NOT_JSON', () => {
    const file = join(dir, 'junk.out');
    writeFileSync(file, `Building...\n${JSON.stringify({ PCR0: exp.measurements.PCR0 })}`);
    oneLineError(eif(['verify', join(dir, 'fmt-nitro.eif'), '--expect', file]), 'EXPECT_NOT_JSON');
  });
});
