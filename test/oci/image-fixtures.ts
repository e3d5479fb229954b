/** In-memory stores and images for the image-selection and layer tests (OCI layout and docker save shapes). */
import { gzipSync } from 'node:zlib';
import { bytesSource } from '../../src/eif/layout.js';
import { cleanTarName } from '../../src/oci/tar.js';
import type { BlobStore } from '../../src/oci/types.js';
import { concat, END, file, header, sha256hex, zstdRawFrame } from './tar-bytes.js';

export type Files = Map<string, Uint8Array>;
const te = new TextEncoder();

export function memStore(files: Files, label = 'test store'): BlobStore & { reads: string[] } {
  const reads: string[] = [];
  const get = (p: string) => {
    const b = files.get(cleanTarName(p).name);
    if (b) reads.push(p);
    return b ? bytesSource(b) : undefined;
  };
  return {
    label,
    reads,
    file: async (p) => get(p),
    blob: async (d) => (/^sha256:[0-9a-f]{64}$/.test(d) ? get(`blobs/sha256/${d.slice(7)}`) : undefined),
  };
}

export function putBlob(files: Files, bytes: Uint8Array | string): { digest: string; size: number; bytes: Uint8Array } {
  const b = typeof bytes === 'string' ? te.encode(bytes) : bytes;
  const digest = `sha256:${sha256hex(b)}`;
  files.set(`blobs/sha256/${digest.slice(7)}`, b);
  return { digest, size: b.length, bytes: b };
}

export const json = (v: unknown) => te.encode(JSON.stringify(v));

/** A small layer tar with one file. */
export function layerTar(name = 'hello.txt', content = 'hello'): Uint8Array {
  return concat(header({ name: 'app/', typeflag: '5', mode: 0o755 }), file(`app/${name}`, content), END);
}

export interface ImageSpec {
  arch?: string;
  os?: string;
  cmd?: string[] | null;
  entrypoint?: string[] | null;
  env?: string[];
  layers?: { tar: Uint8Array; compression?: 'none' | 'gzip' | 'zstd'; mediaType?: string }[];
  docker?: boolean;
  configMediaType?: string;
}

const LAYER_MT = { none: 'application/vnd.oci.image.layer.v1.tar', gzip: 'application/vnd.oci.image.layer.v1.tar+gzip', zstd: 'application/vnd.oci.image.layer.v1.tar+zstd' };

export function compress(tar: Uint8Array, c: 'none' | 'gzip' | 'zstd'): Uint8Array {
  return c === 'gzip' ? new Uint8Array(gzipSync(tar)) : c === 'zstd' ? zstdRawFrame(tar) : tar;
}

/** Put an image (layers, config, manifest) into `files`; returns the manifest descriptor and the config digest. */
export function putImage(files: Files, spec: ImageSpec = {}) {
  const layers = (spec.layers ?? [{ tar: layerTar() }]).map((l) => {
    const c = l.compression ?? 'none';
    const blob = putBlob(files, compress(l.tar, c));
    return { mediaType: l.mediaType ?? LAYER_MT[c], digest: blob.digest, size: blob.size, diffId: `sha256:${sha256hex(l.tar)}` };
  });
  const cfg: Record<string, unknown> = { Env: spec.env ?? ['PATH=/bin'] };
  if (spec.cmd !== undefined) cfg.Cmd = spec.cmd;
  else cfg.Cmd = ['/app/run'];
  if (spec.entrypoint !== undefined) cfg.Entrypoint = spec.entrypoint;
  const config = putBlob(files, json({ architecture: spec.arch ?? 'amd64', os: spec.os ?? 'linux', config: cfg, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) } }));
  const manifest = putBlob(
    files,
    json({
      schemaVersion: 2,
      mediaType: spec.docker ? 'application/vnd.docker.distribution.manifest.v2+json' : 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: spec.configMediaType ?? (spec.docker ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json'), digest: config.digest, size: config.size },
      layers: layers.map(({ mediaType, digest, size }) => ({ mediaType, digest, size })),
    }),
  );
  return {
    desc: { mediaType: spec.docker ? 'application/vnd.docker.distribution.manifest.v2+json' : 'application/vnd.oci.image.manifest.v1+json', digest: manifest.digest, size: manifest.size },
    configDigest: config.digest,
    configBytes: config.bytes,
    layers,
  };
}

/** An index blob over `manifests` (descriptors with platforms). */
export function putIndex(files: Files, manifests: unknown[], docker = false) {
  const mediaType = docker ? 'application/vnd.docker.distribution.manifest.list.v2+json' : 'application/vnd.oci.image.index.v1+json';
  const b = putBlob(files, json({ schemaVersion: 2, mediaType, manifests }));
  return { mediaType, digest: b.digest, size: b.size };
}

export function setIndexJson(files: Files, manifests: unknown[]): void {
  files.set('index.json', json({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
  files.set('oci-layout', json({ imageLayoutVersion: '1.0.0' }));
}

export const named = (desc: object, ...names: [string, string][]) => ({ ...desc, annotations: Object.fromEntries(names) });
