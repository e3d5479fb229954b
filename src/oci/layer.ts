/**
 * Pass 1 over one layer (shared docs/oci-build.md §7 step 3): read the stored blob once in large chunks, check its
 * digest, decompress it (gzip / zstd), check the uncompressed digest against the config's `rootfs.diff_ids`
 * entry, and parse the tar into {@link TarEntry} values with data offsets. A compressed layer's uncompressed bytes
 * go to a {@link Spill} (Node: a temp file; browsers: memory) that becomes the random-access source of later
 * stages; an uncompressed layer is used in place (no copy). Browser-safe: hashing and decompression are injected
 * (Node passes node:crypto and node:zlib from src/node/oci/), with @noble/hashes, DecompressionStream and fzstd as
 * the defaults.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { Decompress as ZstdDecompress } from 'fzstd';
import { Gunzip as FflateGunzip } from 'fflate';
import type { ByteSource } from '../eif/layout.js';
import { EifError } from '../errors.js';
import { TarStreamParser } from './tar.js';
import type { Compression, LayerIndex, LayerRef } from './types.js';

/** An incremental SHA-256. */
export interface StreamHasher {
  update(data: Uint8Array): void;
  /** Lower-case hex of the digest; called once. */
  digestHex(): string;
}
export type HasherFactory = () => StreamHasher;

/** Decompress a stream of compressed chunks into a stream of uncompressed chunks. */
export type Inflate = (compression: Exclude<Compression, 'none'>, input: AsyncIterable<Uint8Array>) => AsyncIterable<Uint8Array>;

/** Where a compressed layer's uncompressed bytes are kept for the later random reads. */
export interface Spill {
  write(chunk: Uint8Array): void | Promise<void>;
  /** All bytes written: the uncompressed tar as a ByteSource. */
  finish(): ByteSource | Promise<ByteSource>;
  /** Drop what was written (an error happened); safe to call after finish. */
  discard(): void;
}

export interface IndexLayerOptions {
  /** A spill for a compressed layer (argument: the compressed size, a hint). Default: memory. */
  spill?: (sizeHint: number) => Spill;
  /** SHA-256 factory. Default: @noble/hashes (Node passes node:crypto). */
  sha256?: HasherFactory;
  /** Decompressor. Default: DecompressionStream for gzip, fzstd for zstd. */
  inflate?: Inflate;
  /** Bytes per read of the stored blob. Default 4 MiB. */
  chunkSize?: number;
  /** Refuse a layer whose uncompressed size exceeds this (a decompression bomb): OCI_LAYER_TOO_LARGE. */
  maxUncompressed?: number;
  /** Label for messages, e.g. "docker archive app.tar". */
  label?: string;
}

/**
 * The default hasher: @noble/hashes SHA-256 (browser-safe).
 *
 * @example
 * import { nobleSha256 } from 'eifkit/browser';
 * const h = nobleSha256();
 * h.update(new TextEncoder().encode('abc'));
 * h.digestHex(); // 'ba7816bf…'
 */
export function nobleSha256(): StreamHasher {
  const h = sha256.create();
  return {
    update: (d) => void h.update(d),
    digestHex: () => {
      const out = h.digest();
      let s = '';
      for (const b of out) s += b.toString(16).padStart(2, '0');
      return s;
    },
  };
}

/** zstd with fzstd (pure JS; streaming). */
export async function* fzstdInflate(input: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  let out: Uint8Array[] = [];
  const d = new ZstdDecompress((chunk) => void out.push(chunk));
  for await (const chunk of input) {
    d.push(chunk);
    if (out.length) {
      yield* out;
      out = [];
    }
  }
  d.push(new Uint8Array(0), true);
  yield* out;
}

/**
 * gzip with fflate (pure JS): reads multi-member gzip, which Go's reader (hence Docker) accepts but browsers'
 * DecompressionStream refuses ("Junk found after end of compressed data", Chromium 156).
 */
export async function* fflateGunzip(input: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  let out: Uint8Array[] = [];
  const g = new FflateGunzip((chunk) => void out.push(chunk));
  for await (const chunk of input) {
    g.push(chunk);
    if (out.length) {
      yield* out;
      out = [];
    }
  }
  g.push(new Uint8Array(0), true);
  yield* out;
}

/**
 * gzip with the platform's DecompressionStream (browsers; Node ≥ 18). Each input chunk is written and its write
 * awaited — it resolves once the decompressor has consumed the chunk — before the next is asked for, so the
 * input may be views into one reused buffer (a Blob read through a BYOB reader: see compressedPass).
 */
