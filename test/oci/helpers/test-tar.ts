/**
 * A small, test-only tar indexer (ustar, PAX path/linkpath/size/mtime/uid/gid, GNU L/K long names) and a
 * `docker save` (legacy layout) loader, so the ramdisk tests can build LayerIndex objects without the production
 * reader (src/oci/tar.ts, another stage). In memory: test data is small.
 */
import { gunzipSync } from 'node:zlib';
import { bytesSource } from '../../../src/eif/layout.js';
import type { EntryType, LayerIndex, LayerRef, TarEntry } from '../../../src/oci/types.js';

const latin1 = (b: Uint8Array) => Array.from(b, (c) => String.fromCharCode(c)).join('');
function cstr(b: Uint8Array): string {
  const z = b.indexOf(0);
  return latin1(z < 0 ? b : b.subarray(0, z));
}
function octal(b: Uint8Array): number {
  const s = cstr(b).trim();
  return s === '' ? 0 : parseInt(s, 8);
}
function normalise(name: string): string {
  return name.split('/').filter((c) => c !== '' && c !== '.').join('/');
}
const TYPES: Record<string, EntryType> = { '0': 'file', '\0': 'file', '1': 'hardlink', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo' };

export interface RawMember { name: string; entry: TarEntry }

export function indexTar(tar: Uint8Array): TarEntry[] {
  const out: TarEntry[] = [];
  let pos = 0;
  let pax: Record<string, string> = {};
  let longName: string | undefined;
  let longLink: string | undefined;
  while (pos + 512 <= tar.length) {
    const h = tar.subarray(pos, pos + 512);
    if (h.every((b) => b === 0)) break;
    const type = String.fromCharCode(h[156]!);
    let size = octal(h.subarray(124, 136));
    const dataOffset = pos + 512;
    if (pax['size'] !== undefined) size = Number(pax['size']);
    const data = tar.subarray(dataOffset, dataOffset + size);
    pos = dataOffset + Math.ceil(size / 512) * 512;
    if (type === 'x') {
      const text = latin1(data);
      let i = 0;
      while (i < text.length) {
        const sp = text.indexOf(' ', i);
        const len = parseInt(text.slice(i, sp), 10);
        const rec = text.slice(sp + 1, i + len - 1);
        const eq = rec.indexOf('=');
        pax[rec.slice(0, eq)] = rec.slice(eq + 1);
        i += len;
      }
      continue;
    }
    if (type === 'g') continue;
    if (type === 'L') { longName = cstr(data); continue; }
    if (type === 'K') { longLink = cstr(data); continue; }
    const prefix = cstr(h.subarray(345, 500));
    let name = cstr(h.subarray(0, 100));
    if (prefix) name = prefix + '/' + name;
    name = pax['path'] ?? longName ?? name;
    const linkname = pax['linkpath'] ?? longLink ?? cstr(h.subarray(157, 257));
    const t = TYPES[type] ?? (name.endsWith('/') ? 'dir' : 'file');
    out.push({
      name: normalise(name),
      type: t,
      mode: octal(h.subarray(100, 108)) & 0o7777,
      uid: pax['uid'] !== undefined ? Number(pax['uid']) : octal(h.subarray(108, 116)),
      gid: pax['gid'] !== undefined ? Number(pax['gid']) : octal(h.subarray(116, 124)),
      mtime: pax['mtime'] !== undefined ? Math.floor(Number(pax['mtime'])) : octal(h.subarray(136, 148)),
      size: t === 'file' ? size : 0,
      linkname: t === 'hardlink' ? normalise(linkname) : linkname,
      devmajor: octal(h.subarray(329, 337)),
      devminor: octal(h.subarray(337, 345)),
      dataOffset,
    });
    pax = {};
    longName = longLink = undefined;
  }
  return out;
}

/** Member bytes of an outer archive by name. */
export function tarMembers(tar: Uint8Array): Map<string, Uint8Array> {
  const m = new Map<string, Uint8Array>();
  for (const e of indexTar(tar)) if (e.type === 'file') m.set(e.name, tar.subarray(e.dataOffset, e.dataOffset + e.size));
  return m;
}

export function layerIndexOf(bytes: Uint8Array, index: number, digest = `layer${index}`): LayerIndex {
  const gz = bytes[0] === 0x1f && bytes[1] === 0x8b;
  const tar = gz ? new Uint8Array(gunzipSync(bytes)) : bytes;
  const ref: LayerRef = { index, mediaType: 'application/vnd.docker.image.rootfs.diff.tar', digest, size: bytes.length, compression: gz ? 'gzip' : 'none', source: bytesSource(bytes) };
  return { ref, source: bytesSource(tar), entries: indexTar(tar) };
}

/** A legacy `docker save` archive: its config and layer indexes. */
export function loadDockerSave(archive: Uint8Array): { config: Record<string, any>; layers: LayerIndex[] } {
  const members = tarMembers(archive);
  const manifest = JSON.parse(new TextDecoder().decode(members.get('manifest.json')!))[0];
  const config = JSON.parse(new TextDecoder().decode(members.get(manifest.Config)!));
  const layers = (manifest.Layers as string[]).map((l, i) => layerIndexOf(members.get(l)!, i, l));
  return { config, layers };
}
