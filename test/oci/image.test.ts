/** selectImage (src/oci/image.ts; shared oci-build.md §1.1, §7 steps 1–2) over in-memory stores. */
import { describe, expect, it } from 'vitest';
import { EifError } from '../../src/errors.js';
import { normalizeImageRef, selectImage, sniffCompression, type SelectImageOptions } from '../../src/oci/image.js';
import { compress, json, layerTar, memStore, named, putBlob, putImage, putIndex, setIndexJson, type Files, type ImageSpec } from './image-fixtures.js';
import { sha256hex } from './tar-bytes.js';

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof EifError) return e.code;
    throw e;
  }
  return 'no error';
}

function oneImage(spec: ImageSpec = {}, name = 'docker.io/library/app:1') {
  const files: Files = new Map();
  const img = putImage(files, spec);
  setIndexJson(files, [named(img.desc, ['io.containerd.image.name', name], ['org.opencontainers.image.ref.name', '1'])]);
  return { files, img, store: memStore(files) };
}

describe('OCI layout: one image', () => {
  it('reads cmd, env, architecture, tags, layers with digests, diff_ids and compression', async () => {
    const { img, store } = oneImage({ env: ['A=1', 'B=x y=z'], layers: [{ tar: layerTar('a') }, { tar: layerTar('b'), compression: 'gzip' }, { tar: layerTar('c'), compression: 'zstd' }] });
    const sel = await selectImage(store);
    expect(sel).toMatchObject({ architecture: 'amd64', os: 'linux', cmd: ['/app/run'], env: ['A=1', 'B=x y=z'], configDigest: img.configDigest, manifestDigest: img.desc.digest });
    expect(sel.repoTags).toEqual(['docker.io/library/app:1', '1']);
    expect(sel.layers.map((l) => [l.index, l.compression, l.digest, l.diffId, l.size])).toEqual(img.layers.map((l, i) => [i, ['none', 'gzip', 'zstd'][i], l.digest, l.diffId, l.size]));
    expect(sel.warnings).toEqual([]);
  });

  it('cmd: Cmd when present, even empty; else Entrypoint (warning when Entrypoint is dropped); neither → OCI_NO_ENTRYPOINT', async () => {
    expect((await selectImage(oneImage({ cmd: [] }).store)).cmd).toEqual([]);
    const both = await selectImage(oneImage({ cmd: ['-v'], entrypoint: ['/bin/app'] }).store);
    expect(both.cmd).toEqual(['-v']);
    expect(both.warnings.join()).toMatch(/ENTRYPOINT.*dropped/);
    expect((await selectImage(oneImage({ cmd: null, entrypoint: ['/bin/app', 'x'] }).store)).cmd).toEqual(['/bin/app', 'x']);
    expect(await codeOf(selectImage(oneImage({ cmd: null }).store))).toBe('OCI_NO_ENTRYPOINT');
  });

  it('arm64 is read; other architectures are refused (OCI_ARCH_UNSUPPORTED)', async () => {
    expect((await selectImage(oneImage({ arch: 'arm64' }).store)).architecture).toBe('arm64');
    expect(await codeOf(selectImage(oneImage({ arch: 's390x' }).store))).toBe('OCI_ARCH_UNSUPPORTED');
  });

  it('refuses an unknown layer media type and a config that is not an image config (OCI_MEDIA_TYPE)', async () => {
    expect(await codeOf(selectImage(oneImage({ layers: [{ tar: layerTar(), mediaType: 'application/vnd.example.blob' }] }).store))).toBe('OCI_MEDIA_TYPE');
    expect(await codeOf(selectImage(oneImage({ configMediaType: 'application/vnd.cncf.helm.config.v1+json' }).store))).toBe('OCI_MEDIA_TYPE');
  });

  it('reads the nondistributable and Docker layer media types', async () => {
    const mts = ['application/vnd.oci.image.layer.nondistributable.v1.tar+gzip', 'application/vnd.docker.image.rootfs.diff.tar.gzip', 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip'];
    for (const mediaType of mts) {
      const sel = await selectImage(oneImage({ docker: true, layers: [{ tar: layerTar(), compression: 'gzip', mediaType }] }).store);
      expect(sel.layers[0]!.compression).toBe('gzip');
    }
  });

  it('a plain tar labelled +gzip or +zstd (skopeo 1.9) is read as uncompressed, with a warning; real gzip keeps its label', async () => {
    for (const mediaType of ['application/vnd.oci.image.layer.v1.tar+gzip', 'application/vnd.oci.image.layer.v1.tar+zstd']) {
      const sel = await selectImage(oneImage({ layers: [{ tar: layerTar(), compression: 'none', mediaType }] }).store);
      expect(sel.layers[0]!.compression).toBe('none');
      expect(sel.warnings.join()).toMatch(/labelled .* but is an uncompressed tar/);
    }
    const gz = await selectImage(oneImage({ layers: [{ tar: layerTar(), compression: 'gzip' }] }).store);
    expect([gz.layers[0]!.compression, gz.warnings]).toEqual(['gzip', []]);
    // bytes that are neither compressed nor a tar keep the label (indexLayer then says OCI_LAYER_DECOMPRESS)
    const junk = await selectImage(oneImage({ layers: [{ tar: new Uint8Array(1024).fill(7), compression: 'none', mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }] }).store);
    expect(junk.layers[0]!.compression).toBe('gzip');
  });

  it('checks the digest and size of manifests and config; a missing config or layer is OCI_BLOB_MISSING', async () => {
    const a = oneImage();
    a.files.set(`blobs/sha256/${a.img.configDigest.slice(7)}`, a.img.configBytes.map((b, i) => (i === 3 ? b ^ 1 : b)));
    expect(await codeOf(selectImage(a.store))).toBe('OCI_DIGEST_MISMATCH');
    const b = oneImage();
    b.files.set(`blobs/sha256/${b.img.configDigest.slice(7)}`, new Uint8Array([...b.img.configBytes, 0x20]));
    expect(await codeOf(selectImage(b.store))).toBe('OCI_SIZE_MISMATCH');
    const c = oneImage();
    c.files.delete(`blobs/sha256/${c.img.configDigest.slice(7)}`);
    expect(await codeOf(selectImage(c.store))).toBe('OCI_BLOB_MISSING');
    const d = oneImage();
    d.files.delete(`blobs/sha256/${d.img.layers[0]!.digest.slice(7)}`);
    expect(await codeOf(selectImage(d.store))).toBe('OCI_BLOB_MISSING');
    const e = oneImage();
    e.files.set(`blobs/sha256/${e.img.layers[0]!.digest.slice(7)}`, new Uint8Array(3));
    expect(await codeOf(selectImage(e.store))).toBe('OCI_SIZE_MISMATCH');
  });

  it('refuses malformed digests, non-JSON documents, and layer/diff_id count mismatches', async () => {
    const files: Files = new Map();
    setIndexJson(files, [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: 'sha512:abcd', size: 1 }]);
    expect(await codeOf(selectImage(memStore(files)))).toBe('OCI_BAD_DIGEST');
    files.set('index.json', new TextEncoder().encode('{nope'));
    expect(await codeOf(selectImage(memStore(files)))).toBe('OCI_JSON_INVALID');
    const g: Files = new Map();
    const img = putImage(g);
    const cfg = putBlob(g, json({ architecture: 'amd64', os: 'linux', config: { Cmd: ['x'] }, rootfs: { diff_ids: [] } }));
    const man = putBlob(g, json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cfg.digest, size: cfg.size }, layers: img.layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })) }));
    setIndexJson(g, [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: man.digest, size: man.size }]);
    expect(await codeOf(selectImage(memStore(g)))).toBe('OCI_JSON_INVALID');
  });

  it('a store with neither index.json nor manifest.json is OCI_NO_IMAGE_INDEX', async () => {
    expect(await codeOf(selectImage(memStore(new Map([['README', new Uint8Array(1)]]))))).toBe('OCI_NO_IMAGE_INDEX');
  });
});

