/**
 * In-memory layers for unit tests: TarEntry lists written directly (no tar bytes), file data in one buffer per
 * layer at the offsets the entries name.
 */
import { bytesSource } from '../../../src/eif/layout.js';
import type { EntryType, LayerIndex, TarEntry } from '../../../src/oci/types.js';

export interface FakeEntry {
  name: string;
  type?: EntryType;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  data?: string;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
}

export const T = 1_700_000_000;

export function fakeLayer(entries: FakeEntry[], index = 0): LayerIndex {
  const chunks: number[] = [];
  const out: TarEntry[] = entries.map((f) => {
    const type = f.type ?? (f.name.endsWith('/') ? 'dir' : 'file');
    const data = f.data ?? '';
    const dataOffset = chunks.length;
    if (type === 'file') for (const c of data) chunks.push(c.charCodeAt(0));
    return {
      name: f.name.replace(/\/$/, ''),
      type,
      mode: f.mode ?? (type === 'dir' ? 0o755 : type === 'symlink' ? 0o777 : 0o644),
      uid: f.uid ?? 0,
      gid: f.gid ?? 0,
      mtime: f.mtime ?? T,
      size: type === 'file' ? data.length : 0,
      linkname: f.linkname ?? '',
      devmajor: f.devmajor ?? 0,
      devminor: f.devminor ?? 0,
      dataOffset,
    };
  });
  const bytes = Uint8Array.from(chunks);
  return {
    ref: { index, mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: `sha256:${String(index).padStart(64, '0')}`, size: bytes.length, compression: 'none', source: bytesSource(bytes) },
    source: bytesSource(bytes),
    entries: out,
  };
}

export function fakeLayers(...layers: FakeEntry[][]): LayerIndex[] {
  return layers.map((l, i) => fakeLayer(l, i));
}
