/**
 * A BlobStore over a tar archive held as any ByteSource (shared docs/oci-build.md §7 step 1): `docker save` tars
 * (legacy and OCI forms) and OCI archives, in Node over a file descriptor and in browsers over a `File` /
 * `Blob` (`blobSource`). The archive is indexed once by its headers; members are then read in place, never
 * extracted. Symlinked and hard-linked members (docker save links repeated layers) are followed inside the
 * archive only, at most 8 deep.
 */
import type { ByteSource } from '../eif/layout.js';
import { EifError } from '../errors.js';
import { cleanTarName, indexTarMembers, type TarMember } from './tar.js';
import type { BlobStore } from './types.js';

const DIGEST_RE = /^sha256:([0-9a-f]{64})$/;

/** The layout path of a blob: `blobs/sha256/<hex>`, or undefined for a digest eifkit does not read. */
export function blobPath(digest: string): string | undefined {
  const m = DIGEST_RE.exec(digest);
  return m ? `blobs/sha256/${m[1]}` : undefined;
}

/** A window [offset, offset+size) of a source (with the source's streaming reads, when it has them). */
function slice(src: ByteSource, offset: number, size: number): ByteSource {
  const check = (o: number, l: number): void => {
    if (o < 0 || l < 0 || o + l > size) throw new EifError('OCI_TAR_TRUNCATED', `read of ${l} bytes at ${o} past the end of a ${size}-byte member`);
  };
  const window: ByteSource = {
    size,
    read(o: number, l: number) {
      check(o, l);
      return src.read(offset + o, l);
    },
  };
  if (src.stream) {
    const stream = src.stream.bind(src);
    window.stream = (o: number, l: number, chunk: number) => {
      check(o, l);
      return stream(offset + o, l, chunk);
    };
  }
  return window;
}

/**
 * Index a tar archive and serve its members and `blobs/sha256/…` blobs.
 *
 * @example
 * import { openTarArchive, blobSource, selectImage } from 'eifkit/browser';
 * const store = await openTarArchive(blobSource(file), `docker archive ${file.name}`);
 * const selection = await selectImage(store);
 */
export async function openTarArchive(source: ByteSource, label: string): Promise<BlobStore> {
  const members = await indexTarMembers(source, label);
  const resolve = (name: string, depth = 0): TarMember | undefined => {
    const m = members.get(name);
    if (!m || depth > 8) return undefined;
    if (m.type === 'hardlink') return resolve(m.linkname, depth + 1);
    if (m.type === 'symlink') {
      const dir = name.includes('/') ? name.slice(0, name.lastIndexOf('/')) : '';
      return resolve(cleanTarName(m.linkname.startsWith('/') ? m.linkname : `${dir}/${m.linkname}`).name, depth + 1);
    }
    return m.type === 'file' ? m : undefined;
  };
  const file = async (p: string): Promise<ByteSource | undefined> => {
    const m = resolve(cleanTarName(p).name);
    return m ? slice(source, m.offset, m.size) : undefined;
  };
  return {
    label,
    file,
    blob: async (digest) => {
      const p = blobPath(digest);
      return p === undefined ? undefined : file(p);
    },
  };
}
