/**
 * Registries that misbehave (issue 12, errors): a fake registry in this process serves one image and is told to
 * corrupt a blob, hang, rate-limit, fail, break a download mid-way, redirect to another host, or serve manifests
 * that are not images. Each gives its stable code in bounded time; nothing corrupt is ever kept in the cache.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type http from 'node:http';
import { gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { networkInterfaces } from 'node:os';
import { pullImage } from '../../src/node/registry/pull.js';
import { openRegistryImage } from '../../src/node/registry/source.js';
import { EifError } from '../../src/errors.js';
import { codeOf } from '../helpers/errors.js';
import { fakeServer, sha256Of, stopAll, tarOf, tmp } from './harness.js';

afterAll(stopAll);

/** A name other than localhost that /etc/hosts maps to 127.x (e.g. the machine's own name), if any. */
const loopbackName = (() => {
  try {
    for (const line of readFileSync('/etc/hosts', 'utf8').split('\n')) {
      const [addr, ...names] = line.replace(/#.*/, '').trim().split(/\s+/);
      const name = names.find((n) => n !== 'localhost' && !n.startsWith('localhost.') && /^[a-z][a-z0-9-]*$/i.test(n));
      if (addr?.startsWith('127.') && name) return name;
    }
  } catch {
    /* none */
  }
  return undefined;
})();
/** This machine's first non-loopback IPv4 address, if any. */
const outsideIPv4 = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;

interface Img {
  manifest: Buffer;
  manifestDigest: string;
  blobs: Map<string, Buffer>;
  layer: string;
  config: string;
}

function image(layerBytes = 300_000, manifestOverride?: (m: Record<string, unknown>) => void): Img {
  const layer = gzipSync(tarOf([{ name: 'data.bin', data: Buffer.alloc(layerBytes, 7) }, { name: 'rand.bin', data: Buffer.from(Array.from({ length: layerBytes }, (_, i) => (i * 7919) % 251)) }]), { level: 0 });
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [] } }));
  const m: Record<string, unknown> = {
    schemaVersion: 2,
    mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
    config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: sha256Of(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: sha256Of(layer), size: layer.length }],
  };
  manifestOverride?.(m);
  const manifest = Buffer.from(JSON.stringify(m));
  return {
    manifest,
    manifestDigest: sha256Of(manifest),
    blobs: new Map([
      [sha256Of(layer), layer],
      [sha256Of(config), config],
    ]),
    layer: sha256Of(layer),
    config: sha256Of(config),
  };
}

/** An image the build can read: the config's diff_ids name the layer's uncompressed tar. */
function buildable(bytes = 200_000): Img & { diffId: string } {
  const tar = tarOf([{ name: 'etc/hello', data: Buffer.from('hello\n') }, { name: 'data.bin', data: randomBytes(bytes) }]);
  const layer = gzipSync(tar);
  const diffId = sha256Of(tar);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [diffId] } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: sha256Of(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: sha256Of(layer), size: layer.length }],
    }),
  );
  return {
    manifest,
    manifestDigest: sha256Of(manifest),
    blobs: new Map([
      [sha256Of(layer), layer],
      [sha256Of(config), config],
    ]),
    layer: sha256Of(layer),
    config: sha256Of(config),
    diffId,
  };
}

/** The build's read side over a pulled image (pass 1 of every layer): the entries, as the build sees them. */
async function indexed(ref: string, cache: string, tmpDir?: string) {
  const src = await openRegistryImage({ 'docker-uri': ref, cache, quiet: true }, tmpDir ? { tmpDir } : {}, undefined, { EIF_REGISTRY_TIMEOUT_MS: '400', EIF_REGISTRY_RETRIES: '1', EIF_REGISTRY_BACKOFF_MS: '20' });
  try {
    const layers = await src.indexLayers();
    return layers.map((l) => ({ digest: l.ref.digest, size: l.source.size, entries: l.entries.map((e) => [e.name, e.size, e.dataOffset]) }));
  } finally {
    src.close();
  }
}

type Hook = (req: http.IncomingMessage, res: http.ServerResponse, kind: 'manifest' | 'blob', digest: string) => boolean;