async function* webGunzip(input: AsyncIterable<Uint8Array>): AsyncIterable<Uint8Array> {
  const ds = new DecompressionStream('gzip') as unknown as TransformStream<Uint8Array, Uint8Array>;
  const writer = ds.writable.getWriter();
  const reader = ds.readable.getReader();
  const pump = (async () => {
    try {
      for await (const chunk of input) await writer.write(chunk);
      await writer.close();
    } catch (e) {
      await writer.abort(e).catch(() => undefined); // the reader's next read rejects with it
    }
  })();
  let finished = false;
  try {
    for (;;) {
      const r = await reader.read();
      if (r.done) {
        finished = true;
        break;
      }
      yield r.value;
    }
  } finally {
    // the consumer stopped early (a limit, a tar error): stop the decompressor and the reading of the blob too
    if (!finished) await reader.cancel().catch(() => undefined);
    await pump;
  }
}

/**
 * The browser-safe decompressor: DecompressionStream('gzip') and fzstd.
 *
 * @example
 * import { defaultInflate } from 'eifkit/browser';
 * for await (const chunk of defaultInflate('gzip', compressedChunks)) console.log(chunk.length);
 */
export const defaultInflate: Inflate = (compression, input) => (compression === 'gzip' ? webGunzip(input) : fzstdInflate(input));

/** A ByteSource over a list of chunks (no concatenation into one buffer). */
export function chunksSource(chunks: Uint8Array[]): ByteSource {
  const starts: number[] = [];
  let size = 0;
  for (const c of chunks) {
    starts.push(size);
    size += c.length;
  }
  return {
    size,
    read(offset: number, length: number): Uint8Array {
      if (offset < 0 || length < 0 || offset + length > size) throw new EifError('OCI_TAR_TRUNCATED', `read of ${length} bytes at ${offset} is past the end (${size})`);
      // binary search for the chunk holding `offset`
      let lo = 0;
      let hi = chunks.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (starts[mid]! <= offset) lo = mid;
        else hi = mid - 1;
      }
      const first = chunks[lo]!;
      const inFirst = offset - starts[lo]!;
      if (inFirst + length <= first.length) return first.subarray(inFirst, inFirst + length);
      const out = new Uint8Array(length);
      let done = 0;
      let i = lo;
      let at = inFirst;
      while (done < length) {
        const c = chunks[i]!;
        const take = Math.min(c.length - at, length - done);
        out.set(c.subarray(at, at + take), done);
        done += take;
        i++;
        at = 0;
      }
      return out;
    },
  };
}

/**
 * The browser default spill: the uncompressed bytes in memory, as a list of chunks.
 *
 * @example
 * import { memorySpill } from 'eifkit/browser';
 * const s = memorySpill();
 * s.write(new Uint8Array(512));
 * const src = await s.finish(); // src.size === 512
 */
export function memorySpill(): Spill {
  let chunks: Uint8Array[] = [];
  return {
    write: (c) => void chunks.push(c.slice()),
    finish: () => chunksSource(chunks),
    discard: () => {
      chunks = [];
    },
  };
}

/** Read a ByteSource in chunks, in order. */
export async function* readChunks(src: ByteSource, chunkSize = 4 << 20): AsyncIterable<Uint8Array> {
  for (let off = 0; off < src.size; off += chunkSize) {
    yield await src.read(off, Math.min(chunkSize, src.size - off));
  }
}

const hexOf = (digest: string) => (digest.startsWith('sha256:') ? digest.slice(7) : undefined);

/**
 * Index one layer in one sequential pass (oci-build.md §7 step 3): blob digest, decompression, diff_id, tar
 * entries. Errors: OCI_DIGEST_MISMATCH, OCI_DIFF_ID_MISMATCH, OCI_LAYER_DECOMPRESS, OCI_LAYER_TOO_LARGE,
 * OCI_LAYER_NOT_TAR and the OCI_TAR_* codes of the parser.
 *
 * @example
 * import { indexLayer } from 'eifkit/browser';
 * const [ref] = selection.layers;
 * const layer = await indexLayer(ref);
 * for (const e of layer.entries) console.log(e.name, e.type, e.size, e.dataOffset);
 */
