/**
 * `--docker-uri` as an image source for the build (issue 12): pull (src/node/registry/index.ts), then the same read
 * side as `--oci-layout` (`imageSourceOfStore` of src/node/oci/image-source.ts: `selectImage` on the pulled store,
 * layers indexed with node:crypto and node:zlib, their uncompressed tars kept in the blob cache: layer-cache.ts). The
 * result has the shape of `openImageSource`'s, so the build treats a registry image exactly like an archive.
 */
import { type ImageSource, type OpenImageSourceOptions, imageSourceOfStore } from '../oci/image-source.js';
import type { ProgressStream } from './progress.js';
import { pullFromFlags, type RegistryFlags } from './index.js';
import { blobLayerCache } from './layer-cache.js';
import type { PulledImage } from './pull.js';

export interface RegistryImageSource extends ImageSource {
  pulled: PulledImage;
}

/**
 * Pull the image the flags name and choose it from the pulled store; `indexLayers()` then reads its layers from the
 * blob cache. `close()` closes the cached blobs, removes spills (and a `--no-cache` cache).
 *
 * @example
 * import { openRegistryImage } from 'eifkit';
 * const src = await openRegistryImage({ 'docker-uri': 'localhost:5000/app:1', quiet: true });
 * try {
 *   const layers = await src.indexLayers();
 *   console.log(src.selection.cmd, src.pulled.manifestDigest, layers.length);
 * } finally {
 *   src.close();
 * }
 */
export async function openRegistryImage(
  flags: RegistryFlags,
  opts: Omit<OpenImageSourceOptions, 'platform'> = {},
  stderr?: ProgressStream,
  env?: NodeJS.ProcessEnv,
): Promise<RegistryImageSource> {
  // layers decompress as they download, into the uncompressed tars the build reads (unpack.ts, layer-cache.ts)
  const pulled = await pullFromFlags(flags, stderr, env, { unpack: true });
  // the store's index.json names one manifest: the platform was chosen while pulling
  // the cache keeps each layer's uncompressed tar, so that a cached build reads tars in place as an archive build does
  const src = await imageSourceOfStore({ ...pulled.store, close: () => pulled.close() }, { ...opts, layerCache: blobLayerCache(pulled.cache) });
  return { ...src, pulled };
}
