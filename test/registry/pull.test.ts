/**
 * pullImage against real registries (issue 12, "Tested against a real registry"): Debian's docker-registry on
 * 127.0.0.1, images pushed with skopeo. Skips with the reason when the tools are absent.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { pullImage } from '../../src/node/registry/pull.js';
import { pullFromFlags } from '../../src/node/registry/index.js';
import { codeOf } from '../helpers/errors.js';
import { buildLayout, countingProxy, missingTools, skopeo, startRegistry, stopAll, tmp, type BuiltImage, type Registry } from './harness.js';

const missing = missingTools();
const d = missing ? describe.skip : describe;

async function readAll(src: { size: number; read(o: number, n: number): Uint8Array | Promise<Uint8Array> }): Promise<Buffer> {
  return Buffer.from(await src.read(0, src.size));
}

d(`pull from a real registry${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let reg: Registry;
  let img: BuiltImage;
  const fast = { timeoutMs: 5000, retries: 1, backoffMs: 50 };

  beforeAll(async () => {
    reg = await startRegistry();
    img = buildLayout();
    // zstd first: skopeo's blob-info cache would otherwise reuse the gzip blobs of the same layers pushed below
    // (its uncompressed layers are the same tars)
    const plain = buildLayout(['arm64'], 0, false);
    await skopeo([`oci:${plain.dir}:arm64`, `docker://${reg.host}/test/zstd:1`, '--dest-tls-verify=false', '--dest-compress', '--dest-compress-format', 'zstd']);
    await skopeo(['--all', `oci:${img.dir}:multi`, `docker://${reg.host}/test/multi:1.0`, '--dest-tls-verify=false']);
    await skopeo([`oci:${img.dir}:amd64`, `docker://${reg.host}/test/single:latest`, '--dest-tls-verify=false']);
  });
  afterAll(stopAll);

  it('pulls by tag: the store reads as an OCI layout naming the chosen manifest, blobs by digest, all digests right', async () => {
    const cache = tmp();
    const p = await pullImage(`${reg.host}/test/single`, { ...fast, cacheDir: cache });
    try {
      expect(p.name).toBe(`${reg.host}/test/single:latest`);
      expect(p.manifestDigest).toBe(img.arch.amd64!.manifest);
      expect(p.configDigest).toBe(img.arch.amd64!.config);
      expect(p.layers.map((l) => l.digest)).toEqual(img.arch.amd64!.layers);
      const index = JSON.parse((await readAll((await p.store.file('index.json'))!)).toString());
      expect(index.manifests).toHaveLength(1);
      expect(index.manifests[0].digest).toBe(p.manifestDigest);
      expect(index.manifests[0].annotations).toEqual({ 'io.containerd.image.name': `${reg.host}/test/single:latest` });
      expect(await p.store.file('oci-layout')).toBeDefined();
      for (const dg of [p.manifestDigest, p.configDigest, ...img.arch.amd64!.layers]) {
        const bytes = await readAll((await p.store.blob(dg))!);
        expect(bytes.equals(readFileSync(join(img.dir, 'blobs', 'sha256', dg.slice(7))))).toBe(true);
        expect(statSync(join(cache, 'blobs', 'sha256', dg.slice(7))).isFile()).toBe(true);
      }
      expect(await p.store.blob(`sha256:${'0'.repeat(64)}`)).toBeUndefined();
    } finally {
      p.close();
    }
  });

  it('pulls by digest, and picks the platform of a multi-arch index (--platform, and the host default)', async () => {
    const cache = tmp();
    const arm = await pullImage(`${reg.host}/test/multi:1.0`, { ...fast, cacheDir: cache, platform: 'linux/arm64' });
    arm.close();
    expect(arm.indexDigest).toBe(img.refs.multi);
    expect(arm.manifestDigest).toBe(img.arch.arm64!.manifest);
    expect(arm.platform).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    const byDigest = await pullImage(`${reg.host}/test/multi@${img.refs.multi}`, { ...fast, cacheDir: cache, platform: 'linux/amd64' });
    byDigest.close();
    expect(byDigest.manifestDigest).toBe(img.arch.amd64!.manifest);
    const host = await pullImage(`${reg.host}/test/multi:1.0`, { ...fast, cacheDir: cache });
    host.close();
    expect(host.manifestDigest).toBe(img.arch[process.arch === 'arm64' ? 'arm64' : 'amd64']!.manifest);
    expect(await codeOf(pullImage(`${reg.host}/test/multi:1.0`, { ...fast, cacheDir: cache, platform: 'linux/s390x' }))).toBe('REGISTRY_PLATFORM_NOT_FOUND');
    expect(await codeOf(pullImage(`${reg.host}/test/single:latest`, { ...fast, cacheDir: cache, platform: 'linux/arm64' }))).toBe('REGISTRY_PLATFORM_NOT_FOUND');
  });

  it('a second pull of the same image makes no blob request (by tag: one HEAD; by digest: none at all)', async () => {
    const proxy = await countingProxy(reg.host);
    const cache = tmp();
    const ref = `${proxy.host}/test/multi:1.0`;
    const first = await pullImage(ref, { ...fast, cacheDir: cache, platform: 'linux/amd64' });
    first.close();
    expect(first.downloaded.blobs).toBe(3);
    expect(proxy.requests.filter((r) => r.includes('/blobs/')).length).toBe(3);
    proxy.requests.length = 0;
    const second = await pullImage(ref, { ...fast, cacheDir: cache, platform: 'linux/amd64' });
    second.close();
    expect(second.downloaded).toEqual({ blobs: 0, bytes: 0 });
    expect(proxy.requests).toEqual([`HEAD /v2/test/multi/manifests/1.0`]);
    proxy.requests.length = 0;
    const third = await pullImage(`${proxy.host}/test/multi@${img.refs.multi}`, { ...fast, cacheDir: cache, platform: 'linux/amd64' });
    third.close();
    expect(proxy.requests).toEqual([]);
  });

  it('gzip and zstd variants (zstd made by skopeo --dest-compress-format): layers of each type, digests checked', async () => {
    const cache = tmp();
    for (const [repo, type] of [['zstd:1', 'application/vnd.oci.image.layer.v1.tar+zstd'], ['single', 'application/vnd.oci.image.layer.v1.tar+gzip']] as const) {
      const p = await pullImage(`${reg.host}/test/${repo}`, { ...fast, cacheDir: cache });
      p.close();
      expect(p.layers.map((l) => l.mediaType)).toEqual([type, type]);
      if (repo === 'zstd:1') {
        const head = readFileSync(join(cache, 'blobs', 'sha256', p.layers[0]!.digest.slice(7))).subarray(0, 4);
        expect([...head]).toEqual([0x28, 0xb5, 0x2f, 0xfd]);
      }
    }
  });

  it('concurrent pulls share one cache (temp + rename, no lock); a dead writer\'s leftover temp file is removed', async () => {
    const cache = tmp();
    const dir = join(cache, 'blobs', 'sha256');
    mkdirSync(dir, { recursive: true });
    const layer = img.arch.amd64!.layers[0]!.slice(7);
    // what a SIGKILLed writer leaves: .<hex>.<host>-<pid>-<start>.<rand>.tmp, with a pid that is not running
    const host = createHash('sha256').update(hostname()).digest('hex').slice(0, 6);
    const leftover = `.${layer}.${host}-999999999-1.abcd.tmp`;
    writeFileSync(join(dir, leftover), 'partial');
    const ps = await Promise.all([1, 2, 3].map(() => pullImage(`${reg.host}/test/multi:1.0`, { ...fast, cacheDir: cache, platform: 'linux/amd64' })));
    for (const p of ps) {
      for (const dg of img.arch.amd64!.layers) {
        const bytes = await readAll((await p.store.blob(dg))!);
        expect(createHash('sha256').update(bytes).digest('hex')).toBe(dg.slice(7));
      }
      p.close();
    }
    expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
  });

  it('pullFromFlags: per-layer progress lines on a TTY only, none with --quiet; --cache DIR; time-outs from the environment', async () => {
    const cache = tmp();
    const tty = { isTTY: true, out: '', write(x: string) { this.out += x; } };
    const p = await pullFromFlags({ 'docker-uri': `${reg.host}/test/single`, cache, quiet: false }, tty);
    p.close();
    for (const l of img.arch.amd64!.layers) expect(tty.out).toContain(`${l.slice(7, 19)}: done`);
    const again = { isTTY: true, out: '', write(x: string) { this.out += x; } };
    (await pullFromFlags({ 'docker-uri': `${reg.host}/test/single`, cache }, again)).close();
    expect(again.out).toContain(`${img.arch.amd64!.layers[0]!.slice(7, 19)}: cached`);
    const quiet = { isTTY: true, out: '', write(x: string) { this.out += x; } };
    (await pullFromFlags({ 'docker-uri': `${reg.host}/test/single`, cache, quiet: true }, quiet)).close();
    const pipe = { isTTY: false, out: '', write(x: string) { this.out += x; } };
    (await pullFromFlags({ 'docker-uri': `${reg.host}/test/single`, 'no-cache': true }, pipe)).close();
    expect(quiet.out + pipe.out).toBe('');
    expect(await codeOf(pullFromFlags({ 'docker-uri': 'x', cache, 'no-cache': true }, pipe))).toBe('USAGE');
    expect(await codeOf(pullFromFlags({ 'docker-uri': `${reg.host}/test/single` }, pipe, { EIF_REGISTRY_TIMEOUT_MS: 'soon' }))).toBe('USAGE');
  });

  it('--no-cache pulls into a temporary cache that close() removes', async () => {
    const p = await pullImage(`${reg.host}/test/single`, { ...fast, noCache: true });
    expect(statSync(p.cacheDir).isDirectory()).toBe(true);
    p.close();
    expect(() => statSync(p.cacheDir)).toThrow();
  });

  it('404 for an unknown tag, digest or repository', async () => {
    const cache = tmp();
    expect(await codeOf(pullImage(`${reg.host}/test/single:nope`, { ...fast, cacheDir: cache }))).toBe('REGISTRY_MANIFEST_NOT_FOUND');
    expect(await codeOf(pullImage(`${reg.host}/test/single@sha256:${'1'.repeat(64)}`, { ...fast, cacheDir: cache }))).toBe('REGISTRY_MANIFEST_NOT_FOUND');
    expect(await codeOf(pullImage(`${reg.host}/no/such:1`, { ...fast, noCache: true }))).toBe('REGISTRY_MANIFEST_NOT_FOUND');
  });
});
