/**
 * `--docker-uri` as an image source for the build (issue 12): pull (src/node/registry/index.ts), then the same read
 * side as `--oci-layout` — `selectImage` on the pulled store, layers indexed with node:crypto, node:zlib and temp-file
 * spills (src/node/oci/image-source.ts does this for files). The result has the shape of `openImageSource`'s, so
 * the build treats a registry image exactly like an archive.
 */
import { selectImage } from '../../oci/image.js';
import { indexLayer } from '../../oci/layer.js';
import type { LayerIndex } from '../../oci/types.js';
import type { ImageSource, OpenImageSourceOptions } from '../oci/image-source.js';
import { createSpillDir, nodeInflate, nodeSha256 } from '../oci/spill.js';
import type { ProgressStream } from './progress.js';
import { pullFromFlags, type RegistryFlags } from './index.js';
import type { PulledImage } from './pull.js';

export interface RegistryImageSource extends ImageSource {
  pulled: PulledImage;
}

const hostArch = (): 'amd64' | 'arm64' | undefined => (process.arch === 'x64' ? 'amd64' : process.arch === 'arm64' ? 'arm64' : undefined);

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
  const pulled = await pullFromFlags(flags, stderr, env);
  const spills = createSpillDir(opts.tmpDir);
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    spills.close();
    pulled.close();
  };
  try {
    // the store's index.json names one manifest: the platform was chosen while pulling
    const selection = await selectImage(pulled.store, { image: opts.image, hostArch: opts.hostArch ?? hostArch() });
    return {
      pulled,
      store: { ...pulled.store, close },
      selection,
      async indexLayers(onLayer) {
        const out: LayerIndex[] = [];
        for (const ref of selection.layers) {
          out.push(
            await indexLayer(ref, {
              label: pulled.store.label,
              sha256: nodeSha256,
              inflate: nodeInflate,
              spill: (hint) => spills.spill(hint),
              maxUncompressed: opts.maxUncompressed,
            }),
          );
          onLayer?.(out.length, selection.layers.length);
        }
        return out;
      },
      close,
    };
  } catch (e) {
    close();
    throw e;
  }
}