describe('--image', () => {
  function twoImages() {
    const files: Files = new Map();
    const a = putImage(files, { cmd: ['a'] });
    const b = putImage(files, { cmd: ['b'] });
    setIndexJson(files, [
      named(a.desc, ['io.containerd.image.name', 'docker.io/library/app:1'], ['org.opencontainers.image.ref.name', '1']),
      named(a.desc, ['io.containerd.image.name', 'docker.io/library/app:latest'], ['org.opencontainers.image.ref.name', 'latest']),
      named(b.desc, ['io.containerd.image.name', 'registry.example:5000/team/other:2'], ['org.opencontainers.image.ref.name', '2']),
    ]);
    return memStore(files);
  }

  it('several images without --image: OCI_IMAGE_AMBIGUOUS listing them', async () => {
    const store = twoImages();
    await expect(selectImage(store)).rejects.toThrow(/docker.io\/library\/app:1.*registry.example:5000\/team\/other:2/);
    expect(await codeOf(selectImage(store))).toBe('OCI_IMAGE_AMBIGUOUS');
  });

  it.each([
    ['app:1', ['a']],
    ['app', ['a']],
    ['docker.io/library/app:1', ['a']],
    ['library/app:latest', ['a']],
    ['registry.example:5000/team/other:2', ['b']],
    ['2', ['b']],
  ])('picks by %s', async (image, cmd) => {
    expect((await selectImage(twoImages(), { image })).cmd).toEqual(cmd);
  });

  it('picks by manifest digest (sha256:… or name@sha256:…)', async () => {
    const store = twoImages();
    const index = JSON.parse(new TextDecoder().decode((await store.file('index.json'))!.read(0, (await store.file('index.json'))!.size) as Uint8Array));
    const digestB = index.manifests[2].digest as string;
    expect((await selectImage(store, { image: digestB })).cmd).toEqual(['b']);
    expect((await selectImage(store, { image: `whatever@${digestB}` })).cmd).toEqual(['b']);
  });

  it('names what there is when nothing matches (OCI_IMAGE_NOT_FOUND)', async () => {
    await expect(selectImage(twoImages(), { image: 'nope:3' })).rejects.toThrow(/nope:3.*app:1/);
    expect(await codeOf(selectImage(twoImages(), { image: 'nope:3' }))).toBe('OCI_IMAGE_NOT_FOUND');
  });

  it('normalizes references as Docker does', () => {
    expect(normalizeImageRef('app')).toBe('docker.io/library/app:latest');
    expect(normalizeImageRef('me/app:2')).toBe('docker.io/me/app:2');
    expect(normalizeImageRef('localhost/app')).toBe('localhost/app:latest');
    expect(normalizeImageRef('reg:5000/a/b@sha256:00')).toBe('reg:5000/a/b@sha256:00');
  });
});

