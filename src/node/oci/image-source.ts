/**
 * The Node entry to the read side of an image build (shared docs/oci-build.md §7 steps 1–3): open a docker
 * archive, OCI archive or OCI layout, choose the image, and index its layers with node:crypto, node:zlib and temp
 * file spills. `close()` closes the files and removes the temp files.
 */
import { selectImage, type SelectImageOptions } from '../../oci/image.js';
import { indexLayer } from '../../oci/layer.js';
import type { ImageSelection, LayerIndex } from '../../oci/types.js';
import { createSpillDir } from './spill.js';
import { nodeInflate, nodeSha256 } from './spill.js';
import { openDockerArchive, openOciArchive, openOciLayout, type NodeBlobStore } from './stores.js';

export type ImageSourceKind = 'docker-archive' | 'oci-archive' | 'oci-layout';

export interface OpenImageSourceOptions extends SelectImageOptions {
  /** Folder for the uncompressed copies of compressed layers (default: the OS temp dir). */
  tmpDir?: string;
  /** Refuse a layer that decompresses to more bytes than this (default: no limit). */
  maxUncompressed?: number;
  /** Layers indexed at the same time (default 2). */
  concurrency?: number;
}

export interface ImageSource {
  store: NodeBlobStore;
  selection: ImageSelection;
  /** Pass 1 over every layer, bottom first; digests and diff_ids checked. */
  indexLayers(onLayer?: (done: number, total: number) => void): Promise<LayerIndex[]>;
  /** Close the input and remove the temp files (safe to call twice). */
  close(): void;
}

const hostArch = (): 'amd64' | 'arm64' | undefined => (process.arch === 'x64' ? 'amd64' : process.arch === 'arm64' ? 'arm64' : undefined);

/**
 * Open an image input and choose the image.
 *
 * @example
 * import { openImageSource } from 'eifkit';
 * const src = await openImageSource('docker-archive', 'app.tar', { image: 'app:1' });
 * try {
 *   const layers = await src.indexLayers();
 *   console.log(src.selection.cmd, layers.map((l) => l.entries.length));
 * } finally {
 *   src.close();
 * }
 */
export async function openImageSource(kind: ImageSourceKind, path: string, opts: OpenImageSourceOptions = {}): Promise<ImageSource> {
  const store = kind === 'oci-layout' ? openOciLayout(path) : kind === 'oci-archive' ? await openOciArchive(path) : await openDockerArchive(path);
  return imageSourceOfStore(store, opts);
}

/**
 * Choose the image of an open store and index its layers (the part every Node input shares: files here, the
 * registry's blob cache in src/node/registry/source.ts). Takes the store: `close()` closes it; so does a failure.
 */
export async function imageSourceOfStore(store: NodeBlobStore, opts: OpenImageSourceOptions = {}): Promise<ImageSource> {
  const spills = createSpillDir(opts.tmpDir);
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    spills.close();
    store.close();
  };
  try {
    const { image, platform } = opts;
    const selection = await selectImage(store, { image, platform, hostArch: opts.hostArch ?? hostArch() });
    return {
      store,
      selection,
      async indexLayers(onLayer) {
        // compressed layers decompress on libuv's threads: two at a time keep two cores busy
        const refs = selection.layers;
        const out: LayerIndex[] = new Array(refs.length);
        let next = 0;
        let done = 0;
        let failed = false;
        const errors = new Map<number, unknown>();
        const worker = async () => {
          while (!failed && next < refs.length) {
            const i = next++;
            try {
              out[i] = await indexLayer(refs[i]!, {
                label: store.label,
                sha256: nodeSha256,
                inflate: nodeInflate,
                spill: (hint) => spills.spill(hint),
                maxUncompressed: opts.maxUncompressed,
              });
            } catch (e) {
              failed = true;
              errors.set(i, e);
              return;
            }
            onLayer?.(++done, refs.length);
          }
        };
        const n = Math.max(1, Math.min(opts.concurrency ?? 2, refs.length));
        await Promise.all(Array.from({ length: n }, worker));
        // the lowest failing layer's error, whichever finished first (layers below it all started before it)
        if (errors.size) throw errors.get(Math.min(...errors.keys()));
        return out;
      },
      close,
    };
  } catch (e) {
    close();
    throw e;
  }
}
