/**
 * The real stages of an image build (./build-image.ts `ImageStages`): the read side (./image-source.ts: stores,
 * image selection, layer pass 1 with spills) and the rootfs side (src/oci/index.ts: docker export emulation,
 * linuxkit's rules, the gocpio plan as a virtual file; the bootstrap ramdisk). Loaded on first use.
 */
import type { ImageStages } from './build-image.js';

export async function defaultImageStages(): Promise<ImageStages> {
  const { openImageSource } = await import('./image-source.js');
  const { imageRamdisks, bootstrapRamdisk } = await import('../../oci/index.js');
  return {
    open: async (kind, path, opts) => {
      if (kind !== 'docker-uri') return openImageSource(kind, path, opts);
      // a registry image: pulled into the blob cache, then read like an OCI layout (src/node/registry, issue 12)
      const { openRegistryImage } = await import('../registry/source.js');
      return openRegistryImage({ ...opts.registry, 'docker-uri': path, platform: opts.platform }, { image: opts.image, tmpDir: opts.tmpDir });
    },
    customer: (selection, layers, opts) => imageRamdisks(selection, layers, opts),
    bootstrap: (blobs) => bootstrapRamdisk(blobs),
  };
}
