/**
 * The container-image CLI through bin/eif.js: `eif build --docker-archive|--oci-layout|--oci-archive` flags and
 * their usage errors, `build-enclave --docker-uri`, `eif blobs`, `eif ramdisk ls|diff`.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { S_IFDIR, S_IFLNK, S_IFREG, writeCpio } from '../../src/eif/cpio.js';
import { eif, tempDir } from '../helpers/eif.js';
import { describeShared, sharedPath } from '../helpers/shared.js';

const dir = tempDir();
const tar = join(dir, 'app.tar');
writeFileSync(tar, new Uint8Array(1024));

/** One `eif: error CODE: …` line on stderr, nothing on stdout, the given exit status. */
function oneError(r: { status: number | null; stdout: string; stderr: string }, code: string, status: number): string {
  expect(r.stdout).toBe('');
  expect(r.stderr).toMatch(new RegExp(`^eif: error ${code}: [^\\n]+\\n$`));
  expect(r.status).toBe(status);
  return r.stderr;
}

describe('eif build with an image input: usage', () => {
  it('one image input at a time', () => {
    const e = oneError(eif(['build', '--docker-archive', tar, '--oci-layout', dir, '--output', join(dir, 'o.eif')]), 'BUILD_INPUT_CONFLICT', 2);
    expect(e).toContain('--docker-archive and --oci-layout');
  });
  it('not with --kernel / --cmdline / --ramdisk / --arch (they come from the blobs and the image)', () => {
    for (const extra of [['--kernel', tar], ['--ramdisk', tar], ['--cmdline', 'x'], ['--arch', 'aarch64'], ['--kernel_config', tar]]) {
      const e = oneError(eif(['build', '--oci-archive', tar, ...extra, '--output', join(dir, 'o.eif')]), 'BUILD_INPUT_CONFLICT', 2);
      expect(e).toContain(extra[0]!);
      expect(e).toContain('--blobs');
    }
  });
  it('--image / --platform / --blobs / --emit-ramdisks need an image input', () => {
    for (const extra of [['--image', 'app:1'], ['--platform', 'linux/arm64'], ['--blobs', dir], ['--emit-ramdisks', dir]]) {
      const e = oneError(eif(['build', '--kernel', tar, '--cmdline', 'x', '--ramdisk', tar, ...extra, '--output', join(dir, 'o.eif')]), 'BUILD_INPUT_CONFLICT', 2);
      expect(e).toContain(extra[0]!);
    }
  });
  it('--output is still required; without any input the message names both ways', () => {
    expect(oneError(eif(['build', '--docker-archive', tar]), 'USAGE', 2)).toContain('missing --output');
    expect(oneError(eif(['build-enclave', '--docker-archive', tar]), 'USAGE', 2)).toContain('missing --output-file');
    const e = oneError(eif(['build', '--output', join(dir, 'o.eif')]), 'USAGE', 2);
    expect(e).toContain('missing --kernel, --cmdline, --ramdisk');
    expect(e).toContain('--docker-archive FILE');
  });
  it('build-enclave --docker-dir: refused (no daemon), with the docker build + save form; --docker-uri pulls (test/registry/cli.test.ts)', () => {
    const out = join(dir, 'd.eif');
    const e = oneError(eif(['build-enclave', '--docker-dir', dir, '--output-file', out]), 'BUILD_DOCKER_UNSUPPORTED', 2);
    expect(e).toContain(`docker build -t app:latest ${dir} && docker save app:latest -o app.tar && eif build-enclave --docker-archive app.tar --output-file app.eif`);
    expect(existsSync(out)).toBe(false);
    expect(oneError(eif(['build-enclave', '--docker-uri', 'Hello:v1', '--output-file', out]), 'USAGE_IMAGE_REFERENCE', 2)).toContain('lowercase');
    expect(oneError(eif(['build', '--docker-uri', 'hello:v1', '--docker-archive', out, '--output', out]), 'BUILD_INPUT_CONFLICT', 2)).toContain('give one image input');
    expect(existsSync(out)).toBe(false);
  });
  it('a file that is not an image: one error line, exit 1, no output file', () => {
    const out = join(dir, 'bad.eif');
    const r = eif(['build', '--docker-archive', tar, '--blobs', dir, '--output', out, '--quiet']);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^eif: error OCI_[A-Z_]+: [^\n]+\n$/);
    expect(existsSync(out)).toBe(false);
  });
});

