/** The `eif` command end to end: build / describe / describe-eif / verify / pcr, and its bad-input contract. */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync, truncateSync, writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { cases, meta } from '../../test-vectors/eif/generate.mjs';
import { REPO_ROOT, describeShared, sharedPath } from '../helpers/shared.js';
import { eif, expectedVectors, fixCrc, tempDir, vector } from '../helpers/eif.js';

const dir = tempDir();
const c = (cases as any)['three-ramdisks'].inputs;
const files = {
  kernel: join(dir, 'bzImage'),
  rd: [0, 1, 2].map((i) => join(dir, `rd${i}.cpio`)),
};
writeFileSync(files.kernel, c.kernel);
c.ramdisks.forEach((r: Uint8Array, i: number) => writeFileSync(files.rd[i]!, r));
const pinFlags = ['--name', meta.name, '--build-time', meta.time, '--build-tool', meta.tool, '--build-tool-version', meta.toolVersion, '--img-os', meta.os, '--img-kernel', meta.kernel];
const buildArgs = (out: string, extra: string[] = []) => [
  'build', '--kernel', files.kernel, '--cmdline', c.cmdline.toString(), ...files.rd.flatMap((r) => ['--ramdisk', r]), '--output', out, ...pinFlags, ...extra,
];
const exp = expectedVectors['three-ramdisks'];

function noStackTrace(stderr: string) {
  expect(stderr).not.toMatch(/\n\s+at .+:\d+:\d+/);
}

describe('eif build', () => {
  it('writes the expected image and prints nitro-cli measurements', () => {
    const out = join(dir, 'a.eif');
    const r = eif(buildArgs(out));
    expect(r.status).toBe(0);
    expect(Buffer.from(readFileSync(out)).equals(Buffer.from(vector('three-ramdisks')))).toBe(true);
    expect(JSON.parse(r.stdout)).toEqual({ Measurements: { HashAlgorithm: 'Sha384 { ... }', ...exp.measurements } });
    expect(r.stdout).toBe(JSON.stringify(JSON.parse(r.stdout), null, 2) + '\n');
  });
  it('--format eif_build prints "Output file:" and the bare map', () => {
    const out = join(dir, 'b.eif');
    const r = eif(buildArgs(out, ['--format', 'eif_build']));
    expect(r.status).toBe(0);
    const [first, ...rest] = r.stdout.split('\n');
    expect(first).toBe(`Output file: ${out}`);
    expect(JSON.parse(rest.join('\n'))).toEqual({ HashAlgorithm: 'Sha384 { ... }', ...exp.measurements });
  });
  it('honours --version (eif_build ignores it) and SOURCE_DATE_EPOCH for BuildTime', () => {
    const out = join(dir, 'v.eif');
    const args = buildArgs(out, ['--version', '2.5']).filter((_, i, a) => a[i] !== '--build-time' && a[i - 1] !== '--build-time');
    const r = eif(args, { env: { SOURCE_DATE_EPOCH: '86400' } });
    expect(r.status).toBe(0);
    const d = JSON.parse(eif(['describe', out]).stdout);
    expect(d.ImageVersion).toBe('2.5');
    expect(d.Metadata.BuildTime).toBe('1970-01-02T00:00:00+00:00');
    const again = join(dir, 'v2.eif');
    eif(args.map((x) => (x === out ? again : x)), { env: { SOURCE_DATE_EPOCH: '86400' } });
    expect(readFileSync(again).equals(readFileSync(out))).toBe(true);
  });
  it('custom metadata: keys sorted, numbers as serde_json writes them, flattened into describe', () => {
    const m = join(dir, 'meta.json');
    writeFileSync(m, '{"zeta": 1.0, "alpha": [1e2, "x\\u0001"], "alpha": {"b": 2, "a": 1}}');
    const out = join(dir, 'm.eif');
    expect(eif(buildArgs(out, ['--metadata', m])).status).toBe(0);
    expect(readFileSync(out, 'latin1')).toContain('"CustomMetadata":{"alpha":{"a":1,"b":2},"zeta":1.0}}');
    const d = JSON.parse(eif(['describe', out]).stdout);
    expect(Object.keys(d.Metadata)).toEqual(['BuildTime', 'BuildTool', 'BuildToolVersion', 'OperatingSystem', 'KernelVersion', 'DockerInfo', 'alpha', 'zeta']);
  });
});

