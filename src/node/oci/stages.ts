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
    open: (kind, path, opts) => openImageSource(kind, path, opts),
    customer: (selection, layers, opts) => imageRamdisks(selection, layers, opts),
    bootstrap: (blobs) => bootstrapRamdisk(blobs),
  };
}