describe('eif blobs', () => {
  it('--standin writes both architectures in the repository layout; eif blobs then finds them', () => {
    const d = join(dir, 'standin');
    const w = eif(['blobs', '--standin', d]);
    expect(w.status).toBe(0);
    expect(readFileSync(join(d, 'aarch64', 'Image')).subarray(0x38, 0x3c).toString()).toBe('ARM\x64');
    const r = eif(['blobs', '--blobs', d]);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ Dir: join(d, 'x86_64'), ChosenBy: '--blobs', Kernel: join(d, 'x86_64', 'bzImage') });
    const env = eif(['blobs', '--arch', 'aarch64'], { env: { NITRO_CLI_BLOBS: d } });
    expect(JSON.parse(env.stdout)).toMatchObject({ ChosenBy: 'NITRO_CLI_BLOBS', Kernel: join(d, 'aarch64', 'Image') });
  });
  it('a folder without blobs: BLOBS_MISSING naming where it looked', () => {
    const e = oneError(eif(['blobs', '--blobs', join(dir, 'none')]), 'BLOBS_MISSING', 1);
    expect(e).toContain(join(dir, 'none', 'x86_64'));
    expect(e).toContain('aws-nitro-enclaves-cli');
  });
});

describe('eif ramdisk ls | diff', () => {
  const enc = new TextEncoder();
  const a = join(dir, 'a.img');
  const b = join(dir, 'b.img');
  const entries = [
    { name: 'rootfs', mode: S_IFDIR | 0o755 },
    { name: 'rootfs/run', mode: S_IFREG | 0o4755, data: enc.encode('x'), uid: 7, gid: 8 },
    { name: 'rootfs/l', mode: S_IFLNK | 0o777, data: enc.encode('run') },
  ];
  writeFileSync(a, writeCpio(entries));
  writeFileSync(b, writeCpio([entries[0]!, { ...entries[1]!, mtime: 5 }, entries[2]!]));

  it('ls: one line per entry with mode, owner, time, size, SHA-256, name and link target', () => {
    const r = eif(['ramdisk', 'ls', a]);
    expect(r.status).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[1]).toMatch(/^-rwsr-xr-x +7\/8 2017-04-18T16:30:00Z +1 2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881 rootfs\/run$/);
    expect(lines[2]).toMatch(/^lrwxrwxrwx .* rootfs\/l -> run$/);
    expect(lines[3]).toMatch(/^# 3 entries, 512 bytes/);
  });
  it('ls --json: every header field', () => {
    const r = eif(['ramdisk', 'ls', '--json', a]);
    const j = JSON.parse(r.stdout);
    expect(j).toHaveLength(3);
    expect(j[1]).toMatchObject({ name: 'rootfs/run', type: 'file', mode: '0104755', uid: 7, gid: 8, size: 1, ino: 722, nlink: 1, dev: '3,1' });
    expect(j[2]).toMatchObject({ type: 'symlink', linkTarget: 'run' });
  });
  it('diff: exit 0 when equal, exit 1 with the entry and field when not', () => {
    const same = eif(['ramdisk', 'diff', a, a]);
    expect(same.status).toBe(0);
    expect(same.stdout).toMatch(/^same: 3 entries/);
    const d = eif(['ramdisk', 'diff', a, b]);
    expect(d.status).toBe(1);
    expect(d.stderr).toBe('');
    expect(d.stdout).toContain('entry 1 rootfs/run: mtime\n  - 1492533000\n  + 5\n');
    const j = JSON.parse(eif(['ramdisk', 'diff', '--json', a, b]).stdout);
    expect(j).toMatchObject({ same: false, total: 1, differences: [{ index: 1, field: 'mtime' }] });
  });
  it('not a ramdisk / missing file: one error line', () => {
    oneError(eif(['ramdisk', 'ls', tar]), 'CPIO_BAD_MAGIC', 1);
    oneError(eif(['ramdisk', 'diff', a, join(dir, 'nope')]), 'INPUT_NOT_FOUND', 1);
  });
});

describeShared('eif ramdisk on the golden ramdisks (../shared/test-vectors/oci)', () => {
  it('the two customer ramdisks differ; each equals itself', () => {
    const app = sharedPath('oci', 'sample-app.customer-initrd.img');
    const ep = sharedPath('oci', 'sample-entrypoint.customer-initrd.img');
    expect(eif(['ramdisk', 'diff', app, app]).status).toBe(0);
    const d = eif(['ramdisk', 'diff', app, ep]);
    expect(d.status).toBe(1);
    expect(d.stdout).toMatch(/^--- .*sample-app.customer-initrd.img \(37 entries\)/);
  });
});

const expectedOci = () => JSON.parse(readFileSync(sharedPath('oci', 'expected.json'), 'utf8'));

