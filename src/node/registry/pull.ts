/**
 * `pullImage(ref, opts)`: resolve an image reference on a registry to one platform's manifest, fetch its config and
 * layers into the blob cache (by digest, checked while streaming, in parallel), and hand the result to the build as a
 * {@link BlobStore} that reads like an OCI layout (`oci-layout`, `index.json` naming the chosen manifest, blobs by
 * digest), so the image is read exactly as from `docker save` / an OCI layout (issue 12). A second pull of the same
 * image downloads no blob: by digest it makes no request at all; by tag one HEAD for the tag's current digest.
 */
import { createHash } from 'node:crypto';
import { EifError } from '../../errors.js';
import type { BlobStore } from '../../oci/types.js';
import { bytesSource } from '../../eif/layout.js';
import { BlobCache, defaultCacheDir } from './cache.js';
import { readBody, RegistryClient, type RegistryClientOptions } from './client.js';
import { apiHost, formatReference, parseReference, type ImageReference } from './reference.js';
import { streamCompression, unpackingTee } from './unpack.js';

export const MT = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;
const ACCEPT = [MT.ociIndex, MT.ociManifest, MT.dockerList, MT.dockerManifest].join(', ');
const CONFIG_TYPES = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);
const LAYER_TYPES = new Set([
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.docker.image.rootfs.diff.tar',
  'application/vnd.docker.image.rootfs.diff.tar.zstd',
]);
/** distribution's own limit on a manifest's size. */
const MANIFEST_LIMIT = 4 << 20;

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface PullProgress {
  digest: string;
  /** Bytes so far and in all. */
  done: number;
  total: number;
  /** The blob was in the cache: nothing downloaded. */
  cached: boolean;
}

export interface PullOptions extends RegistryClientOptions {
  /** `os/arch[/variant]` (`linux/arm64`); default: the index's only platform, else the host's. */
  platform?: string;
  /** Cache folder (`--cache DIR`; default {@link defaultCacheDir}); `noCache`: a temporary one, removed by `close()`. */
  cacheDir?: string;
  noCache?: boolean;
  /** Layers downloaded at once (default 4). */
  concurrency?: number;
  onProgress?: (p: PullProgress) => void;
  /**
   * Also decompress each compressed layer while it downloads, into its uncompressed tar in the cache (named by its
   * diff_id: unpack.ts), which a build reads in place. Default false (a pull alone does not need it).
   */
  unpack?: boolean;
  /** Environment for the cache folder's default (default: process.env). */
  env?: NodeJS.ProcessEnv;
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  platform?: Platform & { 'os.version'?: string };
  annotations?: Record<string, string>;
}

export interface PulledImage {
  /**
   * The image as an OCI layout: `file('oci-layout')`, `file('index.json')`, `blob(digest)`. Manifests and the config
   * were checked against their digests; a layer found in the cache only by its presence and size — its reader checks
   * its digest (the build's pass 1 does: src/node/registry/layer-cache.ts), as for any OCI layout.
   */
  store: BlobStore;
  reference: ImageReference;
  /** `docker.io/library/app:latest`. */
  name: string;
  /** Digest of the platform's image manifest, and of the index it came from (when there was one). */
  manifestDigest: string;
  manifestMediaType: string;
  indexDigest?: string;
  platform?: Platform;
  configDigest: string;
  layers: Descriptor[];
  /** Blobs downloaded now (not from the cache), bytes downloaded. */
  downloaded: { blobs: number; bytes: number };
  cacheDir: string;
  /** The blob cache the image is in (its layers' uncompressed tars are kept there too: src/node/registry/layer-cache.ts). */
  cache: BlobCache;
  /** Close the cached blobs' files (and remove a `--no-cache` temporary cache). */
  close(): void;
}

/** `os/arch[/variant]` → Platform (Docker's normalisation: x86_64 → amd64, aarch64 → arm64, arm64 variant v8). */
export function parsePlatform(s: string): Platform {
  const parts = s.toLowerCase().split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new EifError('USAGE', `--platform ${JSON.stringify(s)}: expected os/architecture[/variant], e.g. linux/amd64 or linux/arm64`, { exitCode: 2 });
  }
  const arch = ({ x86_64: 'amd64', x86: '386', aarch64: 'arm64' } as Record<string, string>)[parts[1]!] ?? parts[1]!;
  return { os: parts[0]!, architecture: arch, ...(parts[2] !== undefined ? { variant: parts[2] } : {}) };
}

