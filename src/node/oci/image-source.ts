/**
 * The Node entry to the read side of an image build (shared docs/oci-build.md §7 steps 1–3): open a docker
 * archive, OCI archive or OCI layout, choose the image, and index its layers with node:crypto, node:zlib and temp
 * file spills. `close()` closes the files and removes the temp files.
 */
import { selectImage, type SelectImageOptions } from '../../oci/image.js';
import { EifError } from '../../errors.js';
import { indexLayer, readChunks, type Spill } from '../../oci/layer.js';
import type { ImageSelection, LayerIndex, LayerRef } from '../../oci/types.js';
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
  /** A store that keeps layers across builds (the registry's blob cache): see {@link LayerCache}. */
  layerCache?: LayerCache;
}

/**
 * What a store that keeps layers across builds adds to pass 1 (oci-build.md §7 step 3; issue 12: "a cached build is
 * as fast as `--docker-archive`"). Every byte still goes through pass 1's digest checks: a stand-in is checked
 * against its own digest (the layer's diff_id), a spill is kept only after the diff_id matched.
 */
export interface LayerCache {
  /**
   * A compressed layer's uncompressed tar kept by an earlier build (a ref with compression `none` whose digest is the
   * diff_id), read instead of decompressing again; undefined when there is none.
   */
  uncompressed?(ref: LayerRef): LayerRef | undefined;
  /** A spill for a compressed layer that keeps its uncompressed tar once pass 1 has checked it; undefined: a temp file. */
  spill?(ref: LayerRef): Spill | undefined;
  /**
   * Pass 1 found that the bytes of `ref` do not match its digest (OCI_DIGEST_MISMATCH): remove them so they are never
   * used again, and return the error to report.
   */
  corrupt?(ref: LayerRef, e: EifError): unknown;
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
    const cache = opts.layerCache;
    const index = (ref: LayerRef) =>
      indexLayer(ref, {
        label: store.label,
        sha256: nodeSha256,
        inflate: nodeInflate,
        spill: (hint) => cache?.spill?.(ref) ?? spills.spill(hint),
        maxUncompressed: opts.maxUncompressed,
      });
    /**
     * Pass 1 failed on a cached blob: is it corrupt? A digest mismatch says so; any other failure (a corrupt gzip
     * stream fails to decompress before its digest is known, a corrupt tar fails to parse) is told apart from a bad
     * image by hashing the whole blob — only on this error path.
     */
    const corruptCopy = async (ref: LayerRef, e: unknown): Promise<EifError | undefined> => {
      if (!(e instanceof EifError)) return undefined;
      if (e.code === 'OCI_DIGEST_MISMATCH') return e;
      const h = nodeSha256();
      for await (const chunk of readChunks(ref.source)) h.update(chunk);
      const got = h.digestHex();
      return `sha256:${got}` === ref.digest ? undefined : new EifError('OCI_DIGEST_MISMATCH', `layer ${ref.index} of ${store.label}: blob digest is sha256:${got}, the manifest says ${ref.digest} (${e.message})`, { cause: e });
    };
    /** Pass 1 of one layer: its kept uncompressed tar when there is one (a corrupt one is dropped), else the blob. */
    const indexCached = async (ref: LayerRef): Promise<LayerIndex> => {
      if (!cache) return index(ref);
      const kept = cache.uncompressed?.(ref);
      if (kept) {
        try {
          return { ...(await index(kept)), ref };
        } catch (e) {
          const bad = await corruptCopy(kept, e);
          if (!bad) throw e;
          cache.corrupt?.(kept, bad); // never used again; the stored blob below is checked on its own
        }
      }
      try {
        return await index(ref);
      } catch (e) {
        const bad = cache.corrupt ? await corruptCopy(ref, e) : undefined;
        throw bad ? cache.corrupt!(ref, bad) : e;
      }
    };
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
              out[i] = await indexCached(refs[i]!);
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