describe('--platform and nested indexes', () => {
  function multiArch(opts: { nested?: boolean; attestation?: boolean; only?: 'amd64' } = {}) {
    const files: Files = new Map();
    const amd = putImage(files, { arch: 'amd64', cmd: ['amd'] });
    const arm = putImage(files, { arch: 'arm64', cmd: ['arm'] });
    const entries: unknown[] = [{ ...amd.desc, platform: { os: 'linux', architecture: 'amd64' } }];
    if (opts.only === undefined) entries.push({ ...arm.desc, platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } });
    if (opts.attestation) {
      const att = putBlob(files, json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: {}, layers: [] }));
      entries.push({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: att.digest, size: att.size, platform: { os: 'unknown', architecture: 'unknown' }, annotations: { 'vnd.docker.reference.type': 'attestation-manifest' } });
    }
    let top = putIndex(files, entries);
    if (opts.nested) top = putIndex(files, [top]);
    setIndexJson(files, [named(top, ['org.opencontainers.image.ref.name', 'multi'])]);
    return memStore(files);
  }

  it.each<[SelectImageOptions, string[]]>([
    [{ platform: 'linux/amd64' }, ['amd']],
    [{ platform: 'linux/arm64' }, ['arm']],
    [{ platform: 'linux/arm64/v8' }, ['arm']],
    [{ hostArch: 'arm64' }, ['arm']],
    [{ hostArch: 'amd64', platform: 'linux/arm64' }, ['arm']],
  ])('picks from a multi-arch index (%j)', async (opts, cmd) => {
    expect((await selectImage(multiArch({ attestation: true }), opts)).cmd).toEqual(cmd);
    expect((await selectImage(multiArch({ nested: true }), opts)).cmd).toEqual(cmd);
  });

  it('a single platform is taken without --platform; attestation manifests are not candidates', async () => {
    expect((await selectImage(multiArch({ only: 'amd64', attestation: true }), { hostArch: 'arm64' })).cmd).toEqual(['amd']);
  });

  it('several platforms and no host match: OCI_PLATFORM_AMBIGUOUS; an absent platform: OCI_PLATFORM_NOT_FOUND', async () => {
    expect(await codeOf(selectImage(multiArch()))).toBe('OCI_PLATFORM_AMBIGUOUS');
    expect(await codeOf(selectImage(multiArch({ only: 'amd64' }), { platform: 'linux/arm64' }))).toBe('OCI_PLATFORM_NOT_FOUND');
  });

  it('an index whose other platforms are not in the archive (docker save of a multi-platform image): the one present', async () => {
    const files: Files = new Map();
    const amd = putImage(files, { arch: 'amd64', cmd: ['amd'] });
    const arm = putImage(files, { arch: 'arm64', cmd: ['arm'] });
    const top = putIndex(files, [
      { ...amd.desc, platform: { os: 'linux', architecture: 'amd64' } },
      { ...arm.desc, platform: { os: 'linux', architecture: 'arm64' } },
    ]);
    files.delete(`blobs/sha256/${arm.desc.digest.slice(7)}`);
    setIndexJson(files, [top]);
    expect((await selectImage(memStore(files), { hostArch: 'arm64' })).cmd).toEqual(['amd']);
    await expect(selectImage(memStore(files), { platform: 'linux/arm64' })).rejects.toThrow(/not in the archive/);
    expect(await codeOf(selectImage(memStore(files), { platform: 'linux/arm64' }))).toBe('OCI_PLATFORM_NOT_FOUND');
  });

  it('a bad --platform is a usage error (OCI_PLATFORM_INVALID, exit 2) before anything is read', async () => {
    const store = multiArch();
    const e = await selectImage(store, { platform: 'linux/s390x' }).catch((x: unknown) => x as EifError);
    expect(e).toBeInstanceOf(EifError);
    expect([e.code, e.exitCode]).toEqual(['OCI_PLATFORM_INVALID', 2]);
    expect(store.reads).toEqual([]);
  });

  it('--platform that disagrees with a single-manifest image is OCI_PLATFORM_NOT_FOUND', async () => {
    expect(await codeOf(selectImage(oneImage().store, { platform: 'linux/arm64' }))).toBe('OCI_PLATFORM_NOT_FOUND');
  });

  it('follows at most 8 nested indexes (OCI_INDEX_TOO_DEEP)', async () => {
    const files: Files = new Map();
    let d: { mediaType: string; digest: string; size: number } = putImage(files).desc;
    for (let i = 0; i < 10; i++) d = putIndex(files, [d]);
    setIndexJson(files, [d]);
    expect(await codeOf(selectImage(memStore(files)))).toBe('OCI_INDEX_TOO_DEEP');
  });
});

