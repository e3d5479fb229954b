/**
 * The content-addressed blob cache of pulled images (issue 12): `<dir>/blobs/sha256/<hex>` as in an OCI layout, where
 * `<dir>` is `--cache DIR`, else `$XDG_CACHE_HOME/eifkit`, else `~/.cache/eifkit` (so the blobs are in
 * `…/eifkit/blobs`). Manifests, configs and layers are all blobs.
 *
 * Every write is a temp file next to its target, renamed over it once its digest checked (src/node/atomic.ts: the
 * temp name carries the writer's pid and start time, and leftovers of dead writers are removed). So a blob path holds
 * either nothing or a whole blob, concurrent builds need no lock (two writers of one blob rename the same bytes;
 * a reader's open fd keeps the inode it opened), and an interrupted download leaves only a temp file that the next
 * writer removes.
 *
 * A cached blob is checked against its digest once per build, by the read that uses it, and deleted when it does not
 * match (never used): manifests and configs (a few KiB) are hashed in memory when read ({@link BlobCache.readVerified});
 * a layer is hashed by the build's pass 1, which reads it anyway (src/node/registry/layer-cache.ts deletes it on a
 * mismatch), so {@link BlobCache.has} looks only at its presence and size — hashing it here too cost a warm build one
 * more read and SHA-256 of every layer.
 */
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statSync, unlinkSync, writeSync, ftruncateSync } from 'node:fs';
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

const sha256 = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

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
   * Is the blob cached, a regular file of the expected size? Its bytes are not hashed here: the read that uses them
   * checks them (see the module comment). A file of another size is deleted and reported absent.
   */
  has(digest: string, size?: number): boolean {
    const p = this.path(digest);
    let st;
    try {
      st = statSync(p);
    } catch {
      return false;
    }
    if (st.isFile() && (size === undefined || st.size === size)) return true;
    this.remove(digest);
    return false;
  }

  /**
   * A small cached blob (manifest, config) read whole and checked against its digest (and `size` when given);
   * undefined when absent or when it does not match — then it is deleted, so it is fetched again and never used.
   */
  readVerified(digest: string, size?: number, limit = 8 << 20): Uint8Array | undefined {
    if (!this.has(digest, size)) return undefined;
    const p = this.path(digest);
    let fd: number;
    try {
      fd = openSync(p, 'r');
    } catch {
      return undefined;
    }
    let bytes: Uint8Array;
    try {
      const src = fileSource(fd, statSync(p).size);
      if (src.size > limit) throw new EifError('REGISTRY_RESPONSE_TOO_LARGE', `blob ${digest} in the cache ${this.dir} is ${src.size} bytes, too large to be a manifest or config`);
      bytes = src.read(0, src.size) as Uint8Array;
    } finally {
      closeSync(fd);
    }
    if (sha256(bytes) === digest) return bytes;
    this.remove(digest);
    return undefined;
  }

  /** Delete a cached blob (one that does not match its digest); no error when it is gone already. */
  remove(digest: string): void {
    try {
      unlinkSync(this.path(digest));
    } catch {
      /* another build removed it first */
    }
  }

  /** Close `fd` with the cache's other open blobs (`close()`). */
  adopt(fd: number): void {
    this.fds.add(fd);
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
    const actual = sha256(bytes);
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
