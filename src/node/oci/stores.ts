/**
 * Node blob stores (shared docs/oci-build.md §7 step 1): a `docker save` tar or an OCI archive indexed by random
 * access over the file (one code path for both), and an OCI layout folder that never reads outside itself.
 * Nothing is extracted: members are read in place with positional reads (the tar side is src/oci/archive-store.ts).
 */
import { closeSync, constants, fstatSync, openSync, realpathSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import type { ByteSource } from '../../eif/layout.js';
import { EifError } from '../../errors.js';
import { blobPath, openTarArchive } from '../../oci/archive-store.js';
import { cleanTarName } from '../../oci/tar.js';
import type { BlobStore } from '../../oci/types.js';
import { fileSource, openInput } from '../file-source.js';

/** A BlobStore that holds open files: close it when done. */
export interface NodeBlobStore extends BlobStore {
  close(): void;
}

async function openTarStore(path: string, what: string): Promise<NodeBlobStore> {
  const label = `${what} ${path}`;
  const { fd, size } = openInput(path, what);
  try {
    const store = await openTarArchive(fileSource(fd, size), label);
    return { ...store, close: () => closeSync(fd) };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/**
 * A `docker save` tar (legacy `manifest.json` and/or the OCI layout Docker ≥ 25 writes) as a BlobStore.
 *
 * @example
 * import { openDockerArchive } from 'eifkit';
 * const store = await openDockerArchive('app.tar');
 * try { console.log(await store.file('manifest.json')); } finally { store.close(); }
 */
export function openDockerArchive(path: string): Promise<NodeBlobStore> {
  return openTarStore(path, 'docker archive');
}

/**
 * An OCI archive (a tar of an OCI image layout, e.g. `buildx --output type=oci`, `skopeo copy … oci-archive:`).
 *
 * @example
 * import { openOciArchive } from 'eifkit';
 * const store = await openOciArchive('app-oci.tar');
 * store.close();
 */
export function openOciArchive(path: string): Promise<NodeBlobStore> {
  return openTarStore(path, 'OCI archive');
}

/**
 * An OCI image layout folder (`oci-layout`, `index.json`, `blobs/sha256/…`). A path that leaves the folder (by
 * `..` or through a symlink) is refused with OCI_PATH_OUTSIDE; files are opened read-only, non-blocking (a FIFO
 * is refused), and closed by `close()`.
 *
 * @example
 * import { openOciLayout } from 'eifkit';
 * const store = openOciLayout('./app-oci');
 * store.close();
 */
export function openOciLayout(dir: string): NodeBlobStore {
  const label = `OCI layout ${dir}`;
  let root: string;
  try {
    root = realpathSync(dir);
  } catch {
    throw new EifError('INPUT_NOT_FOUND', `OCI layout folder not found: ${dir}`);
  }
  if (!statSync(root).isDirectory()) {
    throw new EifError('OCI_NO_IMAGE_INDEX', `${label} is not a folder (an OCI layout is a folder with index.json; for a tar use --oci-archive or --docker-archive)`);
  }
  const fds: number[] = [];
  const opened = new Map<string, ByteSource>();
  const file = async (p: string): Promise<ByteSource | undefined> => {
    const { name, escaped } = cleanTarName(p);
    const had = opened.get(name);
    if (had) return had;
    if (escaped || name === '') throw new EifError('OCI_PATH_OUTSIDE', `${label}: path ${JSON.stringify(p)} is outside the layout`);
    let real: string;
    try {
      real = realpathSync(join(root, name));
    } catch {
      return undefined;
    }
    if (!real.startsWith(root + sep)) throw new EifError('OCI_PATH_OUTSIDE', `${label}: ${name} leads outside the layout (to ${real})`);
    let fd: number;
    try {
      fd = openSync(real, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (e) {
      throw new EifError('INPUT_UNREADABLE', `${label}: cannot open ${name}: ${(e as Error).message}`);
    }
    const st = fstatSync(fd);
    if (!st.isFile()) {
      closeSync(fd);
      throw new EifError('INPUT_NOT_FILE', `${label}: ${name} is not a regular file`);
    }
    fds.push(fd);
    const src = fileSource(fd, st.size);
    opened.set(name, src);
    return src;
  };
  return {
    label,
    file,
    blob: async (digest) => {
      const p = blobPath(digest);
      return p === undefined ? undefined : file(p);
    },
    close() {
      for (const fd of fds.splice(0)) closeSync(fd);
      opened.clear();
    },
  };
}