describe('eif describe / describe-eif', () => {
  it('prints nitro-cli fields in nitro-cli order', () => {
    const r = eif(['describe', join(REPO_ROOT, 'test-vectors/eif/three-ramdisks.eif')]);
    expect(r.status).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(Object.keys(d)).toEqual(['EifVersion', 'Measurements', 'IsSigned', 'CheckCRC', 'ImageName', 'ImageVersion', 'Metadata']);
    expect(d).toMatchObject({ EifVersion: 4, IsSigned: false, CheckCRC: true, ImageName: 'vector', ImageVersion: 'vector' });
    expect(d.Measurements).toMatchObject(exp.measurements);
    const alias = eif(['describe-eif', '--eif-path', join(REPO_ROOT, 'test-vectors/eif/three-ramdisks.eif')]);
    expect(alias.stdout).toBe(r.stdout);
  });
  it('the node-rs, zlib and WASM CRC paths of the pipeline agree (EIF_CRC picks one)', () => {
    const bad = vector('three-ramdisks');
    bad[exp.section_offsets[2] + 12 + 14] ^= 0x20;
    const p = join(dir, 'crc-wasm-bad.eif');
    writeFileSync(p, bad);
    for (const EIF_CRC of ['node-rs', 'zlib', 'wasm']) {
      const out = join(dir, `crc-${EIF_CRC}.eif`);
      expect(eif(buildArgs(out), { env: { EIF_CRC } }).status).toBe(0);
      expect(Buffer.from(readFileSync(out)).equals(Buffer.from(vector('three-ramdisks')))).toBe(true);
      expect(JSON.parse(eif(['describe', join(REPO_ROOT, 'test-vectors/eif/three-ramdisks.eif')], { env: { EIF_CRC } }).stdout).CheckCRC).toBe(true);
      expect(JSON.parse(eif(['describe', p], { env: { EIF_CRC } }).stdout).CheckCRC).toBe(false);
    }
  });
  it('a CRC mismatch gives CheckCRC false, and verify fails', () => {
    const bad = vector('three-ramdisks');
    bad[exp.section_offsets[2] + 12 + 14] ^= 0x20; // 'v' of ImageName → 'V': PCRs unchanged, JSON still valid
    const p = join(dir, 'crc.eif');
    writeFileSync(p, bad);
    const d = eif(['describe', p]);
    expect(d.status).toBe(0);
    expect(JSON.parse(d.stdout).CheckCRC).toBe(false);
    const v = eif(['verify', p]);
    expect(v.status).toBe(1);
    expect(v.stdout).toMatch(/FAIL crc +EIF_CRC_MISMATCH/);
  });
});

describe('eif verify', () => {
  const good = join(REPO_ROOT, 'test-vectors/eif/three-ramdisks.eif');
  it('passes with matching PCRs from flags and from an --expect file', () => {
    const expect1 = join(dir, 'm.json');
    writeFileSync(expect1, JSON.stringify({ Measurements: exp.measurements }));
    const r = eif(['verify', good, '--pcr0', exp.measurements.PCR0.toUpperCase(), '--expect', expect1]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/ok +PCR2/);
    const j = eif(['verify', good, '--expect', expect1, '--json']);
    expect(JSON.parse(j.stdout).Ok).toBe(true);
  });
  it('fails (exit 1) on a wrong PCR and on an expected PCR8 of an unsigned image', () => {
    const r = eif(['verify', good, '--pcr1', exp.measurements.PCR2]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/FAIL PCR1 +PCR_MISMATCH/);
    const s = eif(['verify', good, '--pcr8', exp.measurements.PCR2]);
    expect(s.status).toBe(1);
    expect(s.stdout).toMatch(/PCR_ABSENT/);
  });
  it('reports a structural error as a failed check (exit 1)', () => {
    const b = vector('three-ramdisks');
    b[0] = 0;
    const p = join(dir, 'magic.eif');
    writeFileSync(p, b);
    const r = eif(['verify', p]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/FAIL structure +EIF_BAD_MAGIC/);
  });
  it('a malformed PCR value is a usage error (exit 2)', () => {
    const r = eif(['verify', good, '--pcr0', 'abc']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/BAD_PCR_VALUE/);
  });
});

