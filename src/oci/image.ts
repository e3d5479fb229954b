/**
 * Choosing the image in a store and reading what nitro-cli takes from it (shared docs/oci-build.md §1.1 "cmd / env
 * files", §3 "docker save" note, §7 steps 1–2): `docker save` tars in the legacy form (`manifest.json`) and the OCI
 * form Docker ≥ 25 and buildx write (`index.json` + `blobs/sha256/…`; preferred when both exist, and then both must
 * agree), OCI layout folders and archives, nested indexes, `--image` by tag or ref name, `--platform` from a
 * multi-arch index. Manifests, indexes and the config are read whole (capped) and their digests checked here;
 * layer digests are checked while the layers are read (layer.ts). Browser-safe.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import type { ByteSource } from '../eif/layout.js';
import { EifError } from '../errors.js';
import type { BlobStore, Compression, ImageSelection, LayerRef } from './types.js';

export interface SelectImageOptions {
  /** `--image`: a tag or ref name (`name:tag`, `tag`, `docker.io/library/name:tag`), or `[name@]sha256:<hex>` of a manifest in index.json. */
  image?: string;
  /** `--platform`: `linux/amd64` or `linux/arm64` (a variant such as `linux/arm64/v8` is accepted). */
  platform?: string;
  /** The host's architecture: the default platform when an index offers several. */
  hostArch?: 'amd64' | 'arm64';
}

/** Largest manifest, index, config or manifest.json read (the JSON documents are read whole). */
export const MAX_JSON_BYTES = 8 << 20;
/** Deepest chain of nested indexes followed. */
const MAX_INDEX_DEPTH = 8;

export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
} as const;

const INDEX_TYPES = new Set<string>([MEDIA.ociIndex, MEDIA.dockerList]);
const MANIFEST_TYPES = new Set<string>([MEDIA.ociManifest, MEDIA.dockerManifest]);
const CONFIG_TYPES = new Set<string>([MEDIA.ociConfig, MEDIA.dockerConfig]);

/** Layer media types → compression (OCI and Docker names, nondistributable / foreign variants). */
const LAYER_TYPES: Record<string, Compression> = {
  'application/vnd.oci.image.layer.v1.tar': 'none',
  'application/vnd.oci.image.layer.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd': 'zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar': 'none',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip': 'gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd': 'zstd',
  'application/vnd.docker.image.rootfs.diff.tar': 'none',
  'application/vnd.docker.image.rootfs.diff.tar.gzip': 'gzip',
  'application/vnd.docker.image.rootfs.diff.tar.zstd': 'zstd',
  'application/vnd.docker.image.rootfs.foreign.diff.tar': 'none',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip': 'gzip',
};

/**
 * The compression a layer media type names, or undefined for a type that is not a layer.
 *
 * @example
 * import { layerCompression } from 'eifkit/browser';
 * layerCompression('application/vnd.oci.image.layer.v1.tar+zstd'); // 'zstd'
 */
export function layerCompression(mediaType: string): Compression | undefined {
  return LAYER_TYPES[mediaType];
}

/**
 * Compression told by the first bytes (gzip `1f 8b`, zstd `28 b5 2f fd`, else none), for legacy `layer.tar`
 * members whose name says nothing (docker save may store gzip there).
 *
 * @example
 * import { sniffCompression } from 'eifkit/browser';
 * sniffCompression(new Uint8Array([0x1f, 0x8b, 8, 0])); // 'gzip'
 */
export function sniffCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  return 'none';
}

const TAR_MAGIC_END = 263;

/** No gzip/zstd magic, and a ustar/GNU magic at offset 257 of the first header: an uncompressed tar. */
function isPlainTar(head: Uint8Array): boolean {
  if (head.length < TAR_MAGIC_END || sniffCompression(head) !== 'none') return false;
  return String.fromCharCode(...head.subarray(257, 262)) === 'ustar';
}