/** A fake registry serving `img` as fake/app:1; `hook` may answer a request itself (returns true). */
async function fakeRegistry(img: Img, hook: Hook = () => false, hostName = '127.0.0.1', listenOn = '127.0.0.1') {
  const log: string[] = [];
  const srv = await fakeServer((req, res) => {
    log.push(`${req.method} ${req.url}`);
    const m = /^\/v2\/fake\/app\/(manifests|blobs)\/(.+)$/.exec(req.url ?? '');
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    const kind = m[1] === 'manifests' ? 'manifest' : 'blob';
    if (hook(req, res, kind, m[2]!)) return;
    if (kind === 'manifest') {
      if (m[2] !== '1' && m[2] !== img.manifestDigest) return void res.writeHead(404).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}');
      res.writeHead(200, { 'content-type': JSON.parse(img.manifest.toString()).mediaType ?? 'application/json', 'docker-content-digest': img.manifestDigest, 'content-length': img.manifest.length });
      res.end(req.method === 'HEAD' ? undefined : img.manifest);
      return;
    }
    const b = img.blobs.get(m[2]!);
    if (!b) return void res.writeHead(404).end();
    const range = /^bytes=(\d+)-$/.exec(String(req.headers.range ?? ''));
    if (range) {
      const from = Number(range[1]);
      res.writeHead(206, { 'content-range': `bytes ${from}-${b.length - 1}/${b.length}`, 'content-length': b.length - from });
      res.end(b.subarray(from));
      return;
    }
    res.writeHead(200, { 'content-length': b.length });
    res.end(b);
  }, hostName, listenOn);
  return { host: srv.host, log };
}

const fast = { timeoutMs: 400, retries: 1, backoffMs: 20 };

async function failure(p: Promise<unknown>): Promise<EifError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof EifError) return e;
    throw e;
  }
  throw new Error('no error');
}

