/**
 * The image build's orchestration (src/node/oci/build-image.ts) with stand-in stages: blobs by the image's arch,
 * ramdisks streamed in the builder's one pass, nitro-cli metadata, --emit-ramdisks, no output on failure. The real
 * stages are exercised end to end by test/cli/image-build.test.ts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { initCore } from '../../src/core/index.js';
import { EifError } from '../../src/errors.js';
import { S_IFDIR, S_IFREG, writeCpio } from '../../src/eif/cpio.js';
import { bytesSource, type ByteSource } from '../../src/eif/layout.js';
import { buildEifBytes } from '../../src/eif/builder.js';
import { decodeMetadata } from '../../src/eif/metadata.js';
import { toPlain } from '../../src/eif/serde-json.js';
import { buildEifFileFromImage, type ImageStages } from '../../src/node/oci/build-image.js';
import { standinBlobs } from '../../src/oci/standin-blobs.js';
import type { ImageSelection, LayerIndex, RamdiskSource } from '../../src/oci/types.js';
import { inspectEifFile } from '../../src/node/reader.js';
import { tempDir } from '../helpers/eif.js';

beforeAll(() => initCore());

const dir = tempDir();
const blobsDir = join(dir, 'blobs');
for (const arch of ['x86_64', 'aarch64'] as const) {
  mkdirSync(join(blobsDir, arch), { recursive: true });
  for (const [n, b] of Object.entries(standinBlobs(arch))) writeFileSync(join(blobsDir, arch, n), b);
}
const archive = join(dir, 'app.tar');
writeFileSync(archive, 'not read by the fake stages');

const customerBytes = writeCpio([
  { name: 'rootfs', mode: S_IFDIR | 0o755 },
  { name: 'rootfs/hello', mode: S_IFREG | 0o755, data: new TextEncoder().encode('#!/bin/sh\necho hi\n') },
  { name: 'cmd', mode: S_IFREG | 0o644, data: new TextEncoder().encode('/hello\n') },
  { name: 'env', mode: S_IFREG | 0o644, data: new Uint8Array(0) },
]);

const selection = (arch: 'amd64' | 'arm64'): ImageSelection => ({
  architecture: arch,
  os: 'linux',
  cmd: ['/hello'],
  env: [],
  config: { architecture: arch, os: 'linux', config: { Cmd: ['/hello'] }, rootfs: { type: 'layers', diff_ids: [] } },
  configDigest: 'sha256:' + 'cd'.repeat(32),
  repoTags: ['hello:1'],
  layers: [],
  warnings: ['ENTRYPOINT ["/x"] is dropped because CMD is set (as nitro-cli does)'],
});

function ramdisk(bytes: Uint8Array, entryCount: number): RamdiskSource {
  return { ...bytesSource(bytes), entryCount };
}

function fakeStages(arch: 'amd64' | 'arm64', o: { failIndex?: boolean } = {}): ImageStages & { closed: () => boolean } {
  let closed = false;
  return {
    closed: () => closed,
    async open() {
      return {
        selection: selection(arch),
        async indexLayers(): Promise<LayerIndex[]> {
          if (o.failIndex) throw new EifError('INPUT_CHANGED', 'layer 0 digest mismatch (fake)');
          return [];
        },
        close: () => void (closed = true),
      };
    },
    customer: () => ({ customer: ramdisk(customerBytes, 4), warnings: ['a warning of the rootfs stage'] }),
    async bootstrap(b: { init: ByteSource; nsm: ByteSource }) {
      const init = await b.init.read(0, b.init.size);
      const nsm = await b.nsm.read(0, b.nsm.size);
      return ramdisk(writeCpio([{ name: 'dev', mode: S_IFDIR | 0o755 }, { name: 'init', mode: S_IFREG | 0o755, data: init.slice() }, { name: 'nsm.ko', mode: S_IFREG | 0o755, data: nsm.slice() }]), 3);
    },
  };
}

describe('buildEifFileFromImage (stand-in stages)', () => {
  it('amd64: x86_64 blobs, trimmed cmdline, both ramdisks in order; same bytes as the in-memory builder; nitro-cli metadata', async () => {
    const out = join(dir, 'a.eif');
    const warnings: string[] = [];
    const stages = fakeStages('amd64');
    const r = await buildEifFileFromImage({ kind: 'docker-archive', path: archive, blobsDir, output: out, env: {}, buildTime: '2024-01-01T00:00:00+00:00', stages, onWarning: (w) => warnings.push(w) });
    expect(stages.closed()).toBe(true);
    expect(r.blobs.kernel).toBe(join(blobsDir, 'x86_64', 'bzImage'));
    expect(warnings).toEqual(expect.arrayContaining([expect.stringMatching(/ENTRYPOINT/), 'a warning of the rootfs stage']));
    const b = standinBlobs('x86_64');
    const bsrc = await stages.bootstrap({ init: bytesSource(b.init!), nsm: bytesSource(b['nsm.ko']!) });
    const bootstrap = (await bsrc.read(0, bsrc.size)) as Uint8Array;
    const mem = await buildEifBytes({
      kernel: b.bzImage!,
      cmdline: new TextDecoder().decode(b.cmdline!).trim(),
      ramdisks: [bootstrap, customerBytes],
      name: 'hello',
      version: 'cd'.repeat(32),
      buildTime: '2024-01-01T00:00:00+00:00',
      imgOs: 'Linux',
      imgKernel: '6.1.0',
      dockerInfo: r.metadata.dockerInfo,
    });
    expect(readFileSync(out).equals(Buffer.from(mem.eif))).toBe(true);
    expect(r.measurements).toEqual(mem.measurements);
    const i = await inspectEifFile(out);
    const m = decodeMetadata(i.metadataBytes!);
    expect(m.ImageName).toBe('hello');
    expect(m.ImageVersion).toBe('cd'.repeat(32));
    expect(m.BuildMetadata).toMatchObject({ BuildTool: 'eifkit', OperatingSystem: 'Linux', KernelVersion: '6.1.0' });
    expect(toPlain(r.metadata.dockerInfo)).toMatchObject({ Id: 'sha256:' + 'cd'.repeat(32), RepoTags: ['hello:1'], Architecture: 'amd64' });
    expect(r.ramdisks).toEqual({ bootstrap: bootstrap.length, customer: customerBytes.length, customerEntries: 4 });
  });

  it('arm64: the aarch64 kernel (Image) and the arm64 flag, with a note that nitro-cli would use the host kernel', async () => {
    const out = join(dir, 'arm.eif');
    const warnings: string[] = [];
    const r = await buildEifFileFromImage({ kind: 'oci-layout', path: dir, blobsDir, output: out, env: {}, stages: fakeStages('arm64'), onWarning: (w) => warnings.push(w), name: 'x', version: 'y' });
    expect(r.blobs.kernel).toBe(join(blobsDir, 'aarch64', 'Image'));
    expect(readFileSync(out).readUInt16BE(6) & 1).toBe(1); // header flags (offset 6): EIF_HDR_ARCH_ARM64
    if (process.arch === 'x64') expect(warnings.join(' ')).toMatch(/nitro-cli on this x86_64 host/);
    expect(r.metadata).toMatchObject({ imageName: 'x', imageVersion: 'y' });
  });

  it('--emit-ramdisks writes both ramdisks under nitro-cli\'s names, equal to what was measured', async () => {
    const out = join(dir, 'e.eif');
    const emit = join(dir, 'emit', 'sub');
    const r = await buildEifFileFromImage({ kind: 'docker-archive', path: archive, blobsDir, output: out, env: {}, stages: fakeStages('amd64'), emitRamdisks: emit });
    expect(readdirSync(emit).sort()).toEqual(['bootstrap-initrd.img', 'customer-initrd.img']);
    expect(r.emitted).toEqual([join(emit, 'bootstrap-initrd.img'), join(emit, 'customer-initrd.img')]);
    expect(readFileSync(join(emit, 'customer-initrd.img')).equals(Buffer.from(customerBytes))).toBe(true);
    expect(readFileSync(join(emit, 'bootstrap-initrd.img')).length).toBe(r.ramdisks.bootstrap);
  });

  it('a failure while reading the image leaves no output file and closes the image', async () => {
    const out = join(dir, 'fail.eif');
    const stages = fakeStages('amd64', { failIndex: true });
    await expect(buildEifFileFromImage({ kind: 'docker-archive', path: archive, blobsDir, output: out, env: {}, stages })).rejects.toMatchObject({ code: 'INPUT_CHANGED' });
    expect(existsSync(out)).toBe(false);
    expect(stages.closed()).toBe(true);
    expect(readdirSync(dir).filter((f) => f.startsWith('.fail.eif'))).toEqual([]);
  });

  it('missing blobs: BLOBS_MISSING before any layer is read, no output', async () => {
    const out = join(dir, 'nob.eif');
    let indexed = false;
    const stages = fakeStages('amd64');
    const open = stages.open;
    stages.open = async (...args) => {
      const s = await open(...args);
      return { ...s, indexLayers: async () => ((indexed = true), []) };
    };
    await expect(buildEifFileFromImage({ kind: 'docker-archive', path: archive, blobsDir: join(dir, 'nothing'), output: out, env: {}, stages })).rejects.toMatchObject({ code: 'BLOBS_MISSING' });
    expect(indexed).toBe(false);
    expect(existsSync(out)).toBe(false);
  });

  it('the output may not be the archive itself (OUTPUT_IS_INPUT)', async () => {
    await expect(buildEifFileFromImage({ kind: 'docker-archive', path: archive, blobsDir, output: archive, env: {}, stages: fakeStages('amd64') })).rejects.toMatchObject({ code: 'OUTPUT_IS_INPUT' });
    expect(readFileSync(archive, 'utf8')).toBe('not read by the fake stages');
  });
});
