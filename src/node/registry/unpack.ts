/**
 * Decompression overlapping the download (issue 12, "Speed": "decompression and hashing overlap the download"): while
 * a compressed layer streams into the blob cache, a tee gunzips (or un-zstds) it into the layer's uncompressed tar,
 * `blobs/sha256/<diff_id hex>`, the file a build reads in place (layer-cache.ts). The tar is renamed into the cache
 * only after the blob matched its digest (the download checks that first) and the tar's own SHA-256 is the diff_id
 * the config names; anything else (a gzip error, a stream labelled gzip that is a plain tar, a restarted download,
 * a full disk) drops the tee quietly and pass 1 of the build does the work as for any layer, reporting any error.
 */
import { createHash } from 'node:crypto';
import { writeSync } from 'node:fs';
import * as zlib from 'node:zlib';
import { openAtomic, type AtomicFile } from '../atomic.js';
import type { BlobCache } from './cache.js';

export interface UnpackTee {
  /** Feed compressed bytes; a promise when the decompressor wants the download to wait (backpressure). */
  write(chunk: Buffer): void | Promise<void>;
  /** Stop and remove the temp tar (a restart from byte 0, an error). */
  drop(): void;
  /** After the blob was committed: finish; keep the tar when its SHA-256 is the diff_id. True when kept. */
  commit(): Promise<boolean>;
}

type ZstdZlib = { createZstdDecompress?: (opts?: zlib.ZlibOptions) => zlib.Gunzip };

/** The compression a layer media type names, when this Node can decompress it as a stream; else undefined. */
export function streamCompression(mediaType: string | undefined): 'gzip' | 'zstd' | undefined {
  if (mediaType === undefined) return undefined;
  if (/(\+gzip|\.tar\.gzip)$/.test(mediaType)) return 'gzip';
  if (/(\+zstd|\.tar\.zstd)$/.test(mediaType) && typeof (zlib as unknown as ZstdZlib).createZstdDecompress === 'function') return 'zstd';
  return undefined;
}

/**
 * A tee that writes the uncompressed tar of a downloading layer into the cache; undefined when the tar is cached
 * already or cannot be written.
 *
 * @example
 * const tee = unpackingTee(cache, 'gzip', layerDiffId);
 * await client.download(ref, digest, size, { write: (c) => (blob.write(c), tee?.write(c)), reset: () => (blob.reset(), tee?.drop()) });
 * blob.commit();
 * await tee?.commit();
 */
export function unpackingTee(cache: BlobCache, compression: 'gzip' | 'zstd', diffId: string): UnpackTee | undefined {
  if (cache.has(diffId)) return undefined;
  let f: AtomicFile;
  try {
    f = openAtomic(cache.path(diffId));
  } catch {
    return undefined;
  }
  const opts = { chunkSize: 1 << 20, writableHighWaterMark: 4 << 20 } as zlib.ZlibOptions;
  const z = compression === 'gzip' ? zlib.createGunzip(opts) : (zlib as unknown as Required<ZstdZlib>).createZstdDecompress(opts);
  const hash = createHash('sha256');
  let size = 0;
  let failed = false;
  let ended = false;
  const finished = new Promise<void>((resolve) => {
    z.on('end', () => {
      ended = true;
      resolve();
    });
    z.on('error', () => {
      failed = true;
      resolve();
    });
    z.on('close', () => resolve());
  });
  z.on('data', (u: Buffer) => {
    if (failed) return;
    try {
      for (let done = 0; done < u.length; ) done += writeSync(f.fd, u, done, u.length - done, size + done);
    } catch {
      failed = true; // e.g. ENOSPC: no kept tar, the build decompresses as usual
      z.destroy();
      return;
    }
    hash.update(u);
    size += u.length;
  });
  const drop = () => {
    failed = true;
    z.destroy();
    f.abort();
  };
  return {
    write(chunk) {
      if (failed) return;
      if (z.write(chunk)) return;
      return new Promise<void>((resolve) => {
        const go = () => {
          z.off('drain', go);
          z.off('close', go);
          resolve();
        };
        z.on('drain', go);
        z.on('close', go);
      });
    },
    drop,
    async commit() {
      if (failed) {
        drop();
        return false;
      }
      z.end();
      await finished;
      if (!failed && ended && `sha256:${hash.digest('hex')}` === diffId) {
        try {
          f.commit();
          return true;
        } catch {
          return false; // commit removed the temp file; pass 1 makes the tar
        }
      }
      drop();
      return false;
    },
  };
}
