/**
 * The entries of a tar stream as `docker export` wrote them, read with tar-stream (an implementation independent of
 * eifkit's src/oci/tar.ts) into the shape of eifkit's ExportEntry (src/oci/types.ts) plus the SHA-256 of the data.
 *
 * Names are byte strings (latin1: one char per byte), as in ExportEntry, so non-UTF-8 names compare exactly.
 * tar-stream decodes PAX records as UTF-8 (lossy for such names) and ignores PAX `mtime`; both are corrected here:
 * its PAX decoder is replaced by a latin1 one for the duration of a read, and a PAX mtime wins over the header's.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import * as tarStream from 'tar-stream';
import type { EntryType } from '../../src/oci/types.js';

export interface ListedEntry {
  name: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  size: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** SHA-256 (hex) of the member's data ('' when it has none). */
  sha256: string;
  /** The PAX records of the member, as latin1 byte strings. */
  pax: Record<string, string>;
}

const require = createRequire(import.meta.url);
const headersPath = join(dirname(require.resolve('tar-stream')), 'headers.js');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const headers = require(headersPath) as { decodePax: (buf: Uint8Array) => Record<string, string> };
const utf8DecodePax = headers.decodePax;

function latin1DecodePax(buf: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  let b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  while (b.length) {
    const sp = b.indexOf(0x20);
    if (sp < 0) break;
    const len = Number.parseInt(b.subarray(0, sp).toString('latin1'), 10);
    if (!len) break;
    const rec = b.subarray(sp + 1, len - 1).toString('latin1');
    const eq = rec.indexOf('=');
    if (eq < 0) break;
    out[rec.slice(0, eq)] = rec.slice(eq + 1);
    b = b.subarray(len);
  }
  return out;
}

const TYPES: Record<string, EntryType> = {
  file: 'file',
  link: 'hardlink',
  symlink: 'symlink',
  'character-device': 'char',
  'block-device': 'block',
  directory: 'dir',
  fifo: 'fifo',
};

/** All members of a tar (its bytes), in order. */
export async function listTar(tar: Uint8Array): Promise<ListedEntry[]> {
  headers.decodePax = latin1DecodePax;
  try {
    const extract = tarStream.extract({ filenameEncoding: 'latin1' } as never);
    Readable.from([Buffer.from(tar.buffer, tar.byteOffset, tar.byteLength)]).pipe(extract as never);
    const out: ListedEntry[] = [];
    for await (const entry of extract as AsyncIterable<{ header: Record<string, any>; [Symbol.asyncIterator](): AsyncIterator<Buffer> }>) {
      const h = entry.header;
      const hash = createHash('sha256');
      let n = 0;
      for await (const chunk of entry) {
        hash.update(chunk);
        n += chunk.length;
      }
      const pax: Record<string, string> = h.pax ?? {};
      const type = TYPES[h.type as string];
      if (!type) throw new Error(`unexpected tar member type ${h.type} for ${h.name}`);
      out.push({
        name: h.name,
        type,
        mode: h.mode & 0o7777,
        uid: pax.uid !== undefined ? Number(pax.uid) : h.uid,
        gid: pax.gid !== undefined ? Number(pax.gid) : h.gid,
        mtime: pax.mtime !== undefined ? Math.floor(Number(pax.mtime)) : Math.floor((h.mtime as Date).getTime() / 1000),
        size: h.size,
        linkname: h.linkname ?? '',
        devmajor: h.devmajor ?? 0,
        devminor: h.devminor ?? 0,
        sha256: n > 0 ? hash.digest('hex') : '',
        pax,
      });
    }
    return out;
  } finally {
    headers.decodePax = utf8DecodePax;
  }
}

/** The regular members of a tar with their bytes (for reading the layer tars of a `docker save` archive). */
export async function tarFiles(tar: Uint8Array): Promise<Map<string, Buffer>> {
  const extract = tarStream.extract();
  Readable.from([Buffer.from(tar.buffer, tar.byteOffset, tar.byteLength)]).pipe(extract as never);
  const out = new Map<string, Buffer>();
  for await (const entry of extract as AsyncIterable<{ header: Record<string, any>; [Symbol.asyncIterator](): AsyncIterator<Buffer> }>) {
    const parts: Buffer[] = [];
    for await (const chunk of entry) parts.push(chunk);
    if (entry.header.type === 'file') out.set(entry.header.name, Buffer.concat(parts));
  }
  return out;
}