describe('docker save (legacy manifest.json), and both forms in one tar', () => {
  function legacy(opts: { gzip?: boolean; ociToo?: boolean; disagree?: boolean } = {}) {
    const files: Files = new Map();
    const tars = [layerTar('one'), layerTar('two')];
    const cfgBytes = json({ architecture: 'arm64', os: 'linux', config: { Entrypoint: ['/e'], Env: ['X=1'] }, rootfs: { type: 'layers', diff_ids: tars.map((t) => `sha256:${sha256hex(t)}`) } });
    const cfgHex = sha256hex(cfgBytes);
    files.set(`${cfgHex}.json`, cfgBytes);
    files.set('aaaa/layer.tar', compress(tars[0]!, opts.gzip ? 'gzip' : 'none'));
    files.set('bbbb/layer.tar', tars[1]!);
    const entries: unknown[] = [{ Config: `${cfgHex}.json`, RepoTags: ['app:1', 'app:latest'], Layers: ['aaaa/layer.tar', 'bbbb/layer.tar'] }];
    const other = putImage(files, { cmd: ['other'] });
    entries.push({ Config: `blobs/sha256/${other.configDigest.slice(7)}`, RepoTags: ['other:2'], Layers: other.layers.map((l) => `blobs/sha256/${l.digest.slice(7)}`) });
    files.set('manifest.json', json(entries));
    if (opts.ociToo) {
      const desc = opts.disagree ? putImage(files, { cmd: ['changed'] }).desc : other.desc;
      setIndexJson(files, [named(desc, ['io.containerd.image.name', 'docker.io/library/other:2'], ['org.opencontainers.image.ref.name', '2'])]);
    }
    return { store: memStore(files), cfgHex, tars, files };
  }

  it('reads Config, RepoTags and Layers; config digest = its name; uncompressed layer digest = diff_id', async () => {
    const { store, cfgHex, tars } = legacy();
    const sel = await selectImage(store, { image: 'app:1' });
    expect(sel).toMatchObject({ architecture: 'arm64', cmd: ['/e'], env: ['X=1'], configDigest: `sha256:${cfgHex}`, repoTags: ['app:1', 'app:latest'] });
    expect(sel.manifestDigest).toBeUndefined();
    expect(sel.layers.map((l) => [l.compression, l.digest, l.diffId])).toEqual(tars.map((t) => ['none', `sha256:${sha256hex(t)}`, `sha256:${sha256hex(t)}`]));
    expect(await codeOf(selectImage(store))).toBe('OCI_IMAGE_AMBIGUOUS');
    expect((await selectImage(store, { image: 'docker.io/library/other:2' })).cmd).toEqual(['other']);
  });

  it('sniffs gzip / zstd in a layer.tar member (blob digest then unknown, diff_id still checked later)', async () => {
    const sel = await selectImage(legacy({ gzip: true }).store, { image: 'app' });
    expect(sel.layers[0]).toMatchObject({ compression: 'gzip', digest: '' });
    expect(sniffCompression(new Uint8Array([0x28, 0xb5, 0x2f, 0xfd]))).toBe('zstd');
    expect(sniffCompression(new Uint8Array([0x61]))).toBe('none');
  });

  it('a config whose content does not match its <hex>.json name is OCI_DIGEST_MISMATCH', async () => {
    const { store, files, cfgHex } = legacy();
    files.set(`${cfgHex}.json`, json({ architecture: 'amd64', config: { Cmd: ['x'] }, rootfs: { diff_ids: [] } }));
    expect(await codeOf(selectImage(store, { image: 'app:1' }))).toBe('OCI_DIGEST_MISMATCH');
  });

  it('a missing config or layer member is OCI_BLOB_MISSING', async () => {
    const a = legacy();
    a.files.delete('bbbb/layer.tar');
    expect(await codeOf(selectImage(a.store, { image: 'app:1' }))).toBe('OCI_BLOB_MISSING');
    const b = legacy();
    b.files.delete(`${b.cfgHex}.json`);
    expect(await codeOf(selectImage(b.store, { image: 'app:1' }))).toBe('OCI_BLOB_MISSING');
  });

  it('prefers index.json when both exist, and both must agree', async () => {
    const sel = await selectImage(legacy({ ociToo: true }).store);
    expect(sel.cmd).toEqual(['other']);
    expect(sel.manifestDigest).toMatch(/^sha256:/);
    expect(await codeOf(selectImage(legacy({ ociToo: true, disagree: true }).store))).toBe('OCI_ARCHIVE_DISAGREE');
  });
});
