/**
 * The content-addressed blob cache of pulled images (issue 12): `<dir>/blobs/sha256/<hex>` as in an OCI layout, where
 * `<dir>` is `--cache DIR`, else `$XDG_CACHE_HOME/eifkit`, else `~/.cache/eifkit` (so the blobs are in
 * `…/eifkit/blobs`). Manifests, configs and layers are all blobs.
 *
 * Every write is a temp file next to its target, renamed over it once its digest checked (src/node/atomic.ts: the
 * temp name carries the writer's pid and start time, and leftovers of dead writers are removed). So a blob path holds
 * either nothing or a whole blob, concurrent builds need no lock (two writers of one blob rename the same bytes;
 * a reader's open fd keeps the inode it opened), and an interrupted download leaves only a temp file that the next
 * writer removes. A cached blob is hashed again before use; one that does not match its name is deleted.
 */
import { closeSync, createReadStream, mkdirSync, mkdtempSync, openSync, rmSync, statSync, unlinkSync, writeSync, ftruncateSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { EifError } from '../../errors.js';
import { openAtomic, type AtomicFile } from '../atomic.js';
import { fileSource, type FileSource } from '../file-source.js';

const DIGEST = /^sha256:([a-f0-9]{64})$/;

/**
 * The default cache folder: `$XDG_CACHE_HOME/eifkit`, else `~/.cache/eifkit` (blobs under `blobs/sha256/`).
 *
 * @example
 * import { defaultCacheDir } from 'eifkit';
 * defaultCacheDir({ HOME: '/home/me' }); // '/home/me/.cache/eifkit'
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CACHE_HOME;
  return join(xdg && xdg.startsWith('/') ? xdg : join(env.HOME || homedir(), '.cache'), 'eifkit');
}

/** Hex of a `sha256:` digest; anything else is refused (a digest names a file: no other shape may reach a path). */
export function digestHex(digest: string): string {
  const m = DIGEST.exec(digest);
  if (!m) throw new EifError('REGISTRY_UNSUPPORTED_DIGEST', `unsupported digest ${JSON.stringify(digest.slice(0, 80))}: only sha256:<64 hex> is supported`);
  return m[1]!;
}

/** SHA-256 of a file, streamed. */
async function hashFile(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) h.update(c);
  return `sha256:${h.digest('hex')}`;
}

/** A blob being written: bytes go to a temp file; `commit()` renames it into place. */
export interface BlobWriter {
  write(chunk: Uint8Array): void;
  /** Drop what was written (a download restarting from byte 0). */
  reset(): void;
  commit(): void;
  abort(): void;
}

export class BlobCache {
  readonly dir: string;
  private readonly temporary: boolean;
  private readonly fds = new Set<number>();

  /** `dir` undefined: a temporary cache (`--no-cache`), removed by `close()`. */
  constructor(dir: string | undefined) {
    this.temporary = dir === undefined;
    this.dir = dir ?? mkdtempSync(join(tmpdir(), 'eifkit-pull-'));
    try {
      mkdirSync(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    } catch (e) {
      throw new EifError('REGISTRY_CACHE', `cannot create the blob cache ${this.dir} (${(e as NodeJS.ErrnoException).code ?? 'error'}); choose another with --cache DIR or use --no-cache`);
    }
  }

  /** Path of a blob (`<dir>/blobs/sha256/<hex>`). */
  path(digest: string): string {
    return join(this.dir, 'blobs', 'sha256', digestHex(digest));
  }

  /**
   * Is the blob cached whole and intact? Hashes it; a blob whose bytes do not match its digest (or its expected size)
   * is deleted and reported absent, so it is downloaded again and never used.
   */
  async has(digest: string, size?: number): Promise<boolean> {
    const p = this.path(digest);
    let st;
    try {
      st = statSync(p);
    } catch {
      return false;
    }
    if (st.isFile() && (size === undefined || st.size === size) && (await hashFile(p)) === digest) return true;
    try {
      unlinkSync(p);
    } catch {
      /* another build removed it first */
    }
    return false;
  }

  /** Start writing a blob (temp file next to its path). */
  writer(digest: string): BlobWriter {
    let f: AtomicFile;
    try {
      f = openAtomic(this.path(digest));
    } catch (e) {
      if (e instanceof EifError && e.code !== 'OUTPUT_NOT_WRITABLE') throw e;
      throw new EifError('REGISTRY_CACHE', `cannot write to the blob cache ${this.dir}: ${(e as Error).message}; choose another with --cache DIR or use --no-cache`);
    }
    let pos = 0;
    return {
      write(chunk) {
        let off = 0;
        try {
          while (off < chunk.length) {
            const n = writeSync(f.fd, chunk, off, chunk.length - off, pos);
            off += n;
            pos += n;
          }
        } catch (e) {
          throw f.fail(e);
        }
      },
      reset() {
        ftruncateSync(f.fd, 0);
        pos = 0;
      },
      commit: () => f.commit(),
      abort: () => f.abort(),
    };
  }

  /** Store small bytes (a manifest) under their digest, after checking it. */
  put(digest: string, bytes: Uint8Array): void {
    const actual = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
    if (actual !== digest) throw new EifError('REGISTRY_DIGEST_MISMATCH', `content does not match its digest: expected ${digest}, got ${actual}`);
    const w = this.writer(digest);
    try {
      w.write(bytes);
      w.commit();
    } catch (e) {
      w.abort();
      throw e;
    }
  }

  /** A cached blob as a ByteSource (positional reads of an fd opened now; `close()` closes it). */
  open(digest: string): FileSource | undefined {
    const p = this.path(digest);
    let fd: number;
    try {
      fd = openSync(p, 'r');
    } catch {
      return undefined;
    }
    this.fds.add(fd);
    return fileSource(fd, statSync(p).size);
  }

  /** Close the blobs opened; a temporary cache is removed. */
  close(): void {
    for (const fd of this.fds) {
      try {
        closeSync(fd);
      } catch {
        /* closed */
      }
    }
    this.fds.clear();
    if (this.temporary) rmSync(this.dir, { recursive: true, force: true });
  }
}