describe('misbehaving registries', () => {
  it('a corrupted blob is refused (REGISTRY_DIGEST_MISMATCH) and nothing of it stays in the cache', async () => {
    const img = image();
    const reg = await fakeRegistry(img, (_req, res, kind, digest) => {
      if (kind !== 'blob' || digest !== img.layer) return false;
      const bad = Buffer.from(img.blobs.get(digest)!);
      bad[1000] ^= 1;
      res.writeHead(200, { 'content-length': bad.length }).end(bad);
      return true;
    });
    const cache = tmp();
    const e = await failure(pullImage(`${reg.host}/fake/app:1`, { ...fast, cacheDir: cache }));
    expect(e.code).toBe('REGISTRY_DIGEST_MISMATCH');
    expect(e.message).toContain(img.layer);
    expect(readdirSync(join(cache, 'blobs', 'sha256')).filter((f) => f.includes(img.layer.slice(7)))).toEqual([]);
  });

  it('a blob longer than its descriptor is cut off and refused', async () => {
    const img = image();
    const reg = await fakeRegistry(img, (_req, res, kind, digest) => {
      if (kind !== 'blob' || digest !== img.layer) return false;
      res.writeHead(200).end(Buffer.concat([img.blobs.get(digest)!, Buffer.alloc(1 << 20)]));
      return true;
    });
    expect(await codeOf(pullImage(`${reg.host}/fake/app:1`, { ...fast, noCache: true }))).toBe('REGISTRY_DIGEST_MISMATCH');
  });

  it('a corrupted layer in the cache (same size, bytes flipped) is refused by the build and deleted, never used; the next build downloads it', async () => {
    const img = buildable();
    const reg = await fakeRegistry(img);
    const cache = tmp();
    const ref = `${reg.host}/fake/app:1`;
    // a first build fills the cache (and keeps the layer's uncompressed tar); drop the tar so the layer blob is read
    const first = await indexed(ref, cache);
    unlinkSync(join(cache, 'blobs', 'sha256', img.diffId.slice(7)));
    const path = join(cache, 'blobs', 'sha256', img.layer.slice(7));
    const bad = readFileSync(path);
    bad[bad.length >> 1] ^= 0xff;
    writeFileSync(path, bad);
    const before = reg.log.length;
    const e = await failure(indexed(ref, cache));
    expect(e.code).toBe('REGISTRY_DIGEST_MISMATCH');
    expect(e.message).toContain(img.layer);
    expect(e.message).toContain('deleted');
    expect(existsSync(path)).toBe(false);
    expect(existsSync(join(cache, 'blobs', 'sha256', img.diffId.slice(7)))).toBe(false); // nothing kept from it
    expect(reg.log.slice(before).filter((l) => l.includes('/blobs/'))).toEqual([]); // the build used the cache only
    // the next build downloads the layer again and gives the first build's result
    const again = await indexed(ref, cache);
    expect(reg.log.slice(before).filter((l) => l.includes(img.layer))).toHaveLength(1);
    expect(again).toEqual(first);
    expect(readFileSync(path).equals(img.blobs.get(img.layer)!)).toBe(true);
  });

  it("a layer's uncompressed tar is kept in the cache under its diff_id; a warm build reads it in place (no spill, no blob request); a corrupt one is deleted and the blob read instead", async () => {
    const img = buildable();
    const reg = await fakeRegistry(img);
    const cache = tmp();
    const ref = `${reg.host}/fake/app:1`;
    const first = await indexed(ref, cache);
    const kept = join(cache, 'blobs', 'sha256', img.diffId.slice(7));
    expect(sha256Of(readFileSync(kept))).toBe(img.diffId); // a blob like the others: its name is its digest
    expect(readdirSync(join(cache, 'blobs', 'sha256')).filter((f) => f.startsWith('.'))).toEqual([]); // no temp file left
    // warm: no blob request, no temp spill, same entries
    const spills = tmp();
    const before = reg.log.length;
    expect(await indexed(ref, cache, spills)).toEqual(first);
    expect(readdirSync(spills)).toEqual([]);
    expect(reg.log.slice(before).filter((l) => l.includes('/blobs/'))).toEqual([]);
    // a corrupt kept tar (same size): deleted, the layer read from its (checked) blob, the right tar kept again
    const bad = readFileSync(kept);
    bad[600] ^= 0x01;
    writeFileSync(kept, bad);
    expect(await indexed(ref, cache)).toEqual(first);
    expect(sha256Of(readFileSync(kept))).toBe(img.diffId);
    expect(reg.log.slice(before).filter((l) => l.includes('/blobs/'))).toEqual([]);
  });

  it('a layer blob that matches its digest stays cached when the image itself is bad (diff_id mismatch): only corrupt copies are deleted', async () => {
    const good = buildable();
    const wrong = `sha256:${'0'.repeat(64)}`;
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [wrong] }, config: { Cmd: ['/bin/sh'] } }));
    const m = JSON.parse(good.manifest.toString());
    m.config.digest = sha256Of(config);
    m.config.size = config.length;
    const manifest = Buffer.from(JSON.stringify(m));
    const img: Img = { manifest, manifestDigest: sha256Of(manifest), blobs: new Map([[good.layer, good.blobs.get(good.layer)!], [sha256Of(config), config]]), layer: good.layer, config: sha256Of(config) };
    const reg = await fakeRegistry(img);
    const cache = tmp();
    expect((await failure(indexed(`${reg.host}/fake/app:1`, cache))).code).toBe('OCI_DIFF_ID_MISMATCH');
    expect(readFileSync(join(cache, 'blobs', 'sha256', good.layer.slice(7))).equals(good.blobs.get(good.layer)!)).toBe(true);
    expect(existsSync(join(cache, 'blobs', 'sha256', wrong.slice(7)))).toBe(false); // nothing kept under the wrong diff_id
  });

  it('layers decompress while they download (unpack): the pull keeps the tar, also across a resumed download; a restarted one leaves it to pass 1', async () => {
    const img = buildable(2_000_000);
    const kept = (cache: string) => join(cache, 'blobs', 'sha256', img.diffId.slice(7));
    const reg = await fakeRegistry(img);
    const ref = `${reg.host}/fake/app:1`;
    const plain = tmp();
    (await pullImage(ref, { ...fast, cacheDir: plain })).close();
    expect(existsSync(kept(plain))).toBe(false); // a pull alone does not decompress
    const unpacked = tmp();
    (await pullImage(ref, { ...fast, cacheDir: unpacked, unpack: true })).close();
    expect(sha256Of(readFileSync(kept(unpacked)))).toBe(img.diffId); // before any build read the layer
    const cold = await indexed(ref, tmp());
    // a download broken mid-way and resumed with Range: the decompressor just goes on
    let broken = 0;
    const resumed = await fakeRegistry(img, (req, res, kind, digest) => {
      if (kind !== 'blob' || digest !== img.layer || req.headers.range || broken++ > 0) return false;
      const b = img.blobs.get(digest)!;
      res.writeHead(200, { 'content-length': b.length });
      res.write(b.subarray(0, b.length >> 1), () => res.destroy());
      return true;
    });
    const c1 = tmp();
    (await pullImage(`${resumed.host}/fake/app:1`, { ...fast, cacheDir: c1, unpack: true })).close();
    expect(resumed.log.filter((l) => l.includes(img.layer))).toHaveLength(2);
    expect(sha256Of(readFileSync(kept(c1)))).toBe(img.diffId);
    // the same break, then Range ignored (200 from byte 0): the tee is dropped, the build's pass 1 makes the tar
    let n = 0;
    const restarted = await fakeRegistry(img, (_req, res, kind, digest) => {
      if (kind !== 'blob' || digest !== img.layer) return false;
      const b = img.blobs.get(digest)!;
      res.writeHead(200, { 'content-length': b.length });
      if (n++ === 0) res.write(b.subarray(0, b.length >> 1), () => res.destroy());
      else res.end(b);
      return true;
    });
    const c2 = tmp();
    (await pullImage(`${restarted.host}/fake/app:1`, { ...fast, cacheDir: c2, unpack: true })).close();
    expect(existsSync(kept(c2))).toBe(false);
    expect(readdirSync(join(c2, 'blobs', 'sha256')).filter((f) => f.startsWith('.'))).toEqual([]); // its temp file removed
    expect(await indexed(`${restarted.host}/fake/app:1`, c2)).toEqual(cold);
    expect(sha256Of(readFileSync(kept(c2)))).toBe(img.diffId);
  });

  it('two builds at once on one cold cache: both right, each blob and kept tar whole, no temp file left', async () => {
    const img = buildable();
    const reg = await fakeRegistry(img);
    const cache = tmp();
    const ref = `${reg.host}/fake/app:1`;
    const [a, b] = await Promise.all([indexed(ref, cache), indexed(ref, cache)]);
    expect(a).toEqual(b);
    const dir = join(cache, 'blobs', 'sha256');
    expect(readdirSync(dir).filter((f) => f.startsWith('.'))).toEqual([]);
    for (const f of readdirSync(dir)) expect(sha256Of(readFileSync(join(dir, f)))).toBe(`sha256:${f}`);
    expect(readdirSync(dir).sort()).toEqual([img.manifestDigest, img.config, img.layer, img.diffId].map((d) => d.slice(7)).sort());
  });

  it('403 is REGISTRY_DENIED naming the credential sources tried, never a secret', async () => {
    const img = image();
    const reg = await fakeRegistry(img, (_req, res) => {
      res.writeHead(403, { 'content-type': 'application/json' }).end('{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}');
      return true;
    });
    const cfgDir = tmp();
    writeFileSync(join(cfgDir, 'config.json'), JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from('bob:s3cret-403').toString('base64') } } }));
    const e = await failure(pullImage(`${reg.host}/fake/app:1`, { ...fast, noCache: true, credentials: { dockerConfig: cfgDir } }));
    expect(e.code).toBe('REGISTRY_DENIED');
    expect(e.message).toContain('(403)');
    expect(e.message).toContain(`auths["${reg.host}"] in ${join(cfgDir, 'config.json')}`);
    expect(e.message).not.toContain('s3cret-403');
    expect(e.message).not.toContain(Buffer.from('bob:s3cret-403').toString('base64'));
  });

  it('a corrupted manifest or config in the cache (same size) is deleted and downloaded again, never used', async () => {
    const img = buildable();
    const reg = await fakeRegistry(img);
    const cache = tmp();
    (await pullImage(`${reg.host}/fake/app:1`, { ...fast, cacheDir: cache })).close();
    for (const d of [img.manifestDigest, img.config]) {
      const path = join(cache, 'blobs', 'sha256', d.slice(7));
      const bad = readFileSync(path);
      bad[5] ^= 0x20;
      writeFileSync(path, bad);
    }
    const before = reg.log.length;
    const p = await pullImage(`${reg.host}/fake/app@${img.manifestDigest}`, { ...fast, cacheDir: cache });
    p.close();
    expect(p.downloaded.blobs).toBe(1); // the config
    expect(reg.log.slice(before).filter((l) => l.startsWith('GET'))).toEqual([`GET /v2/fake/app/manifests/${img.manifestDigest}`, `GET /v2/fake/app/blobs/${img.config}`]);
    for (const d of [img.manifestDigest, img.config]) expect(sha256Of(readFileSync(join(cache, 'blobs', 'sha256', d.slice(7))))).toBe(d);
  });

  it('a manifest that does not match the digest asked for is refused', async () => {
    const img = image();
    const other = image(1000);
    const reg = await fakeRegistry(img, (_req, res, kind, ref) => {
      if (kind !== 'manifest' || ref !== other.manifestDigest) return false;
      res.writeHead(200, { 'content-type': 'application/vnd.docker.distribution.manifest.v2+json' }).end(img.manifest);
      return true;
    });
    expect(await codeOf(pullImage(`${reg.host}/fake/app@${other.manifestDigest}`, { ...fast, noCache: true }))).toBe('REGISTRY_DIGEST_MISMATCH');
  });

  it('a registry that hangs fails with REGISTRY_TIMEOUT in bounded time (headers never sent, or a body that stops)', async () => {
    const hang = await fakeServer(() => {
      /* never answers */
    });
    const t0 = Date.now();
    const e = await failure(pullImage(`${hang.host}/fake/app:1`, { ...fast, noCache: true }));
    expect(`${e.code}: ${e.message}`).toMatch(/^REGISTRY_TIMEOUT/);
    expect(e.message).toMatch(/no answer from 127\.0\.0\.1:\d+ within 400 ms .*2 attempt/);
    expect(Date.now() - t0).toBeLessThan(5000);
    const img = image();
    const stall = await fakeRegistry(img, (_req, res, kind, digest) => {
      if (kind !== 'blob' || digest !== img.layer) return false;
      res.writeHead(200, { 'content-length': 1_000_000 });
      res.write(Buffer.alloc(1000));
      return true; // and then nothing
    });
    const e2 = await failure(pullImage(`${stall.host}/fake/app:1`, { ...fast, noCache: true }));
    expect(`${e2.code}: ${e2.message}`).toMatch(/^REGISTRY_TIMEOUT/);
    expect(e2.message).toContain('stopped sending');
  });

  it('a download broken mid-way resumes with a Range request; a server ignoring Range restarts it', async () => {
    const img = image(2_000_000);
    let broken = 0;
    const reg = await fakeRegistry(img, (req, res, kind, digest) => {
      if (kind !== 'blob' || digest !== img.layer || req.headers.range || broken++ > 0) return false;
      const b = img.blobs.get(digest)!;
      res.writeHead(200, { 'content-length': b.length });
      res.write(b.subarray(0, 700_000), () => res.destroy());
      return true;
    });
    const p = await pullImage(`${reg.host}/fake/app:1`, { ...fast, noCache: true });
    p.close();
    const ranges = reg.log.filter((l) => l.includes(img.layer));
    expect(ranges).toHaveLength(2);
    // the same break, then a 200 for the whole blob (Range ignored): the sink restarts from byte 0
    let n = 0;
    const reg2 = await fakeRegistry(img, (_req, res, kind, digest) => {
      if (kind !== 'blob' || digest !== img.layer) return false;
      const b = img.blobs.get(digest)!;
      res.writeHead(200, { 'content-length': b.length });
      if (n++ === 0) res.write(b.subarray(0, 500_000), () => res.destroy());
      else res.end(b);
      return true;
    });
    const cache = tmp();
    const p2 = await pullImage(`${reg2.host}/fake/app:1`, { ...fast, cacheDir: cache });
    const got = Buffer.from(await (await p2.store.blob(img.layer))!.read(0, img.blobs.get(img.layer)!.length));
    p2.close();
    expect(got.equals(img.blobs.get(img.layer)!)).toBe(true);
  });

  it('429 is retried after its Retry-After; a long Retry-After fails at once with REGISTRY_RATE_LIMITED naming it', async () => {
    const img = image();
    let n = 0;
    const reg = await fakeRegistry(img, (_req, res, kind) => {
      if (kind !== 'manifest' || n++ > 0) return false;
      res.writeHead(429, { 'retry-after': '0' }).end('{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}');
      return true;
    });
    (await pullImage(`${reg.host}/fake/app:1`, { ...fast, noCache: true })).close();
    expect(n).toBeGreaterThan(1);
    const limited = await fakeRegistry(img, (_req, res) => {
      res.writeHead(429, { 'retry-after': '3600' }).end('{"errors":[{"code":"TOOMANYREQUESTS","message":"pull rate limit"}]}');
      return true;
    });
    const t0 = Date.now();
    const e = await failure(pullImage(`${limited.host}/fake/app:1`, { ...fast, noCache: true }));
    expect(e.code).toBe('REGISTRY_RATE_LIMITED');
    expect(e.message).toContain('retry after 3600 s');
    expect(e.message).toContain('TOOMANYREQUESTS: pull rate limit');
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('5xx is retried with backoff, then REGISTRY_SERVER_ERROR', async () => {
    const img = image();
    const reg = await fakeRegistry(img, (_req, res) => {
      res.writeHead(503).end();
      return true;
    });
    expect(await codeOf(pullImage(`${reg.host}/fake/app:1`, { ...fast, noCache: true }))).toBe('REGISTRY_SERVER_ERROR');
    expect(reg.log.length).toBe(2);
  });

  it('blobs redirected to another host are fetched there without the Authorization header', async () => {
    const img = image();
    const seen: (string | undefined)[] = [];
    const storage = await fakeServer((req, res) => {
      seen.push(req.headers.authorization);
      const b = img.blobs.get(req.url!.slice(1));
      if (!b) return void res.writeHead(404).end();
      res.writeHead(200).end(b);
    }, 'localhost');
    const reg = await fakeRegistry(img, (req, res, kind, digest) => {
      if (!req.headers.authorization) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="fake"' }).end();
        return true;
      }
      if (kind !== 'blob') return false;
      res.writeHead(307, { location: `http://${storage.host}/${digest}` }).end();
      return true;
    });
    const cfg = tmp();
    writeFileSync(join(cfg, 'config.json'), JSON.stringify({ auths: { [reg.host]: { username: 'u', password: 'secret-pw' } } }));
    const p = await pullImage(`${reg.host}/fake/app:1`, { ...fast, noCache: true, credentials: { dockerConfig: cfg } });
    p.close();
    expect(seen).toHaveLength(2);
    expect(seen).toEqual([undefined, undefined]);
  });

  it('unknown host, refused connection, schema 1 and non-image manifests have their codes', async () => {
    expect(await codeOf(pullImage('no-such-host.invalid/app:1', { ...fast, noCache: true }))).toBe('REGISTRY_UNKNOWN_HOST');
    const closed = await fakeServer(() => {});
    await new Promise((r) => closed.server.close(r));
    expect(await codeOf(pullImage(`${closed.host}/fake/app:1`, { ...fast, noCache: true }))).toBe('REGISTRY_UNREACHABLE');
    const schema1 = await fakeRegistry(image(), (_req, res, kind) => {
      if (kind !== 'manifest') return false;
      res.writeHead(200, { 'content-type': 'application/vnd.docker.distribution.manifest.v1+prettyjws' }).end('{"schemaVersion":1,"name":"fake/app","fsLayers":[]}');
      return true;
    });
    expect(await codeOf(pullImage(`${schema1.host}/fake/app:1`, { ...fast, noCache: true }))).toBe('REGISTRY_UNSUPPORTED_MEDIA_TYPE');
    const helm = await fakeRegistry(image(100, (m) => ((m.config as { mediaType: string }).mediaType = 'application/vnd.cncf.helm.config.v1+json')));
    expect(await codeOf(pullImage(`${helm.host}/fake/app:1`, { ...fast, noCache: true }))).toBe('REGISTRY_UNSUPPORTED_MEDIA_TYPE');
    const foreign = await fakeRegistry(image(100, (m) => ((m.layers as { mediaType: string }[])[0]!.mediaType = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip')));
    expect(await codeOf(pullImage(`${foreign.host}/fake/app:1`, { ...fast, noCache: true }))).toBe('REGISTRY_UNSUPPORTED_MEDIA_TYPE');
    const md5 = await fakeRegistry(image(100, (m) => ((m.layers as { digest: string }[])[0]!.digest = 'md5:../../../etc/passwd')));
    expect(await codeOf(pullImage(`${md5.host}/fake/app:1`, { ...fast, noCache: true }))).toBe('REGISTRY_UNSUPPORTED_DIGEST');
    const notJson = await fakeRegistry(image(), (_req, res, kind) => {
      if (kind !== 'manifest') return false;
      res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }).end('not json');
      return true;
    });
    expect(await codeOf(pullImage(`${notJson.host}/fake/app:1`, { ...fast, noCache: true }))).toBe('REGISTRY_BAD_MANIFEST');
  });

  it.skipIf(!loopbackName)(`plain HTTP for a name that resolves into 127.0.0.0/8, as Docker's daemon allows${loopbackName ? '' : ' (skipped: no such name in /etc/hosts)'}`, async () => {
    const reg = await fakeRegistry(image(), undefined, loopbackName);
    const p = await pullImage(`${reg.host}/fake/app:1`, { ...fast, noCache: true });
    p.close();
    expect(p.layers).toHaveLength(1);
  });

  it.skipIf(!outsideIPv4)(`--insecure-registry takes a CIDR; without one a non-loopback host is HTTPS only${outsideIPv4 ? '' : ' (skipped: no non-loopback IPv4 address)'}`, async () => {
    const reg = await fakeRegistry(image(), undefined, outsideIPv4, outsideIPv4);
    const e = await failure(pullImage(`${reg.host}/fake/app:1`, { ...fast, noCache: true }));
    expect(reg.log).toEqual([]); // never spoken to over plain HTTP
    expect(e.code).toMatch(/^REGISTRY_(UNREACHABLE|PROTOCOL|TIMEOUT)$/);
    const prefix = outsideIPv4!.split('.').slice(0, 3).join('.');
    for (const allowed of [[`${prefix}.0/24`], [outsideIPv4!], [`${outsideIPv4}/32`]]) {
      const p = await pullImage(`${reg.host}/fake/app:1`, { ...fast, noCache: true, insecureRegistries: allowed });
      p.close();
      expect(p.layers).toHaveLength(1);
    }
    const other = await failure(pullImage(`${reg.host}/fake/app:1`, { ...fast, noCache: true, insecureRegistries: ['10.0.0.0/8', 'fd00::/8'] }));
    expect(other.code).toBe(e.code);
  });

  it('plain HTTP only where allowed: an https registry redirecting to http elsewhere is refused', async () => {
    const img = image();
    const reg = await fakeRegistry(img, (_req, res, kind, digest) => {
      if (kind !== 'blob') return false;
      res.writeHead(302, { location: `http://blobs.example.com/${digest}` }).end();
      return true;
    });
    const e = await failure(pullImage(`${reg.host}/fake/app:1`, { ...fast, noCache: true }));
    expect(e.code).toBe('REGISTRY_PROTOCOL');
    expect(e.message).toContain('--insecure-registry blobs.example.com');
  });
});
