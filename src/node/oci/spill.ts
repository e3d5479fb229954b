/**
 * Node injections for layer pass 1 (shared docs/oci-build.md §7 step 3): node:crypto SHA-256, node:zlib gunzip (and
 * zstd where this Node has it; fzstd otherwise), and spills to temp files that are removed when the image source
 * is closed, when the process exits, and on Ctrl-C / SIGTERM / SIGHUP (as src/node/atomic.ts does for outputs).
 */
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { processStartTime, writerAlive } from '../atomic.js';
import { createHash } from 'node:crypto';
import { tmpdir, constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { Readable, pipeline } from 'node:stream';
import * as zlib from 'node:zlib';
import type { ByteSource } from '../../eif/layout.js';
import { EifError } from '../../errors.js';
import { fzstdInflate, type Inflate, type Spill, type StreamHasher } from '../../oci/layer.js';
import { fileSource } from '../file-source.js';

/** SHA-256 with node:crypto (native speed). */
export function nodeSha256(): StreamHasher {
  const h = createHash('sha256');
  return { update: (d) => void h.update(d), digestHex: () => h.digest('hex') };
}

type ZstdZlib = { createZstdDecompress?: (opts?: { chunkSize?: number }) => NodeJS.ReadWriteStream & AsyncIterable<Buffer> };

/** Does this Node's zlib decompress zstd (22.15 / 23.8 and later)? */
export const NODE_HAS_ZSTD = typeof (zlib as unknown as ZstdZlib).createZstdDecompress === 'function';

/** gzip through node:zlib (multi-member like Go's reader), zstd through node:zlib when present, else fzstd. */
export const nodeInflate: Inflate = (compression, input) => {
  if (compression === 'zstd' && !NODE_HAS_ZSTD) return fzstdInflate(input);
  const t =
    compression === 'gzip'
      ? zlib.createGunzip({ chunkSize: 1 << 20 })
      : (zlib as unknown as Required<ZstdZlib>).createZstdDecompress({ chunkSize: 1 << 20 });
  pipeline(Readable.from(input), t, () => undefined); // an error destroys `t`, which rejects its iteration
  return t as unknown as AsyncIterable<Uint8Array>;
};

/** Temp spill files of this process, removed at exit or on a signal. */
const live = new Set<string>();
let hooked = false;

function removeAll(): void {
  for (const p of live) {
    try {
      rmSync(p, { recursive: true, force: true });
    } catch {
      /* already gone */
    }
  }
  live.clear();
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', removeAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      removeAll();
      process.exit(128 + osConstants.signals[sig]);
    });
  }
}

/** A folder of temp spill files; `close()` removes it and everything in it. */
export interface SpillDir {
  readonly path: string | undefined;
  spill(sizeHint: number): Spill;
  close(): void;
}

/** `eifkit-layers-<pid>-<start>-` : who made a spill folder (start = /proc start time, `x` without /proc). */
const PREFIX_RE = /^eifkit-layers-(\d+)-(\d+|x)-[A-Za-z0-9]{6}$/;

/**
 * Remove the spill folders that dead processes left in `parent` (SIGKILL, a power cut: nothing ran at exit).
 * A live process's folder is never touched. Returns the names removed.
 */
export function removeDeadSpills(parent: string): string[] {
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = PREFIX_RE.exec(name);
    if (!m || writerAlive(Number(m[1]), m[2]!)) continue;
    try {
      rmSync(join(parent, name), { recursive: true, force: true });
      removed.push(name);
    } catch {
      /* not ours to remove */
    }
  }
  return removed;
}

/**
 * Temp files for the uncompressed copies of compressed layers, in a private folder (mode 0700) under `parent`
 * (default the OS temp dir), created on first use; the folder's name says which process made it, so that the
 * folders of killed processes are removed by the next run.
 */
export function createSpillDir(parent: string = tmpdir()): SpillDir {
  let dir: string | undefined;
  let n = 0;
  const fds = new Set<number>();
  return {
    get path() {
      return dir;
    },
    spill(): Spill {
      if (dir === undefined) {
        hook();
        try {
          removeDeadSpills(parent);
          dir = mkdtempSync(join(parent, `eifkit-layers-${process.pid}-${processStartTime(process.pid) ?? 'x'}-`));
        } catch (e) {
          throw new EifError(`IO_${(e as NodeJS.ErrnoException).code ?? 'EIO'}`, `cannot create a temp folder for uncompressed layers in ${parent}: ${(e as Error).message}`);
        }
        live.add(dir);
      }
      const path = join(dir, `layer-${n++}.tar`);
      const fd = openSync(path, 'wx+', 0o600);
      fds.add(fd);
      let size = 0;
      let open = true;
      return {
        write(chunk: Uint8Array) {
          let done = 0;
          try {
            while (done < chunk.length) done += writeSync(fd, chunk, done, chunk.length - done, size + done);
          } catch (e) {
            throw new EifError(`IO_${(e as NodeJS.ErrnoException).code ?? 'EIO'}`, `cannot write the uncompressed layer to ${path}: ${(e as Error).message}`);
          }
          size += chunk.length;
        },
        finish(): ByteSource {
          return fileSource(fd, size);
        },
        discard() {
          if (!open) return;
          open = false;
          fds.delete(fd);
          try {
            closeSync(fd);
            unlinkSync(path);
          } catch {
            /* gone */
          }
        },
      };
    },
    close() {
      for (const fd of fds) {
        try {
          closeSync(fd);
        } catch {
          /* closed */
        }
      }
      fds.clear();
      if (dir !== undefined) {
        rmSync(dir, { recursive: true, force: true });
        live.delete(dir);
        dir = undefined;
      }
    },
  };
}