export async function indexLayer(ref: LayerRef, opts: IndexLayerOptions = {}): Promise<LayerIndex> {
  const label = `layer ${ref.index}${opts.label ? ` of ${opts.label}` : ''}`;
  const newHasher = opts.sha256 ?? nobleSha256;
  const chunkSize = opts.chunkSize ?? 4 << 20;
  const blobHex = ref.digest === '' ? undefined : hexOf(ref.digest);
  if (ref.digest !== '' && blobHex === undefined) throw new EifError('OCI_BAD_DIGEST', `${label}: unsupported digest ${ref.digest} (only sha256 is supported)`);
  const limit = opts.maxUncompressed ?? Infinity;

  if (ref.compression === 'none') {
    const blobHash = blobHex !== undefined ? newHasher() : undefined;
    const parser = new TarStreamParser(label);
    // the blob is the tar: one hash serves both digests when they name the same bytes
    const diffHash = ref.diffId !== undefined && ref.diffId !== ref.digest ? newHasher() : undefined;
    if (ref.source.size > limit) throw tooLarge(label, limit);
    for await (const chunk of readChunks(ref.source, chunkSize)) {
      blobHash?.update(chunk);
      diffHash?.update(chunk);
      parser.push(chunk);
    }
    parser.end();
    const blobDigest = blobHash?.digestHex();
    if (blobHex !== undefined && blobDigest !== blobHex) throw digestMismatch(label, ref.digest, blobDigest!);
    const diffDigest = diffHash ? diffHash.digestHex() : blobDigest;
    checkDiffId(ref, label, diffDigest);
    return withWarnings({ ref, source: ref.source, entries: parser.entries }, parser.warnings);
  }

  const inflate = opts.inflate ?? defaultInflate;
  try {
    return await compressedPass(ref, opts, label, inflate);
  } catch (e) {
    // the browsers' DecompressionStream refuses multi-member gzip, which Docker reads: one more pass with fflate
    // (if that pass fails too, the first error is the one to report)
    if (opts.inflate === undefined && ref.compression === 'gzip' && e instanceof EifError && e.code === 'OCI_LAYER_DECOMPRESS') {
      try {
        return await compressedPass(ref, opts, label, (_c, input) => fflateGunzip(input));
      } catch {
        throw e;
      }
    }
    throw e;
  }
}

/** One pass over a compressed layer: blob digest, decompression into the spill and the tar parser, diff_id. */
async function compressedPass(ref: LayerRef, opts: IndexLayerOptions, label: string, inflate: Inflate): Promise<LayerIndex> {
  const newHasher = opts.sha256 ?? nobleSha256;
  const chunkSize = opts.chunkSize ?? 4 << 20;
  const limit = opts.maxUncompressed ?? Infinity;
  const blobHex = ref.digest === '' ? undefined : hexOf(ref.digest);
  const blobHash = blobHex !== undefined ? newHasher() : undefined;
  const parser = new TarStreamParser(label);
  const spill = (opts.spill ?? memorySpill)(ref.size);
  try {
    const diffHash = newHasher();
    let total = 0;
    // the platform's gunzip takes views of one reused buffer (a Blob's BYOB reader: no 4 MiB garbage per read,
    // so a worker's memory stays flat however large the layer); other decompressors keep input chunks: fresh ones
    const reuse = inflate === defaultInflate && ref.compression === 'gzip' && ref.source.stream !== undefined;
    async function* compressed(): AsyncIterable<Uint8Array> {
      for await (const chunk of reuse ? ref.source.stream!(0, ref.source.size, chunkSize) : readChunks(ref.source, chunkSize)) {
        blobHash?.update(chunk);
        yield chunk;
      }
    }
    try {
      for await (const chunk of inflate(ref.compression as Exclude<Compression, 'none'>, compressed())) {
        if (chunk.length === 0) continue;
        total += chunk.length;
        if (total > limit) throw tooLarge(label, limit);
        diffHash.update(chunk);
        parser.push(chunk);
        await spill.write(chunk);
      }
    } catch (e) {
      if (e instanceof EifError) throw e;
      throw new EifError('OCI_LAYER_DECOMPRESS', `${label}: cannot decompress the ${ref.compression} data: ${(e as Error)?.message ?? String(e)}`, { cause: e });
    }
    parser.end();
    if (blobHash) {
      const got = blobHash.digestHex();
      if (got !== blobHex) throw digestMismatch(label, ref.digest, got);
    }
    checkDiffId(ref, label, diffHash.digestHex());
    const source = await spill.finish();
    return withWarnings({ ref, source, entries: parser.entries }, parser.warnings);
  } catch (e) {
    spill.discard();
    throw e;
  }
}

function withWarnings(index: LayerIndex, warnings: string[]): LayerIndex {
  if (warnings.length) index.warnings = warnings;
  return index;
}

function tooLarge(label: string, limit: number): EifError {
  return new EifError('OCI_LAYER_TOO_LARGE', `${label}: uncompressed data exceeds the limit of ${limit} bytes (a decompression bomb?)`);
}

function digestMismatch(label: string, want: string, got: string): EifError {
  return new EifError('OCI_DIGEST_MISMATCH', `${label}: blob digest is sha256:${got}, the manifest says ${want}`);
}

function checkDiffId(ref: LayerRef, label: string, got: string | undefined): void {
  if (ref.diffId === undefined) return;
  const want = hexOf(ref.diffId);
  if (want === undefined) throw new EifError('OCI_BAD_DIGEST', `${label}: unsupported diff_id ${ref.diffId} (only sha256 is supported)`);
  if (got !== want) {
    throw new EifError('OCI_DIFF_ID_MISMATCH', `${label}: uncompressed digest is sha256:${got}, the config's rootfs.diff_ids says ${ref.diffId}`);
  }
}