describe('eif pcr', () => {
  it('PCR3 and PCR4 match the AWS user guide examples', () => {
    expect(JSON.parse(eif(['pcr', '--role-arn', 'arn:aws:iam::123456789012:role/Webserver']).stdout)).toEqual({
      PCR3: '78fce75db17cd4e0a3fb8dad3ad128ca5e77edbb2b2c7f75329dccd99aa5f6ef4fc1f1a452e315b9e98f9e312e6921e6',
    });
    expect(JSON.parse(eif(['pcr', '--instance-id', 'i-1234567890abcdef0']).stdout)).toEqual({
      PCR4: '08f996b5d43e047a9eb51e7f548bfee7e164fd7dc8f65541f2ac09d6545ac812719327281c401a67a10fcba87ae79ce0',
    });
  });
  it('--input hashes a file like nitro-cli pcr', () => {
    const p = join(dir, 'empty');
    writeFileSync(p, '');
    expect(JSON.parse(eif(['pcr', '--input', p]).stdout).PCR).toBe(
      '21b9efbc184807662e966d34f390821309eeac6802309798826296bf3e8bec7c10edb30948c90ba67310f7b964fc500a',
    );
  });
  it('needs exactly one source', () => {
    expect(eif(['pcr']).status).toBe(2);
    expect(eif(['pcr', '--role-arn', 'a', '--instance-id', 'b']).status).toBe(2);
  });
});

describeShared('eif pcr --signing-certificate (shared test certificate)', () => {
  it('gives the PCR8 of min-signed.eif', () => {
    const r = eif(['pcr', '--signing-certificate', sharedPath('eif', 'synthetic', 'test-signing-cert.pem')]);
    expect(JSON.parse(r.stdout).PCR8).toBe('c5e750dafaaf7e86baa75c8448440d78acf78a04f0a8edc547afab4865dc1c16d3116e247e69b202b22d4f7394f102d0');
  });
});

