/**
 * The blob cache as a layer cache for the build's pass 1 (issue 12: "a cached build is as fast as
 * `--docker-archive`"; shared docs/oci-build.md §7 step 3). Registry layers are compressed, `docker save` layers are
 * not: without more, a cached build would gunzip every layer again and write its uncompressed copy to a temp file,
 * where the archive build reads its tars in place. So the first build keeps each compressed layer's uncompressed tar
 * (made while the layer downloads: unpack.ts; else here, by pass 1's spill) in the cache, as the blob it is — `blobs/sha256/<diff_id hex>`, its SHA-256 being the config's `rootfs.diff_ids`
 * entry — and later builds read that tar in place, as an archive build does (Docker's own store keeps uncompressed
 * layers by diff_id too). The cache then holds each layer twice (compressed, for the next pull's "nothing to
 * download", and uncompressed); `--no-cache` keeps nothing.
 *
 * Integrity, once per build, before any byte reaches the EIF: a kept tar is read as an uncompressed layer whose digest
 * is the diff_id, so pass 1 hashes it and refuses it on a mismatch; the diff_id comes from the config, whose digest
 * the manifest names. A tar is kept only after pass 1 checked the compressed blob's digest and the diff_id (written
 * to a temp file next to its path, renamed after the checks: src/node/atomic.ts, as every cache write). A kept tar
 * that does not match is deleted and the layer is read from its compressed blob instead; a compressed blob that does
 * not match is deleted and the build fails with REGISTRY_DIGEST_MISMATCH (the next build downloads it again).
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { EifError } from '../../errors.js';
import type { Spill } from '../../oci/layer.js';
import type { LayerRef } from '../../oci/types.js';
import { openAtomic, type AtomicFile } from '../atomic.js';
import { fileSource } from '../file-source.js';
import type { LayerCache } from '../oci/image-source.js';
import type { BlobCache } from './cache.js';

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const TAR = 'application/vnd.oci.image.layer.v1.tar';

/** Does `ref` have an uncompressed tar worth keeping (compressed, with a sha256 diff_id)? */
const keepable = (ref: LayerRef): ref is LayerRef & { diffId: string } =>
  ref.compression !== 'none' && ref.diffId !== undefined && DIGEST.test(ref.diffId) && ref.diffId !== ref.digest;

/**
 * The {@link LayerCache} of a blob cache: kept uncompressed tars read in place, spills that become kept tars, corrupt
 * blobs deleted.
 *
 * @example
 * // src/node/registry/source.ts (openRegistryImage) does this:
 * const img = await pullImage('localhost:5000/app:1');
 * const src = await imageSourceOfStore({ ...img.store, close: () => img.close() }, { layerCache: blobLayerCache(img.cache) });
 * try {
 *   await src.indexLayers(); // the first build keeps the uncompressed tars, the next reads them in place
 * } finally {
 *   src.close();
 * }
 */
export function blobLayerCache(cache: BlobCache): LayerCache {
  return {
    uncompressed(ref) {
      if (!keepable(ref)) return undefined;
      const source = cache.open(ref.diffId);
      if (!source) return undefined;
      return { index: ref.index, mediaType: TAR, digest: ref.diffId, diffId: ref.diffId, size: source.size, compression: 'none', source };
    },
    spill(ref): Spill | undefined {
      if (!keepable(ref)) return undefined;
      let f: AtomicFile;
      try {
        f = openAtomic(cache.path(ref.diffId));
      } catch {
        return undefined; // a cache we cannot write to: the usual temp spill
      }
      let size = 0;
      return {
        write(chunk) {
          let done = 0;
          try {
            while (done < chunk.length) done += writeSync(f.fd, chunk, done, chunk.length - done, size + done);
          } catch (e) {
            f.abort();
            throw new EifError(`IO_${(e as NodeJS.ErrnoException).code ?? 'EIO'}`, `cannot write the uncompressed layer ${ref.diffId} to the blob cache ${cache.dir}: ${(e as Error).message}`);
          }
          size += chunk.length;
        },
        finish() {
          // pass 1 has checked the blob and the diff_id: keep the tar. The fd read from now on is the temp file's
          // own inode (opened before the rename), the bytes just checked.
          const fd = openSync(f.tempPath, 'r');
          try {
            f.commit();
          } catch (e) {
            closeSync(fd);
            throw e;
          }
          cache.adopt(fd);
          return fileSource(fd, size);
        },
        discard: () => f.abort(),
      };
    },
    corrupt(ref, e) {
      cache.remove(ref.digest);
      return new EifError(
        'REGISTRY_DIGEST_MISMATCH',
        `${e.message}: the cached copy in ${cache.dir} was corrupt and has been deleted, never used; the next build downloads it again`,
        { cause: e },
      );
    },
  };
}