describeShared('eif build --docker-archive of the golden images gives nitro-cli\'s PCRs (../shared/test-vectors/oci)', () => {
  for (const name of ['sample-app', 'sample-entrypoint']) {
    it(`${name}: PCR0/1/2 of expected.json; --emit-ramdisks byte-identical to nitro-cli's ramdisks; nitro-cli metadata`, () => {
      const exp = expectedOci()[name];
      const out = join(dir, `${name}.eif`);
      const emit = join(dir, `emit-${name}`);
      const r = eif(['build', '--docker-archive', sharedPath('oci', exp.archive), '--blobs', sharedPath('oci', 'blobs'), '--output', out, '--emit-ramdisks', emit, '--build-time', '2024-01-01T00:00:00+00:00']);
      expect(r.status).toBe(0);
      const m = JSON.parse(r.stdout).Measurements;
      expect({ PCR0: m.PCR0, PCR1: m.PCR1, PCR2: m.PCR2 }).toEqual({ PCR0: exp.PCR0, PCR1: exp.PCR1, PCR2: exp.PCR2 });
      expect(readFileSync(join(emit, 'customer-initrd.img')).equals(readFileSync(sharedPath('oci', exp.customer_initrd)))).toBe(true);
      expect(readFileSync(join(emit, 'bootstrap-initrd.img')).equals(readFileSync(sharedPath('oci', exp.bootstrap_initrd)))).toBe(true);
      expect(eif(['ramdisk', 'diff', join(emit, 'customer-initrd.img'), sharedPath('oci', exp.customer_initrd)]).status).toBe(0);
      const d = JSON.parse(eif(['describe', out]).stdout);
      expect(d.Measurements).toMatchObject({ PCR0: exp.PCR0, PCR1: exp.PCR1, PCR2: exp.PCR2 });
      expect(d.ImageName).toBe(name); // the archive's RepoTag up to ':'
      expect(d.ImageVersion).toMatch(/^[0-9a-f]{64}$/);
      expect(d.Metadata).toMatchObject({ BuildTime: '2024-01-01T00:00:00+00:00', BuildTool: 'eifkit' });
      expect(d.Metadata.DockerInfo.Id).toBe(`sha256:${d.ImageVersion}`);
    });
  }

  it('build-enclave takes the same input, with nitro-cli\'s lines on stderr; --name/--version win', () => {
    const exp = expectedOci()['sample-app'];
    const out = join(dir, 'be.eif');
    const r = eif(['build-enclave', '--docker-archive', sharedPath('oci', exp.archive), '--output-file', out, '--name', 'app', '--version', '9'], { env: { NITRO_CLI_BLOBS: sharedPath('oci', 'blobs') } });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('Start building the Enclave Image...\nEnclave Image successfully created.\n');
    expect(JSON.parse(r.stdout).Measurements.PCR2).toBe(exp.PCR2);
    const d = JSON.parse(eif(['describe', out]).stdout);
    expect(d).toMatchObject({ ImageName: 'app', ImageVersion: '9' });
  });

  it('missing blobs: one BLOBS_MISSING line naming the folders, exit 1, no output', () => {
    const out = join(dir, 'nb.eif');
    const e = oneError(eif(['build', '--docker-archive', sharedPath('oci', 'sample-app.docker-archive.tar'), '--blobs', join(dir, 'no-blobs'), '--output', out]), 'BLOBS_MISSING', 1);
    expect(e).toContain(join(dir, 'no-blobs', 'x86_64'));
    expect(existsSync(out)).toBe(false);
  });

  it('a truncated archive: one error line, no output file, no temp file', () => {
    const whole = readFileSync(sharedPath('oci', 'sample-app.docker-archive.tar'));
    const cut = join(dir, 'cut.tar');
    writeFileSync(cut, whole.subarray(0, Math.floor(whole.length / 2)));
    const out = join(dir, 'cut.eif');
    const r = eif(['build', '--docker-archive', cut, '--blobs', sharedPath('oci', 'blobs'), '--output', out]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^eif: error [A-Z_]+: [^\n]+\n$/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.startsWith('.cut.eif'))).toEqual([]);
  });
});

const HAVE_SKOPEO = spawnSync('skopeo', ['--version']).status === 0;
describeShared('the same image as OCI layout and OCI archive (skopeo converts) gives the same PCRs', () => {
  it.skipIf(!HAVE_SKOPEO)('sample-entrypoint via skopeo: --oci-layout and --oci-archive (skipped without skopeo)', () => {
    const exp = expectedOci()['sample-entrypoint'];
    const layout = join(dir, 'layout');
    const ociTar = join(dir, 'oci.tar');
    const src = `docker-archive:${sharedPath('oci', exp.archive)}`;
    expect(spawnSync('skopeo', ['copy', '--quiet', src, `oci:${layout}:app`]).status).toBe(0);
    expect(spawnSync('skopeo', ['copy', '--quiet', src, `oci-archive:${ociTar}:app`]).status).toBe(0);
    for (const input of [['--oci-layout', layout], ['--oci-archive', ociTar]]) {
      const r = eif(['build', ...input, '--blobs', sharedPath('oci', 'blobs'), '--output', join(dir, `${input[0]!.slice(2)}.eif`)]);
      expect(r.status).toBe(0);
      const m = JSON.parse(r.stdout).Measurements;
      expect({ PCR0: m.PCR0, PCR1: m.PCR1, PCR2: m.PCR2 }).toEqual({ PCR0: exp.PCR0, PCR1: exp.PCR1, PCR2: exp.PCR2 });
    }
  });
});
