/**
 * Where a browser keeps a compressed layer's uncompressed bytes for the later random reads (shared
 * docs/oci-build.md §7 step 3: pass 1 decompresses each layer once; the rootfs and cpio stages then read the tar's
 * file data by offset). Node spills to temp files (src/node/oci/spill.ts); a browser has no temp files, so:
 *  - {@link openOpfsSpillDir}: the Origin Private File System, written and read through synchronous access
 *    handles (dedicated workers only). The decompressed layer is never whole in memory: chunks go to the file
 *    as they come out of the decompressor, and reads take only the ranges asked for. The folder is removed by
 *    `close()`; folders that a closed tab left behind are removed the next time one is opened.
 *  - {@link memorySpillBudget}: memory, up to a stated limit for all layers together, beyond which the build
 *    stops with OCI_SPILL_MEMORY (where OPFS is missing: a window rather than a worker, old browsers, some
 *    private modes).
 * Browser-safe (no node:*; OPFS is looked up at run time).
 */
import type { ByteSource } from '../eif/layout.js';
import { EifError } from '../errors.js';
import { chunksSource, type Spill } from './layer.js';

/** What this module uses of FileSystemSyncAccessHandle (lib.webworker; declared here for the DOM-only build). */
interface SyncAccessHandle {
  read(buffer: Uint8Array, options: { at: number }): number;
  write(buffer: Uint8Array, options: { at: number }): number;
  flush(): void;
  close(): void;
}
interface FileHandle {
  createSyncAccessHandle?: () => Promise<SyncAccessHandle>;
}
interface DirectoryHandle {
  getDirectoryHandle(name: string, options?: { create?: boolean }): Promise<DirectoryHandle>;
  getFileHandle(name: string, options?: { create?: boolean }): Promise<FileHandle>;
  removeEntry(name: string, options?: { recursive?: boolean }): Promise<void>;
  keys?(): AsyncIterable<string>;
}

/** A folder of OPFS spill files for one image; `close()` removes it. */
export interface OpfsSpillDir {
  /** The folder's name in the origin's private file system. */
  readonly name: string;
  /** A spill for `indexLayer` (`spill` option). */
  spill(sizeHint: number): Spill;
  /** Bytes written to the folder's files so far. */
  readonly bytesWritten: number;
  /** Close every file and remove the folder (its ByteSources must not be read afterwards). */
  close(): Promise<void>;
}

const PREFIX = 'eifkit-layers-';

/**
 * Open a new OPFS spill folder, or undefined when this context cannot spill to OPFS (no
 * `navigator.storage.getDirectory`, or no synchronous access handles: they exist only in dedicated workers).
 * Folders of earlier pages that no page holds open any more are removed first.
 *
 * @example
 * import { indexLayer, memorySpillBudget, openOpfsSpillDir } from 'eifkit/browser';
 * const dir = await openOpfsSpillDir(); // in a dedicated worker
 * const spill = dir ? dir.spill : memorySpillBudget(512 << 20);
 * try {
 *   const layer = await indexLayer(ref, { spill });
 * } finally {
 *   await dir?.close();
 * }
 */