describe('bad input: stable code, non-zero exit, no stack trace, no partial output', () => {
  const outDir = tempDir();
  const errCase = (args: string[], code: string, status = 1) => {
    const r = eif(args);
    expect(r.status).toBe(status);
    expect(r.stderr).toContain(`error ${code}:`);
    noStackTrace(r.stderr);
    expect(readdirSync(outDir)).toEqual([]);
  };
  it('missing input file', () => errCase(['build', '--kernel', join(dir, 'nope'), '--cmdline', 'x', '--ramdisk', files.rd[0]!, '--output', join(outDir, 'o.eif')], 'INPUT_NOT_FOUND'));
  it('missing ramdisk file', () => errCase(['build', '--kernel', files.kernel, '--cmdline', 'x', '--ramdisk', join(dir, 'nope'), '--output', join(outDir, 'o.eif')], 'INPUT_NOT_FOUND'));
  it('output folder missing', () => errCase(['build', '--kernel', files.kernel, '--cmdline', 'x', '--ramdisk', files.rd[0]!, '--output', join(outDir, 'no/such/dir/o.eif')], 'OUTPUT_DIR_MISSING'));
  it('metadata over 4096 bytes', () => {
    const m = join(dir, 'big.json');
    writeFileSync(m, JSON.stringify({ x: 'y'.repeat(5000) }));
    errCase(['build', '--kernel', files.kernel, '--cmdline', 'x', '--ramdisk', files.rd[0]!, '--metadata', m, '--output', join(outDir, 'o.eif')], 'METADATA_TOO_LARGE');
  });
  it('metadata not JSON', () => {
    const m = join(dir, 'bad.json');
    writeFileSync(m, '{"a": 1,}');
    errCase(['build', '--kernel', files.kernel, '--cmdline', 'x', '--ramdisk', files.rd[0]!, '--metadata', m, '--output', join(outDir, 'o.eif')], 'METADATA_NOT_JSON');
  });
  it('missing required flags is a usage error (exit 2)', () => errCase(['build', '--kernel', files.kernel], 'USAGE', 2));
  // Regression: yargs ran the command anyway after an unknown flag, so `build … --typo` wrote its output and
  // `describe FILE --typo` printed the JSON before the usage error.
  it('an unknown flag is a usage error and the command does not run', () => {
    errCase(['build', '--kernel', files.kernel, '--cmdline', 'x', '--ramdisk', files.rd[0]!, '--output', join(outDir, 'o.eif'), '--typo'], 'USAGE_UNKNOWN_FLAG', 2);
    const r = eif(['describe', join(REPO_ROOT, 'test-vectors/eif/three-ramdisks.eif'), '--typo']);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe('eif: error USAGE_UNKNOWN_FLAG: unknown option --typo for describe; see eif describe --help\n');
  });
  it('a directory as EIF', () => errCase(['describe', dir], 'INPUT_NOT_FILE'));
  it('describe of a non-EIF', () => errCase(['describe', files.kernel], 'EIF_BAD_MAGIC'));
  it('describe of a truncated EIF', () => {
    const p = join(dir, 'trunc.eif');
    writeFileSync(p, vector('three-ramdisks').subarray(0, 1000));
    errCase(['describe', p], 'EIF_SECTION_OUT_OF_BOUNDS');
  });
  it('describe of an EIF with trailing bytes', () => {
    const p = join(dir, 'trail.eif');
    writeFileSync(p, Buffer.concat([vector('three-ramdisks'), Buffer.from('junk')]));
    errCase(['describe', p], 'EIF_TRAILING_BYTES');
  });
  it('output path equal to an input: refused, input untouched', () => {
    const before = readFileSync(files.rd[1]!);
    const r = eif(['build', '--kernel', files.kernel, '--cmdline', 'x', '--ramdisk', files.rd[0]!, '--ramdisk', files.rd[1]!, '--output', files.rd[1]!]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('error OUTPUT_IS_INPUT:');
    expect(readFileSync(files.rd[1]!).equals(before)).toBe(true);
  });
  it('an existing output is replaced only on success', () => {
    const out = join(dir, 'keep.eif');
    writeFileSync(out, 'precious');
    const r = eif(['build', '--kernel', join(dir, 'nope'), '--cmdline', 'x', '--ramdisk', files.rd[0]!, '--output', out]);
    expect(r.status).toBe(1);
    expect(readFileSync(out, 'utf8')).toBe('precious');
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
  it('Ctrl-C during a large build leaves no output and no temp file', async () => {
    const work = tempDir();
    const big = join(work, 'big.img');
    writeFileSync(big, '');
    truncateSync(big, 768 << 20); // sparse: cheap to make, takes a while to hash
    const out = join(work, 'out.eif');
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/eif.js'), 'build', '--kernel', files.kernel, '--cmdline', 'x', '--ramdisk', files.rd[0]!, '--ramdisk', big, '--output', out]);
    // Wait until the temp file exists (the build is under way), then interrupt.
    for (let i = 0; i < 200 && !readdirSync(work).some((f) => f.endsWith('.tmp')); i++) await new Promise((r) => setTimeout(r, 25));
    expect(readdirSync(work).some((f) => f.endsWith('.tmp'))).toBe(true);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((r) => child.on('exit', (c, s) => r(c ?? (s ? 128 : null))));
    expect(code).not.toBe(0);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(work).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
  it('a hostile size field fails fast without a huge allocation', () => {
    const b = vector('three-ramdisks');
    new DataView(b.buffer).setBigUint64(284 + 8 * 3, 1n << 63n);
    const p = join(dir, 'huge.eif');
    writeFileSync(p, fixCrc(b));
    errCase(['describe', p], 'EIF_SECTION_OUT_OF_BOUNDS');
  });
});

describe('eif demo (npm start)', () => {
  it('builds, describes and verifies the embedded sample, reproducibly', () => {
    const d = tempDir();
    const a = eif(['demo', '--output', join(d, 'a.eif')]);
    const b = eif(['demo', '--output', join(d, 'b.eif')]);
    expect(a.status).toBe(0);
    expect(a.stdout).toContain('The sample image is well-formed and its measurements match.');
    expect(readFileSync(join(d, 'a.eif')).equals(readFileSync(join(d, 'b.eif')))).toBe(true);
    expect(eif(['verify', join(d, 'a.eif')]).status).toBe(0);
    // step 4: the same from a container image (in-memory docker save archive, stand-in blobs), reproducibly
    expect(a.stdout).toContain('4. build from a container image');
    const pcrs = (out: string) => out.slice(out.indexOf('4. build')).match(/"PCR[012]": "[0-9a-f]{96}"/g);
    expect(pcrs(a.stdout)).toHaveLength(3);
    expect(pcrs(a.stdout)).toEqual(pcrs(b.stdout));
    expect(eif(['verify', join(d, 'sample-from-image.eif')]).status).toBe(0);
  });
});

describe('eif --version', () => {
  it('prints the package version (one source of truth with package.json)', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));
    expect(eif(['--version']).stdout.trim()).toBe(`eifkit ${pkg.version}`);
  });
});