function hex(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

function checkDigestSyntax(digest: unknown, what: string, label: string): string {
  if (typeof digest !== 'string' || !DIGEST_RE.test(digest)) {
    const shown = typeof digest === 'string' ? digest.slice(0, 80) : String(digest);
    throw new EifError('OCI_BAD_DIGEST', `${label}: ${what} has digest ${JSON.stringify(shown)}; eifkit reads sha256:<64 hex> digests only`);
  }
  return digest;
}

async function readWhole(src: ByteSource, what: string, label: string): Promise<Uint8Array> {
  if (src.size > MAX_JSON_BYTES) throw new EifError('OCI_JSON_TOO_LARGE', `${label}: ${what} is ${src.size} bytes; the limit is ${MAX_JSON_BYTES}`);
  const out = new Uint8Array(src.size);
  const CH = 1 << 20;
  for (let o = 0; o < src.size; o += CH) out.set(await src.read(o, Math.min(CH, src.size - o)), o);
  return out;
}

function parseJson(bytes: Uint8Array, what: string, label: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw new EifError('OCI_JSON_INVALID', `${label}: ${what} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof v !== 'object' || v === null) throw new EifError('OCI_JSON_INVALID', `${label}: ${what} is not a JSON object`);
  return v as Record<string, unknown>;
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string; variant?: string };
}

function descriptor(v: unknown, what: string, label: string): Descriptor {
  if (typeof v !== 'object' || v === null) throw new EifError('OCI_JSON_INVALID', `${label}: ${what} is not a descriptor object`);
  const d = v as Record<string, unknown>;
  const digest = checkDigestSyntax(d.digest, what, label);
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0) {
    throw new EifError('OCI_JSON_INVALID', `${label}: ${what} has no valid size`);
  }
  const out: Descriptor = { digest, size: d.size };
  if (typeof d.mediaType === 'string') out.mediaType = d.mediaType;
  if (typeof d.annotations === 'object' && d.annotations !== null) {
    out.annotations = {};
    for (const [k, val] of Object.entries(d.annotations)) if (typeof val === 'string') out.annotations[k] = val;
  }
  if (typeof d.platform === 'object' && d.platform !== null) out.platform = d.platform as Descriptor['platform'];
  return out;
}

/** Read a blob by descriptor, check its size and digest, parse it as JSON. */
async function readJsonBlob(store: BlobStore, d: Descriptor, what: string): Promise<{ json: Record<string, unknown>; bytes: Uint8Array }> {
  const src = await store.blob(d.digest);
  if (!src) throw new EifError('OCI_BLOB_MISSING', `${store.label}: the ${what} ${d.digest} is not in the store`);
  if (src.size !== d.size) {
    throw new EifError('OCI_SIZE_MISMATCH', `${store.label}: the ${what} ${d.digest} is ${src.size} bytes; its descriptor says ${d.size}`);
  }
  const bytes = await readWhole(src, `the ${what} ${d.digest}`, store.label);
  const got = `sha256:${hex(sha256(bytes))}`;
  if (got !== d.digest) throw new EifError('OCI_DIGEST_MISMATCH', `${store.label}: the ${what} ${d.digest} has digest ${got}`);
  return { json: parseJson(bytes, `the ${what} ${d.digest}`, store.label), bytes };
}

/** The kind of a JSON document: its mediaType field, else its shape. */
function docKind(json: Record<string, unknown>, declared: string | undefined): 'index' | 'manifest' {
  const mt = typeof json.mediaType === 'string' ? json.mediaType : declared;
  if (mt !== undefined && INDEX_TYPES.has(mt)) return 'index';
  if (mt !== undefined && MANIFEST_TYPES.has(mt)) return 'manifest';
  if (mt === undefined && Array.isArray(json.manifests)) return 'index';
  if (mt === undefined && Array.isArray(json.layers)) return 'manifest';
  throw new EifError('OCI_MEDIA_TYPE', `unsupported media type ${JSON.stringify(mt ?? '(none)')}: expected an OCI / Docker image index or manifest`);
}

/**
 * A reference in its long form, as Docker normalises it: `app` → `docker.io/library/app:latest`,
 * `me/app:1` → `docker.io/me/app:1`, `reg.example:5000/app` → `reg.example:5000/app:latest`.
 *
 * @example
 * import { normalizeImageRef } from 'eifkit/browser';
 * normalizeImageRef('app:1'); // 'docker.io/library/app:1'
 */
export function normalizeImageRef(ref: string): string {
  let name = ref;
  let suffix = '';
  const at = name.indexOf('@');
  if (at >= 0) {
    suffix = name.slice(at);
    name = name.slice(0, at);
  }
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  if (colon > slash) {
    suffix = name.slice(colon) + suffix;
    name = name.slice(0, colon);
  } else if (at < 0) suffix = ':latest';
  const first = name.split('/')[0]!;
  const hasDomain = name.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (!hasDomain) name = `docker.io/${name}`;
  if (name.startsWith('docker.io/') && !name.slice(10).includes('/')) name = `docker.io/library/${name.slice(10)}`;
  return name.toLowerCase() + suffix;
}

/** Does the user's `--image` value name this candidate name? */
function refMatches(user: string, name: string): boolean {
  if (user === name) return true;
  if (normalizeImageRef(user) === normalizeImageRef(name)) return true;
  // a bare OCI ref.name tag ("latest", "1.0") matched by "anything:1.0" is too loose; only exact tag match above
  return false;
}

interface Candidate {
  names: string[];
  desc: Descriptor;
  /** manifest.json entry (legacy form) when this candidate comes from it. */
  legacy?: LegacyEntry;
}

interface LegacyEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
  LayerSources?: Record<string, unknown>;
}

const NAME_KEYS = ['io.containerd.image.name', 'org.opencontainers.image.ref.name'];

function describeCandidates(cands: Candidate[]): string {
  return cands.map((c) => (c.names.length ? c.names.join(', ') : `(untagged ${c.desc.digest.slice(0, 19)})`)).join('; ');
}

function pickCandidate(cands: Candidate[], image: string | undefined, label: string): Candidate {
  if (cands.length === 0) throw new EifError('OCI_IMAGE_NOT_FOUND', `${label} holds no image`);
  if (image !== undefined) {
    // `name@sha256:…` or a bare `sha256:…` also names the manifest (or index) by its digest
    const at = image.lastIndexOf('@');
    const byDigest = at >= 0 ? image.slice(at + 1) : image;
    const hits = cands.filter((c) => c.names.some((n) => refMatches(image, n)) || c.desc.digest === byDigest);
    if (hits.length === 0) throw new EifError('OCI_IMAGE_NOT_FOUND', `${label} has no image named ${JSON.stringify(image)}; it holds: ${describeCandidates(cands)}`);
    const distinct = new Set(hits.map((c) => c.desc.digest));
    if (distinct.size > 1) throw new EifError('OCI_IMAGE_AMBIGUOUS', `${label}: ${JSON.stringify(image)} names several images: ${describeCandidates(hits)}`);
    return hits[0]!;
  }
  if (cands.length > 1) {
    throw new EifError('OCI_IMAGE_AMBIGUOUS', `${label} holds ${cands.length} images; choose one with --image: ${describeCandidates(cands)}`);
  }
  return cands[0]!;
}

/** Merge descriptors that point at the same digest (several tags of one image). */
function dedupe(cands: Candidate[]): Candidate[] {
  const by = new Map<string, Candidate>();
  for (const c of cands) {
    const had = by.get(c.desc.digest);
    if (had) {
      for (const n of c.names) if (!had.names.includes(n)) had.names.push(n);
    } else by.set(c.desc.digest, { ...c, names: [...c.names] });
  }
  return [...by.values()];
}

function parsePlatform(p: string | undefined): { os: string; architecture: string; variant?: string } | undefined {
  if (p === undefined) return undefined;
  const m = /^([a-z0-9]+)\/([a-z0-9_]+)(?:\/([a-z0-9]+))?$/.exec(p);
  if (!m || m[1] !== 'linux' || (m[2] !== 'amd64' && m[2] !== 'arm64')) {
    throw new EifError('OCI_PLATFORM_INVALID', `--platform ${JSON.stringify(p)}: use linux/amd64 or linux/arm64 (the Nitro Enclaves architectures)`, { exitCode: 2 });
  }
  return m[3] ? { os: m[1], architecture: m[2], variant: m[3] } : { os: m[1], architecture: m[2] };
}

const platformText = (p: Descriptor['platform']) => (p ? [p.os ?? '?', p.architecture ?? '?', p.variant].filter(Boolean).join('/') : '(no platform)');

/** Resolve a descriptor through nested indexes to one image manifest, choosing the platform. */
async function resolveManifest(
  store: BlobStore,
  desc: Descriptor,
  opts: SelectImageOptions,
  depth: number,
): Promise<{ desc: Descriptor; json: Record<string, unknown> }> {
  if (depth > MAX_INDEX_DEPTH) throw new EifError('OCI_INDEX_TOO_DEEP', `${store.label}: indexes nested more than ${MAX_INDEX_DEPTH} deep`);
  if (desc.mediaType !== undefined && !INDEX_TYPES.has(desc.mediaType) && !MANIFEST_TYPES.has(desc.mediaType)) {
    throw new EifError('OCI_MEDIA_TYPE', `${store.label}: ${desc.digest} has media type ${desc.mediaType}, not an image index or manifest`);
  }
  const { json } = await readJsonBlob(store, desc, 'manifest');
  let kind: 'index' | 'manifest';
  try {
    kind = docKind(json, desc.mediaType);
  } catch (e) {
    throw new EifError('OCI_MEDIA_TYPE', `${store.label}: ${desc.digest}: ${(e as Error).message}`);
  }
  if (kind === 'manifest') return { desc, json };
  const list = Array.isArray(json.manifests) ? json.manifests : undefined;
  if (!list) throw new EifError('OCI_JSON_INVALID', `${store.label}: index ${desc.digest} has no manifests list`);
  const children = list.map((m, i) => descriptor(m, `manifests[${i}] of index ${desc.digest}`, store.label));
  // buildx attestation manifests (platform unknown/unknown) are not images to run
  const images = children.filter(
    (c) => c.annotations?.['vnd.docker.reference.type'] !== 'attestation-manifest' && !(c.platform?.os === 'unknown' && c.platform?.architecture === 'unknown'),
  );
  const want = parsePlatform(opts.platform);
  // `docker save` of a multi-platform image (containerd store) keeps the whole index but only some platforms'
  // blobs: choose among the manifests that are here
  const here = new Set<string>();
  for (const c of images) if ((await store.blob(c.digest)) !== undefined) here.add(c.digest);
  const withPlatform = images.filter((c) => c.platform !== undefined);
  let pick: Descriptor | undefined;
  if (withPlatform.length === 0) {
    // an index without platforms (a plain OCI layout nested one level): it must hold exactly one image
    if (images.length !== 1) throw new EifError('OCI_PLATFORM_AMBIGUOUS', `${store.label}: index ${desc.digest} lists ${images.length} manifests without platforms`);
    pick = images[0]!;
  } else {
    const linux = withPlatform.filter((c) => c.platform?.os === 'linux');
    const match = (arch: string, variant?: string) =>
      linux.filter((c) => c.platform?.architecture === arch && (variant === undefined || (c.platform?.variant ?? (arch === 'arm64' ? 'v8' : undefined)) === variant));
    const offered = withPlatform.map((c) => platformText(c.platform)).join(', ');
    const present = linux.filter((c) => here.has(c.digest));
    if (want) {
      const hits = match(want.architecture, want.variant);
      if (hits.length === 0) throw new EifError('OCI_PLATFORM_NOT_FOUND', `${store.label}: no ${opts.platform} image in the index; it offers: ${offered}`);
      pick = hits.find((c) => here.has(c.digest));
      if (!pick) throw new EifError('OCI_PLATFORM_NOT_FOUND', `${store.label}: the index lists a ${opts.platform} image but its manifest is not in the archive (docker save keeps only the platforms pulled)`);
    } else if (linux.length === 1) {
      pick = linux[0];
    } else if (present.length === 1) {
      pick = present[0];
    } else {
      const hits = opts.hostArch ? match(opts.hostArch).filter((c) => here.has(c.digest)) : [];
      if (hits.length === 0) {
        throw new EifError('OCI_PLATFORM_AMBIGUOUS', `${store.label}: the image is multi-platform (${offered}); choose one with --platform linux/amd64 or linux/arm64`);
      }
      pick = hits[0];
    }
  }
  return resolveManifest(store, pick!, opts, depth + 1);
}

/** The config JSON's fields nitro-cli uses (§1.1): cmd, env, architecture. */
function configFields(config: Record<string, unknown>, label: string, warnings: string[]): Pick<ImageSelection, 'architecture' | 'os' | 'cmd' | 'env'> {
  const arch = config.architecture;
  if (arch !== 'amd64' && arch !== 'arm64') {
    throw new EifError('OCI_ARCH_UNSUPPORTED', `${label}: the image's architecture is ${JSON.stringify(arch ?? null)}; Nitro Enclaves run amd64 (x86_64) or arm64 (aarch64) images`);
  }
  const os = typeof config.os === 'string' ? config.os : '';
  const c = (typeof config.config === 'object' && config.config !== null ? config.config : {}) as Record<string, unknown>;
  const strings = (v: unknown, what: string): string[] | undefined => {
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new EifError('OCI_JSON_INVALID', `${label}: config ${what} is not a list of strings`);
    return v as string[];
  };
  const cmd = strings(c.Cmd, 'Cmd');
  const entrypoint = strings(c.Entrypoint, 'Entrypoint');
  const env = strings(c.Env, 'Env') ?? [];
  let lines: string[];
  if (cmd !== undefined) {
    lines = cmd;
    if (entrypoint !== undefined && entrypoint.length > 0) {
      warnings.push(`the image has ENTRYPOINT ${JSON.stringify(entrypoint)} and CMD ${JSON.stringify(cmd)}; as nitro-cli does, the enclave runs CMD only (the ENTRYPOINT is dropped)`);
    }
  } else if (entrypoint !== undefined) lines = entrypoint;
  else throw new EifError('OCI_NO_ENTRYPOINT', `${label}: the image has neither CMD nor ENTRYPOINT (nitro-cli: UnsupportedEntryPoint); add one to the image`);
  return { architecture: arch, os, cmd: lines, env };
}

function diffIdsOf(config: Record<string, unknown>, label: string): string[] {
  const rootfs = config.rootfs as Record<string, unknown> | undefined;
  const ids = rootfs && Array.isArray(rootfs.diff_ids) ? rootfs.diff_ids : undefined;
  if (!ids) throw new EifError('OCI_JSON_INVALID', `${label}: the config has no rootfs.diff_ids`);
  return ids.map((d, i) => checkDigestSyntax(d, `rootfs.diff_ids[${i}]`, label));
}

async function selectFromIndex(store: BlobStore, indexJson: Record<string, unknown>, opts: SelectImageOptions): Promise<ImageSelection> {
  const label = store.label;
  if (!Array.isArray(indexJson.manifests)) throw new EifError('OCI_JSON_INVALID', `${label}: index.json has no manifests list`);
  const cands = dedupe(
    indexJson.manifests.map((m, i) => {
      const desc = descriptor(m, `index.json manifests[${i}]`, label);
      const names = NAME_KEYS.map((k) => desc.annotations?.[k]).filter((n): n is string => n !== undefined && n !== '');
      return { names: [...new Set(names)], desc };
    }),
  );
  const chosen = pickCandidate(cands, opts.image, label);
  const warnings: string[] = [];
  const { desc: mdesc, json: manifest } = await resolveManifest(store, chosen.desc, opts, 0);
  const cfgDesc = descriptor(manifest.config, `config of manifest ${mdesc.digest}`, label);
  if (cfgDesc.mediaType !== undefined && !CONFIG_TYPES.has(cfgDesc.mediaType)) {
    throw new EifError('OCI_MEDIA_TYPE', `${label}: manifest ${mdesc.digest} has config media type ${cfgDesc.mediaType}; it is not a container image`);
  }
  const { json: config } = await readJsonBlob(store, cfgDesc, 'config');
  const fields = configFields(config, label, warnings);
  if (opts.platform) {
    const want = parsePlatform(opts.platform)!;
    if (want.architecture !== fields.architecture) {
      throw new EifError('OCI_PLATFORM_NOT_FOUND', `${label}: the image is ${fields.os}/${fields.architecture}, not ${opts.platform}`);
    }
  }
  const diffIds = diffIdsOf(config, label);
  const layersJson = Array.isArray(manifest.layers) ? manifest.layers : undefined;
  if (!layersJson) throw new EifError('OCI_JSON_INVALID', `${label}: manifest ${mdesc.digest} has no layers list`);
  if (layersJson.length !== diffIds.length) {
    throw new EifError('OCI_JSON_INVALID', `${label}: manifest ${mdesc.digest} lists ${layersJson.length} layers but the config has ${diffIds.length} diff_ids`);
  }
  const layers: LayerRef[] = [];
  for (let i = 0; i < layersJson.length; i++) {
    const d = descriptor(layersJson[i], `layer ${i} of manifest ${mdesc.digest}`, label);
    const mediaType = d.mediaType ?? '';
    let compression = layerCompression(mediaType);
    if (compression === undefined) throw new EifError('OCI_MEDIA_TYPE', `${label}: layer ${i} (${d.digest}) has media type ${JSON.stringify(mediaType)}, which is not a tar layer eifkit reads (tar, tar+gzip, tar+zstd)`);
    const source = await store.blob(d.digest);
    if (!source) throw new EifError('OCI_BLOB_MISSING', `${label}: layer ${i} ${d.digest} is not in the store`);
    if (source.size !== d.size) throw new EifError('OCI_SIZE_MISMATCH', `${label}: layer ${i} ${d.digest} is ${source.size} bytes; the manifest says ${d.size}`);
    if (compression !== 'none' && isPlainTar(await source.read(0, Math.min(TAR_MAGIC_END, source.size)))) {
      // skopeo 1.9 (`--dest-oci-accept-uncompressed-layers`) labels plain tars +gzip; containerd goes by the bytes
      // (oci-build.md §7 step 3: magic-byte fallback), and so does eifkit — the digests are checked all the same.
      warnings.push(`layer ${i} (${d.digest}) is labelled ${mediaType} but is an uncompressed tar; read as one`);
      compression = 'none';
    }
    layers.push({ index: i, mediaType, digest: d.digest, diffId: diffIds[i]!, size: d.size, compression, source });
  }
  return {
    ...fields,
    config,
    configDigest: cfgDesc.digest,
    manifestDigest: mdesc.digest,
    repoTags: chosen.names,
    layers,
    warnings,
  };
}

function legacyEntries(json: unknown, label: string): LegacyEntry[] {
  if (!Array.isArray(json)) throw new EifError('OCI_JSON_INVALID', `${label}: manifest.json is not a list`);
  return json.map((e, i) => {
    const o = e as Record<string, unknown>;
    if (typeof o !== 'object' || o === null || typeof o.Config !== 'string' || !Array.isArray(o.Layers) || !o.Layers.every((l) => typeof l === 'string')) {
      throw new EifError('OCI_JSON_INVALID', `${label}: manifest.json entry ${i} has no Config or Layers`);
    }
    const tags = Array.isArray(o.RepoTags) ? o.RepoTags.filter((t): t is string => typeof t === 'string') : [];
    return { Config: o.Config, RepoTags: tags, Layers: o.Layers as string[] };
  });
}

/** `blobs/sha256/<hex>` → its digest; a legacy `<hex>.json` config name → its digest; else undefined. */
function digestOfPath(p: string): string | undefined {
  const m = /^(?:\.\/)?blobs\/sha256\/([0-9a-f]{64})$/.exec(p) ?? /^(?:\.\/)?([0-9a-f]{64})\.json$/.exec(p);
  return m ? `sha256:${m[1]}` : undefined;
}

async function selectFromLegacy(store: BlobStore, entries: LegacyEntry[], opts: SelectImageOptions): Promise<ImageSelection> {
  const label = store.label;
  const cands: Candidate[] = entries.map((e, i) => ({
    names: e.RepoTags,
    desc: { digest: digestOfPath(e.Config) ?? `manifest.json entry ${i}`, size: 0 },
    legacy: e,
  }));
  const chosen = pickCandidate(dedupe(cands), opts.image, label);
  const entry = chosen.legacy!;
  const warnings: string[] = [];
  const cfgSrc = await store.file(entry.Config);
  if (!cfgSrc) throw new EifError('OCI_BLOB_MISSING', `${label}: the config ${entry.Config} named by manifest.json is missing`);
  const bytes = await readWhole(cfgSrc, `config ${entry.Config}`, label);
  const configDigest = `sha256:${hex(sha256(bytes))}`;
  const named = digestOfPath(entry.Config);
  if (named !== undefined && named !== configDigest) {
    throw new EifError('OCI_DIGEST_MISMATCH', `${label}: the config ${entry.Config} has digest ${configDigest}`);
  }
  const config = parseJson(bytes, `config ${entry.Config}`, label);
  const fields = configFields(config, label, warnings);
  if (opts.platform) {
    const want = parsePlatform(opts.platform)!;
    if (want.architecture !== fields.architecture) {
      throw new EifError('OCI_PLATFORM_NOT_FOUND', `${label}: the image is ${fields.os}/${fields.architecture}, not ${opts.platform}`);
    }
  }
  const diffIds = diffIdsOf(config, label);
  if (diffIds.length !== entry.Layers.length) {
    throw new EifError('OCI_JSON_INVALID', `${label}: manifest.json lists ${entry.Layers.length} layers but the config has ${diffIds.length} diff_ids`);
  }
  const layers: LayerRef[] = [];
  for (let i = 0; i < entry.Layers.length; i++) {
    const path = entry.Layers[i]!;
    const source = await store.file(path);
    if (!source) throw new EifError('OCI_BLOB_MISSING', `${label}: layer ${i} ${path} named by manifest.json is missing`);
    const compression = sniffCompression(await source.read(0, Math.min(4, source.size)));
    const blobDigest = digestOfPath(path);
    const mediaType =
      compression === 'none' ? 'application/vnd.docker.image.rootfs.diff.tar' : compression === 'gzip' ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : 'application/vnd.oci.image.layer.v1.tar+zstd';
    // a `<id>/layer.tar` name says nothing about the blob digest: uncompressed, it is the diff_id; else unknown ('')
    const digest = blobDigest ?? (compression === 'none' ? diffIds[i]! : '');
    layers.push({ index: i, mediaType, digest, diffId: diffIds[i]!, size: source.size, compression, source });
  }
  return { ...fields, config, configDigest, repoTags: entry.RepoTags, layers, warnings };
}

/**
 * Choose the image of a store and read its config (oci-build.md §7 steps 1–2). `index.json` is preferred when the
 * store also has a legacy `manifest.json`; the two must then give the same config and layers for the chosen image.
 * Errors: OCI_NO_IMAGE_INDEX, OCI_IMAGE_AMBIGUOUS, OCI_IMAGE_NOT_FOUND, OCI_PLATFORM_*, OCI_ARCH_UNSUPPORTED,
 * OCI_NO_ENTRYPOINT, OCI_MEDIA_TYPE, OCI_BLOB_MISSING, OCI_DIGEST_MISMATCH, OCI_SIZE_MISMATCH, OCI_JSON_*.
 *
 * @example
 * import { selectImage } from 'eifkit/browser';
 * const sel = await selectImage(store, { image: 'app:1', platform: 'linux/amd64' });
 * console.log(sel.architecture, sel.cmd, sel.env, sel.layers.length);
 */
export async function selectImage(store: BlobStore, opts: SelectImageOptions = {}): Promise<ImageSelection> {
  parsePlatform(opts.platform); // a bad --platform is a usage error before anything is read
  const label = store.label;
  const indexSrc = await store.file('index.json');
  const legacySrc = await store.file('manifest.json');
  let legacy: LegacyEntry[] | undefined;
  if (legacySrc) legacy = legacyEntries(parseJson(await readWhole(legacySrc, 'manifest.json', label), 'manifest.json', label) as unknown, label);
  if (indexSrc) {
    const indexJson = parseJson(await readWhole(indexSrc, 'index.json', label), 'index.json', label);
    const sel = await selectFromIndex(store, indexJson, opts);
    const top = new Set((indexJson.manifests as { digest?: unknown }[]).map((m) => m?.digest));
    if (legacy) checkAgreement(sel, legacy, label, top.has(sel.manifestDigest));
    return sel;
  }
  if (legacy) return selectFromLegacy(store, legacy, opts);
  throw new EifError('OCI_NO_IMAGE_INDEX', `${label} has neither index.json (OCI layout) nor manifest.json (docker save): it is not a container image archive`);
}

/** Docker ≥ 25 writes both forms: the legacy entry for the chosen config must list the same layer blobs. */
function checkAgreement(sel: ImageSelection, legacy: LegacyEntry[], label: string, direct: boolean): void {
  const same = legacy.filter((e) => digestOfPath(e.Config) === sel.configDigest);
  // a tag of a multi-platform index names the host's platform in manifest.json: compare by tag only for plain manifests
  const tagged = direct ? legacy.filter((e) => e.RepoTags.some((t) => sel.repoTags.some((n) => refMatches(t, n)))) : [];
  for (const e of [...same, ...tagged]) {
    const cfg = digestOfPath(e.Config);
    const layerDigests = e.Layers.map(digestOfPath);
    const agree = cfg === sel.configDigest && layerDigests.length === sel.layers.length && layerDigests.every((d, i) => d === undefined || d === sel.layers[i]!.digest);
    if (!agree) {
      throw new EifError('OCI_ARCHIVE_DISAGREE', `${label}: index.json and manifest.json describe ${e.RepoTags.join(', ') || 'the image'} differently (config ${sel.configDigest} vs ${e.Config}); the archive is inconsistent`);
    }
  }
}