export async function openOpfsSpillDir(): Promise<OpfsSpillDir | undefined> {
  const storage = (globalThis as { navigator?: { storage?: { getDirectory?: () => Promise<DirectoryHandle> } } }).navigator?.storage;
  if (typeof storage?.getDirectory !== 'function') return undefined;
  let root: DirectoryHandle;
  try {
    root = await storage.getDirectory();
  } catch {
    return undefined; // storage refused (a private mode, a sandboxed frame)
  }
  await sweep(root);
  const name = `${PREFIX}${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
  let dir: DirectoryHandle;
  try {
    dir = await root.getDirectoryHandle(name, { create: true });
    // synchronous access handles exist only in dedicated workers: find out now, not in the middle of a layer
    const probe = await dir.getFileHandle('probe', { create: true });
    if (typeof probe.createSyncAccessHandle !== 'function') throw new Error('no createSyncAccessHandle here');
    (await probe.createSyncAccessHandle()).close();
    await dir.removeEntry('probe');
  } catch {
    await root.removeEntry(name, { recursive: true }).catch(() => undefined);
    return undefined;
  }
  const open = new Set<SyncAccessHandle>();
  let files = 0;
  let written = 0;
  return {
    name,
    get bytesWritten() {
      return written;
    },
    spill(): Spill {
      const file = `layer-${files++}.tar`;
      let handle: SyncAccessHandle | undefined;
      let size = 0;
      let discarded = false;
      const ensure = async (): Promise<SyncAccessHandle> => {
        if (!handle) {
          const fh = await dir.getFileHandle(file, { create: true });
          handle = await fh.createSyncAccessHandle!();
          open.add(handle);
        }
        return handle;
      };
      return {
        async write(chunk: Uint8Array): Promise<void> {
          let h: SyncAccessHandle;
          try {
            h = await ensure();
          } catch (e) {
            throw new EifError('OCI_SPILL_FAILED', `the browser's private file system could not open a spill file (${(e as Error)?.message ?? e})`, { cause: e });
          }
          for (let done = 0; done < chunk.length; ) {
            let n: number;
            try {
              n = h.write(chunk.subarray(done), { at: size + done });
            } catch (e) {
              throw new EifError('OCI_SPILL_FAILED', `the browser's private file system refused to keep the uncompressed layer (${(e as Error)?.message ?? e}; storage full?)`, { cause: e });
            }
            if (n <= 0) throw new EifError('OCI_SPILL_FAILED', `the browser's private file system wrote nothing at ${size + done} (storage full?)`);
            done += n;
          }
          size += chunk.length;
          written += chunk.length;
        },
        finish(): ByteSource {
          handle?.flush();
          const h = handle;
          const total = size;
          const check = (offset: number, length: number): void => {
            if (offset < 0 || length < 0 || offset + length > total) throw new EifError('OCI_TAR_TRUNCATED', `read of ${length} bytes at ${offset} is past the end (${total})`);
          };
          const fill = (out: Uint8Array, offset: number): void => {
            for (let done = 0; done < out.length; ) {
              const n = h!.read(out.subarray(done), { at: offset + done });
              if (n <= 0) throw new EifError('OCI_TAR_TRUNCATED', `the spilled layer ended at ${offset + done} of ${total} bytes`);
              done += n;
            }
          };
          let reused: Uint8Array | undefined;
          let streaming = false;
          return {
            size: total,
            read(offset: number, length: number): Uint8Array {
              check(offset, length);
              const out = new Uint8Array(length);
              fill(out, offset);
              return out;
            },
            /** Pieces read into one reused buffer (each valid until the next is asked for): nothing allocated per read. */
            async *stream(offset: number, length: number, chunk: number): AsyncIterable<Uint8Array> {
              check(offset, length);
              const want = Math.min(Math.max(1, chunk), 4 << 20, length);
              // one buffer per source, reused by each stream in turn (a second stream while one runs gets its own)
              let buf: Uint8Array;
              const shared = !streaming;
              if (shared) {
                if (!reused || reused.length < want) reused = new Uint8Array(Math.max(want, 1 << 20));
                buf = reused;
                streaming = true;
              } else {
                buf = new Uint8Array(want);
              }
              try {
                for (let at = 0; at < length; ) {
                  const piece = buf.subarray(0, Math.min(want, length - at));
                  fill(piece, offset + at);
                  at += piece.length;
                  yield piece;
                }
              } finally {
                if (shared) streaming = false;
              }
            },
          };
        },
        discard(): void {
          if (discarded) return;
          discarded = true;
          if (handle) {
            open.delete(handle);
            handle.close();
          }
          void dir.removeEntry(file).catch(() => undefined);
        },
      };
    },
    async close(): Promise<void> {
      for (const h of open) {
        try {
          h.close();
        } catch {
          /* already closed */
        }
      }
      open.clear();
      await root.removeEntry(name, { recursive: true }).catch(() => undefined);
    },
  };
}

/** Remove spill folders that no page holds open (an open file's lock makes its folder's removal fail: kept). */
async function sweep(root: DirectoryHandle): Promise<void> {
  if (typeof root.keys !== 'function') return;
  const stale: string[] = [];
  try {
    for await (const k of root.keys()) if (k.startsWith(PREFIX)) stale.push(k);
  } catch {
    return;
  }
  await Promise.all(stale.map((k) => root.removeEntry(k, { recursive: true }).catch(() => undefined)));
}

/**
 * Memory spills sharing one budget: all layers' uncompressed bytes together may not exceed `limit` bytes; the
 * write that would go past it throws OCI_SPILL_MEMORY (a discarded spill gives its bytes back). For browsers
 * without OPFS spills ({@link openOpfsSpillDir}).
 *
 * @example
 * import { indexLayer, memorySpillBudget } from 'eifkit/browser';
 * const spill = memorySpillBudget(512 << 20); // 512 MiB for all layers of the image
 * const layer = await indexLayer(ref, { spill });
 */
export function memorySpillBudget(limit: number): (sizeHint: number) => Spill {
  let used = 0;
  return () => {
    let chunks: Uint8Array[] = [];
    let mine = 0;
    return {
      write(chunk: Uint8Array): void {
        if (used + chunk.length > limit) {
          throw new EifError(
            'OCI_SPILL_MEMORY',
            `the image's uncompressed layers need more than ${limit} bytes of memory, the limit for keeping them in memory (this browser offers no private file system to spill them to: use a current browser, or build with the CLI)`,
          );
        }
        chunks.push(chunk.slice());
        used += chunk.length;
        mine += chunk.length;
      },
      finish: () => chunksSource(chunks),
      discard(): void {
        used -= mine;
        mine = 0;
        chunks = [];
      },
    };
  };
}