/** The host's platform as Go names it. */
export function hostPlatform(): Platform {
  const arch = ({ x64: 'amd64', arm64: 'arm64', ia32: '386', arm: 'arm' } as Record<string, string>)[process.arch] ?? process.arch;
  return { os: 'linux', architecture: arch };
}

const fmt = (p: Platform) => `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;

function matches(want: Platform, p: Platform | undefined): boolean {
  if (!p || p.os !== want.os || p.architecture !== want.architecture) return false;
  if (want.variant === undefined) return true;
  const v = p.variant ?? (p.architecture === 'arm64' ? 'v8' : undefined);
  return v === want.variant;
}

/** Pick the manifest of an index for a platform (docs: issue 12; default the only real platform, else the host's). */
export function choosePlatform(manifests: Descriptor[], wanted: string | undefined, label: string): Descriptor {
  // buildx's attestation manifests carry platform unknown/unknown: never an image to run
  const images = manifests.filter((m) => m.platform?.os !== 'unknown' && m.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest');
  const list = images.map((m) => (m.platform ? fmt(m.platform) : '(no platform)')).join(', ') || 'none';
  if (wanted === undefined && images.length === 1) return images[0]!;
  const want = wanted !== undefined ? parsePlatform(wanted) : hostPlatform();
  const hit = images.find((m) => matches(want, m.platform));
  if (hit) return hit;
  throw new EifError(
    'REGISTRY_PLATFORM_NOT_FOUND',
    `${label} has no image for ${fmt(want)}${wanted === undefined ? " (the host's platform; choose one with --platform)" : ''}; it has: ${list}`,
  );
}

function parseJson(bytes: Uint8Array, what: string): Record<string, unknown> {
  try {
    const v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown;
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* below */
  }
  throw new EifError('REGISTRY_BAD_MANIFEST', `${what} is not a JSON object`);
}

function descriptor(v: unknown, what: string): Descriptor {
  const d = v as Descriptor;
  if (d === null || typeof d !== 'object' || typeof d.digest !== 'string' || typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw new EifError('REGISTRY_BAD_MANIFEST', `${what}: a descriptor lacks a digest or a size`);
  }
  // the digest becomes a URL path and a cache file name: nothing but sha256:<64 hex> gets that far
  if (!/^sha256:[a-f0-9]{64}$/.test(d.digest)) {
    throw new EifError('REGISTRY_UNSUPPORTED_DIGEST', `${what}: unsupported digest ${JSON.stringify(d.digest.slice(0, 80))} (only sha256:<64 hex>)`);
  }
  return d;
}

/** The kind of a manifest, from its mediaType field, else the Content-Type, else its shape (OCI allows omitting it). */
function kindOf(json: Record<string, unknown>, contentType: string | undefined, what: string): 'index' | 'manifest' {
  const mt = typeof json.mediaType === 'string' ? json.mediaType : contentType?.split(';')[0]?.trim();
  if (mt === MT.ociIndex || mt === MT.dockerList) return 'index';
  if (mt === MT.ociManifest || mt === MT.dockerManifest) return 'manifest';
  if (json.schemaVersion === 1 || mt?.startsWith('application/vnd.docker.distribution.manifest.v1')) {
    throw new EifError('REGISTRY_UNSUPPORTED_MEDIA_TYPE', `${what} is a Docker schema 1 manifest (deprecated, unsupported); push the image again with a current Docker or skopeo`);
  }
  if ((mt === undefined || mt === 'application/json') && Array.isArray(json.manifests)) return 'index';
  if ((mt === undefined || mt === 'application/json') && Array.isArray(json.layers)) return 'manifest';
  throw new EifError('REGISTRY_UNSUPPORTED_MEDIA_TYPE', `${what} has media type ${JSON.stringify(mt ?? '(none)')}, which is not an image manifest or index`);
}

const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/**
 * Pull an image into the blob cache and return it as a BlobStore the build reads like an OCI layout.
 *
 * @example
 * import { pullImage } from 'eifkit';
 * const img = await pullImage('localhost:5000/app:1.0', { platform: 'linux/amd64' });
 * try {
 *   console.log(img.manifestDigest, img.layers.length, img.downloaded);
 *   // selectImage(img.store, {}) reads it as an OCI layout
 * } finally {
 *   img.close();
 * }
 */
export async function pullImage(ref: string | ImageReference, opts: PullOptions = {}): Promise<PulledImage> {
  const r = typeof ref === 'string' ? parseReference(ref) : ref;
  const name = formatReference(r);
  const cache = new BlobCache(opts.noCache ? undefined : (opts.cacheDir ?? defaultCacheDir(opts.env)));
  const client = new RegistryClient(opts);
  try {
    const host = apiHost(r.registry);
    const where = `${r.registry}/${r.repository}`;
    const downloaded = { blobs: 0, bytes: 0 };

    /** A manifest's bytes: from the cache when its digest is known and cached, else from the registry. */
    const fetchManifest = async (reference: string, expected?: Descriptor): Promise<{ bytes: Uint8Array; digest: string; contentType?: string }> => {
      const byDigest = reference.startsWith('sha256:');
      const cached = byDigest ? cache.readVerified(reference, expected?.size, MANIFEST_LIMIT) : undefined;
      if (cached) return { bytes: cached, digest: reference };
      if (!byDigest && !opts.noCache) {
        // HEAD: the tag's current digest without a manifest GET (Docker Hub counts GETs against the pull limit)
        const { res } = await client.request(r, 'HEAD', `manifests/${reference}`, { accept: ACCEPT });
        res.resume();
        const d = res.headers['docker-content-digest'];
        if (res.statusCode === 404) throw notFound(reference);
        const hit = res.statusCode === 200 && typeof d === 'string' && /^sha256:[a-f0-9]{64}$/.test(d) ? cache.readVerified(d, undefined, MANIFEST_LIMIT) : undefined;
        if (hit) return { bytes: hit, digest: d as string, contentType: res.headers['content-type'] };
      }
      const { res } = await client.request(r, 'GET', `manifests/${reference}`, { accept: ACCEPT });
      if (res.statusCode === 404) {
        res.resume();
        throw notFound(reference);
      }
      if (res.statusCode !== 200) throw new EifError('REGISTRY_PROTOCOL', `${host} answered ${await RegistryClient.describe(res)} for manifest ${reference} of ${r.repository}`);
      const bytes = await readBody(res, MANIFEST_LIMIT, `manifest ${reference} of ${where}`, client.timeoutMs);
      const digest = sha256(bytes);
      const stated = res.headers['docker-content-digest'];
      const want = byDigest ? reference : typeof stated === 'string' && stated.startsWith('sha256:') ? stated : undefined;
      if (want !== undefined && want !== digest) {
        throw new EifError('REGISTRY_DIGEST_MISMATCH', `manifest ${reference} of ${where} does not match its digest: expected ${want}, got ${digest}; refused`);
      }
      if (expected !== undefined && expected.size !== bytes.length) {
        throw new EifError('REGISTRY_DIGEST_MISMATCH', `manifest ${reference} of ${where} has ${bytes.length} bytes, its index says ${expected.size}; refused`);
      }
      cache.put(digest, bytes);
      return { bytes, digest, contentType: res.headers['content-type'] };
    };
    const notFound = (reference: string) =>
      new EifError('REGISTRY_MANIFEST_NOT_FOUND', `${where}: no manifest for ${reference.startsWith('sha256:') ? 'digest' : 'tag'} ${reference} (404): check the repository name and tag`);

    // 1. the reference's manifest, down through indexes to one platform's image manifest
    let m = await fetchManifest(r.digest ?? r.tag!);
    let indexDigest: string | undefined;
    let platform: Platform | undefined;
    let json = parseJson(m.bytes, `manifest of ${name}`);
    let kind = kindOf(json, m.contentType, `manifest of ${name}`);
    for (let depth = 0; kind === 'index'; depth++) {
      if (depth >= 4) throw new EifError('REGISTRY_BAD_MANIFEST', `${name}: indexes nested more than 4 deep`);
      indexDigest ??= m.digest;
      const list = (Array.isArray(json.manifests) ? json.manifests : []).map((d) => descriptor(d, `index ${m.digest}`));
      const chosen = choosePlatform(list, opts.platform, name);
      platform = chosen.platform ? { os: chosen.platform.os, architecture: chosen.platform.architecture, ...(chosen.platform.variant ? { variant: chosen.platform.variant } : {}) } : platform;
      m = await fetchManifest(chosen.digest, chosen);
      if (m.digest !== chosen.digest) throw new EifError('REGISTRY_DIGEST_MISMATCH', `manifest ${chosen.digest} of ${where} does not match its digest; refused`);
      json = parseJson(m.bytes, `manifest ${chosen.digest}`);
      kind = kindOf(json, chosen.mediaType ?? m.contentType, `manifest ${chosen.digest}`);
    }
    const manifestMediaType = typeof json.mediaType === 'string' ? json.mediaType : MT.ociManifest;
    const config = descriptor(json.config, `manifest ${m.digest}`);
    if (config.mediaType !== undefined && !CONFIG_TYPES.has(config.mediaType)) {
      throw new EifError('REGISTRY_UNSUPPORTED_MEDIA_TYPE', `${name} is not a container image: its config has media type ${JSON.stringify(config.mediaType)}`);
    }
    const layers = (Array.isArray(json.layers) ? json.layers : []).map((d) => descriptor(d, `manifest ${m.digest}`));
    for (const l of layers) {
      if (l.mediaType !== undefined && !LAYER_TYPES.has(l.mediaType)) {
        throw new EifError('REGISTRY_UNSUPPORTED_MEDIA_TYPE', `${name}: layer ${l.digest} has media type ${JSON.stringify(l.mediaType)} (supported: tar, tar+gzip, tar+zstd)`);
      }
    }

    // 2. config, then layers by digest, in parallel (bounded), each checked while it streams (and, with `unpack`,
    // decompressed as it streams: the config's diff_ids name the uncompressed tars, so it comes first)
    const unique = [config, ...layers].filter((d, i, all) => all.findIndex((x) => x.digest === d.digest) === i);
    for (const b of unique) cache.path(b.digest); // refuses a digest that is not sha256 before anything is fetched
    const fetchBlob = async (d: Descriptor, diffId?: string) => {
      // a layer: present with its size (pass 1 of the build checks its digest as it reads it); the config: checked
      // now, in memory (a few KiB). Either, when it does not match, is deleted and downloaded again.
      const cached = d === config ? cache.readVerified(d.digest, d.size, 64 << 20) !== undefined : cache.has(d.digest, d.size);
      if (cached) {
        opts.onProgress?.({ digest: d.digest, done: d.size, total: d.size, cached: true });
        return;
      }
      const w = cache.writer(d.digest);
      const compression = diffId !== undefined ? streamCompression(d.mediaType) : undefined;
      const tee = compression ? unpackingTee(cache, compression, diffId!) : undefined;
      let done = 0;
      try {
        const sink = {
          write: (c: Buffer) => {
            w.write(c);
            return tee?.write(c);
          },
          reset: () => {
            w.reset();
            tee?.drop(); // a restart from byte 0: pass 1 decompresses this one
          },
        };
        await client.download(r, d.digest, d.size, sink, (n) => {
          done += n;
          downloaded.bytes += n;
          opts.onProgress?.({ digest: d.digest, done, total: d.size, cached: false });
        });
        w.commit();
        downloaded.blobs++;
      } catch (e) {
        w.abort();
        tee?.drop();
        throw e;
      }
      await tee?.commit(); // the blob is in: keep its tar if its SHA-256 is the diff_id
    };
    await fetchBlob(config);
    const diffIds = opts.unpack ? layerDiffIds(await readCached(cache, config.digest), layers) : new Map<string, string>();
    const blobs = unique.filter((d) => d !== config);
    let next = 0;
    const worker = async () => {
      while (next < blobs.length) {
        const d = blobs[next++]!;
        await fetchBlob(d, diffIds.get(d.digest));
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 4, blobs.length)) }, worker));

    // 3. a plain manifest named by --platform must be for that platform (an index was chosen from already)
    if (opts.platform !== undefined && indexDigest === undefined) {
      const cfg = parseJson(await readCached(cache, config.digest), `config of ${name}`);
      const p = { os: String(cfg.os ?? ''), architecture: String(cfg.architecture ?? ''), ...(typeof cfg.variant === 'string' ? { variant: cfg.variant } : {}) };
      if (!matches(parsePlatform(opts.platform), p)) {
        throw new EifError('REGISTRY_PLATFORM_NOT_FOUND', `${name} is a single-platform image for ${fmt(p)}, not ${opts.platform}`);
      }
      platform = p;
    }

    // 4. the store: an OCI layout whose index.json names the chosen manifest. Its one name is what `docker inspect`
    // shows as RepoTags after `docker pull REF` (the familiar form: `app:latest`, `ghcr.io/org/app:1`; none for a
    // pull by digest), so the image reads as its `docker save` tar does (same DockerInfo, same EIF bytes)
    const annotations: Record<string, string> = {};
    if (r.tag !== undefined && r.digest === undefined) annotations['io.containerd.image.name'] = familiarName(r);
    const index = {
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      manifests: [{ mediaType: manifestMediaType, digest: m.digest, size: m.bytes.length, ...(platform ? { platform } : {}), annotations }],
    };
    const files: Record<string, Uint8Array> = {
      'oci-layout': new TextEncoder().encode('{"imageLayoutVersion":"1.0.0"}'),
      'index.json': new TextEncoder().encode(JSON.stringify(index)),
    };
    const wanted = new Set([m.digest, config.digest, ...layers.map((l) => l.digest)]);
    const store: BlobStore = {
      label: `registry image ${name}`,
      file: async (path) => (files[path] ? bytesSource(files[path]!) : undefined),
      blob: async (digest) => (wanted.has(digest) ? cache.open(digest) : undefined),
    };
    return {
      store,
      reference: r,
      name,
      manifestDigest: m.digest,
      manifestMediaType,
      ...(indexDigest !== undefined ? { indexDigest } : {}),
      ...(platform ? { platform } : {}),
      configDigest: config.digest,
      layers,
      downloaded,
      cacheDir: cache.dir,
      cache,
      close: () => cache.close(),
    };
  } catch (e) {
    cache.close();
    throw e;
  } finally {
    client.close();
  }
}

/** Layer digest → its diff_id (the config's `rootfs.diff_ids`, same order), when the config lists them soundly. */
function layerDiffIds(configBytes: Uint8Array, layers: Descriptor[]): Map<string, string> {
  const out = new Map<string, string>();
  let ids: unknown;
  try {
    ids = (JSON.parse(new TextDecoder().decode(configBytes)) as { rootfs?: { diff_ids?: unknown } }).rootfs?.diff_ids;
  } catch {
    return out; // the build's read side reports a bad config
  }
  if (!Array.isArray(ids) || ids.length !== layers.length) return out;
  layers.forEach((l, i) => {
    const id = ids[i];
    if (typeof id === 'string' && /^sha256:[a-f0-9]{64}$/.test(id) && id !== l.digest) out.set(l.digest, id);
  });
  return out;
}

/** Docker's familiar form of a reference: no `docker.io/`, no `library/` (reference.FamiliarString). */
export function familiarName(r: ImageReference): string {
  const repo = r.registry === 'docker.io' ? r.repository.replace(/^library\/(?=[^/]+$)/, '') : `${r.registry}/${r.repository}`;
  return `${repo}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest !== undefined ? `@${r.digest}` : ''}`;
}

async function readCached(cache: BlobCache, digest: string): Promise<Uint8Array> {
  const bytes = cache.readVerified(digest, undefined, MANIFEST_LIMIT * 2);
  if (!bytes) throw new EifError('REGISTRY_CACHE', `blob ${digest} vanished from the cache ${cache.dir} (or changed) while the image was pulled`);
  return bytes;
}
