/**
 * Node stores and openImageSource (src/node/oci/; shared oci-build.md §7 steps 1–3): the golden docker save
 * archives of ../shared/test-vectors/oci, the same image as OCI layout and OCI archive (skopeo converts, when
 * installed), archives with linked members, and layouts that try to read outside themselves.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EifError } from '../../src/errors.js';
import { openImageSource } from '../../src/node/oci/image-source.js';
import { openDockerArchive, openOciLayout } from '../../src/node/oci/stores.js';
import { selectImage } from '../../src/oci/image.js';
import { imageRamdisks } from '../../src/oci/index.js';
import { createHash } from 'node:crypto';
import { describeShared, sharedPath } from '../helpers/shared.js';
import { json, layerTar } from './image-fixtures.js';
import { concat, END, file, header, sha256hex } from './tar-bytes.js';

const tmp = mkdtempSync(join(tmpdir(), 'eifkit-oci-stores-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    if (e instanceof EifError) return e.code;
    throw e;
  }
  return 'no error';
}

const expected = () => JSON.parse(readFileSync(sharedPath('oci', 'expected.json'), 'utf8')) as Record<string, { archive: string; cmd: string; env: string; layers: string }>;
const lines = (s: string) => (s === '' ? [] : s.replace(/\n$/, '').split('\n'));

describeShared('golden docker save archives (test-vectors/oci)', () => {
  for (const name of ['sample-app', 'sample-entrypoint']) {
    it(`${name}: selects, indexes every layer, cmd and env as expected.json`, async () => {
      const exp = expected()[name]!;
      const src = await openImageSource('docker-archive', sharedPath('oci', exp.archive));
      try {
        expect(src.selection.cmd).toEqual(lines(exp.cmd));
        expect(src.selection.env).toEqual(lines(exp.env));
        expect(src.selection.architecture).toBe('amd64');
        expect(src.selection.repoTags).toEqual([`${name}:1`]);
        expect(src.selection.layers.every((l) => l.compression === (exp.layers === 'gzip' ? 'gzip' : 'none'))).toBe(true);
        const layers = await src.indexLayers();
        expect(layers.length).toBe(src.selection.layers.length);
        for (const l of layers) expect(l.entries.length).toBeGreaterThan(0);
        if (name === 'sample-app') {
          const top = layers[1]!.entries;
          expect(top.find((e) => e.name === 'app/bin/server')).toMatchObject({ type: 'hardlink', linkname: 'app/server', uid: 10001, mode: 0o750 });
          expect(top.map((e) => e.name)).toContain('usr/share/doc/.wh..wh..opq');
          const cfg = top.find((e) => e.name === 'app/config.json')!;
          expect(new TextDecoder().decode(await layers[1]!.source.read(cfg.dataOffset, cfg.size))).toMatch(/^\{/);
        } else {
          const seed = layers[0]!.entries.find((e) => e.name === 'data/seed')!;
          expect(seed).toMatchObject({ mode: 0o400, size: 1000 });
          expect(layers[0]!.source.size).toBeGreaterThan(src.selection.layers[0]!.size); // the spilled uncompressed copy
        }
      } finally {
        src.close();
      }
    });
  }

  for (const name of ['sample-app', 'sample-entrypoint']) {
    it(`${name}: the read side feeds the ramdisk stages to nitro-cli's customer ramdisk, byte for byte`, async () => {
      const exp = (expected() as unknown as Record<string, { archive: string; customer_sha384: string }>)[name]!;
      const src = await openImageSource('docker-archive', sharedPath('oci', exp.archive));
      try {
        const { customer } = imageRamdisks(src.selection, await src.indexLayers(), { createdAt: 1700000000 });
        const h = createHash('sha384');
        for (let o = 0; o < customer.size; o += 1 << 20) h.update(await customer.read(o, Math.min(1 << 20, customer.size - o)));
        expect(h.digest('hex')).toBe(exp.customer_sha384);
      } finally {
        src.close();
      }
    });
  }

  const skopeo = existsSync('/usr/bin/skopeo');
  (skopeo ? it : it.skip)('the same image as OCI layout and OCI archive (skopeo) gives the same config, entries and customer ramdisk', async () => {
    const archive = sharedPath('oci', 'sample-app.docker-archive.tar');
    const dir = join(tmp, 'layout');
    const ociTar = join(tmp, 'app-oci.tar');
    execFileSync('skopeo', ['--insecure-policy', 'copy', '-q', `docker-archive:${archive}`, `oci:${dir}:app:1`]);
    execFileSync('skopeo', ['--insecure-policy', 'copy', '-q', `docker-archive:${archive}`, `oci-archive:${ociTar}:app:1`]);
    const base = await openImageSource('docker-archive', archive);
    const names = async (s: Awaited<ReturnType<typeof openImageSource>>) => (await s.indexLayers()).map((l) => l.entries.map((e) => [e.name, e.type, e.mode, e.size, e.mtime]));
    try {
      const want = await names(base);
      for (const [kind, path] of [['oci-layout', dir], ['oci-archive', ociTar]] as const) {
        const s = await openImageSource(kind, path, { image: 'app:1' });
        try {
          expect(s.selection.cmd).toEqual(base.selection.cmd);
          expect([s.selection.env, s.selection.architecture]).toEqual([base.selection.env, base.selection.architecture]); // skopeo rewrites the config JSON (another digest)
          expect(s.selection.repoTags).toContain('app:1');
          expect(await names(s)).toEqual(want);
          const { customer } = imageRamdisks(s.selection, await s.indexLayers(), { createdAt: 1700000000 });
          const h = createHash('sha384');
          for (let o = 0; o < customer.size; o += 1 << 20) h.update(await customer.read(o, Math.min(1 << 20, customer.size - o)));
          expect(h.digest('hex'), `${kind}: same customer ramdisk as the docker archive`).toBe((expected() as unknown as Record<string, { customer_sha384: string }>)['sample-app']!.customer_sha384);
        } finally {
          s.close();
        }
      }
    } finally {
      base.close();
    }
  });
});

describe('docker archive members', () => {
  it('follows a symlinked layer.tar (docker save links repeated layers) and refuses a truncated archive', async () => {
    const tar = layerTar();
    const diff = `sha256:${sha256hex(tar)}`;
    const cfg = json({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/x'] }, rootfs: { type: 'layers', diff_ids: [diff, diff] } });
    const cfgName = `${sha256hex(cfg)}.json`;
    const manifest = json([{ Config: cfgName, RepoTags: ['dup:1'], Layers: ['aa/layer.tar', 'bb/layer.tar'] }]);
    const outer = concat(file(cfgName, cfg), file('aa/layer.tar', tar), header({ name: 'bb/layer.tar', typeflag: '2', linkname: '../aa/layer.tar' }), file('manifest.json', manifest), END);
    const p = join(tmp, 'dup.tar');
    writeFileSync(p, outer);
    const src = await openImageSource('docker-archive', p);
    try {
      const layers = await src.indexLayers();
      expect(layers.map((l) => l.entries.length)).toEqual([2, 2]);
    } finally {
      src.close();
    }
    writeFileSync(join(tmp, 'cut.tar'), outer.subarray(0, 1500));
    expect(await codeOf(openDockerArchive(join(tmp, 'cut.tar')))).toBe('OCI_TAR_TRUNCATED');
    expect(await codeOf(openDockerArchive(join(tmp, 'missing.tar')))).toBe('INPUT_NOT_FOUND');
  });
});

describe('OCI layout folders never read outside themselves', () => {
  it('refuses a blob that is a symlink out of the folder, and .. paths (OCI_PATH_OUTSIDE)', async () => {
    const dir = join(tmp, 'evil');
    mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
    const secret = join(tmp, 'secret.json');
    writeFileSync(secret, json({ schemaVersion: 2 }));
    const hex = sha256hex(readFileSync(secret));
    symlinkSync(secret, join(dir, 'blobs', 'sha256', hex));
    writeFileSync(join(dir, 'index.json'), json({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${hex}`, size: 20 }] }));
    const store = openOciLayout(dir);
    try {
      expect(await codeOf(selectImage(store))).toBe('OCI_PATH_OUTSIDE');
      expect(await codeOf(store.file('../secret.json'))).toBe('OCI_PATH_OUTSIDE');
      expect(await store.file('nothing-here')).toBeUndefined();
    } finally {
      store.close();
    }
    expect(await codeOf(() => openOciLayout(join(tmp, 'no-such-dir')))).toBe('INPUT_NOT_FOUND');
    expect(await codeOf(() => openOciLayout(secret))).toBe('OCI_NO_IMAGE_INDEX'); // a file, not a folder
  });
});

describe('openImageSource.indexLayers', () => {
  function archive(layers: Uint8Array[], diffIds?: string[]): string {
    const ids = diffIds ?? layers.map((l) => `sha256:${sha256hex(l)}`);
    const cfg = json({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/x'] }, rootfs: { type: 'layers', diff_ids: ids } });
    const cfgName = `${sha256hex(cfg)}.json`;
    const names = layers.map((_, i) => `l${i}/layer.tar`);
    const outer = concat(file(cfgName, cfg), ...layers.map((l, i) => file(names[i]!, l)), file('manifest.json', json([{ Config: cfgName, RepoTags: ['many:1'], Layers: names }])), END);
    const p = join(tmp, `many-${Math.random().toString(16).slice(2)}.tar`);
    writeFileSync(p, outer);
    return p;
  }

  it('indexes layers two at a time, in layer order, with progress', async () => {
    const layers = Array.from({ length: 5 }, (_, i) => layerTar(`f${i}`, 'x'.repeat(i * 1000)));
    const src = await openImageSource('docker-archive', archive(layers));
    try {
      const progress: number[] = [];
      const out = await src.indexLayers((d) => progress.push(d));
      expect(out.map((l) => l.ref.index)).toEqual([0, 1, 2, 3, 4]);
      expect(out.map((l) => l.entries[1]!.name)).toEqual(['app/f0', 'app/f1', 'app/f2', 'app/f3', 'app/f4']);
      expect(progress).toEqual([1, 2, 3, 4, 5]);
    } finally {
      src.close();
    }
  });

  it('reports the lowest failing layer', async () => {
    const layers = Array.from({ length: 4 }, (_, i) => layerTar(`f${i}`));
    const bad = `sha256:${'0'.repeat(64)}`;
    const src = await openImageSource('docker-archive', archive(layers, [`sha256:${sha256hex(layers[0]!)}`, bad, bad, `sha256:${sha256hex(layers[3]!)}`]));
    try {
      await expect(src.indexLayers()).rejects.toThrow(/layer 1 /);
    } finally {
      src.close();
    }
  });
});
