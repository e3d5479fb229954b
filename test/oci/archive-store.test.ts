/** openTarArchive (src/oci/archive-store.ts): members and blobs of a tar read in place, links followed inside it. */
import { describe, expect, it } from 'vitest';
import { bytesSource } from '../../src/eif/layout.js';
import { openTarArchive } from '../../src/oci/archive-store.js';
import { concat, END, file, header, sha256hex } from './tar-bytes.js';

const text = async (src: { size: number; read(o: number, l: number): Uint8Array | Promise<Uint8Array> } | undefined) =>
  src === undefined ? undefined : new TextDecoder().decode(await src.read(0, src.size));

describe('openTarArchive', () => {
  const blob = new TextEncoder().encode('{"a":1}');
  const hex = sha256hex(blob);
  const tar = concat(
    file(`./blobs/sha256/${hex}`, blob),
    file('a/layer.tar', 'LAYER'),
    header({ name: 'b/layer.tar', typeflag: '2', linkname: '../a/layer.tar' }),
    header({ name: 'c/layer.tar', typeflag: '1', linkname: 'b/layer.tar' }),
    header({ name: 'abs', typeflag: '2', linkname: '/a/layer.tar' }),
    header({ name: 'loop1', typeflag: '2', linkname: 'loop2' }),
    header({ name: 'loop2', typeflag: '2', linkname: 'loop1' }),
    header({ name: 'dir', typeflag: '5' }),
    END,
  );

  it('serves members by cleaned path and blobs by sha256 digest', async () => {
    const store = await openTarArchive(bytesSource(tar), 'test.tar');
    expect(store.label).toBe('test.tar');
    expect(await text(await store.blob(`sha256:${hex}`))).toBe('{"a":1}');
    expect(await store.blob(`sha512:${hex}`)).toBeUndefined();
    expect(await store.blob(`sha256:${'0'.repeat(64)}`)).toBeUndefined();
    expect(await text(await store.file('/a/layer.tar'))).toBe('LAYER');
  });

  it('follows symlinks (relative, absolute within the archive) and hard links; loops and directories give nothing', async () => {
    const store = await openTarArchive(bytesSource(tar), 'test.tar');
    expect(await text(await store.file('b/layer.tar'))).toBe('LAYER');
    expect(await text(await store.file('c/layer.tar'))).toBe('LAYER');
    expect(await text(await store.file('abs'))).toBe('LAYER');
    expect(await store.file('loop1')).toBeUndefined();
    expect(await store.file('dir')).toBeUndefined();
  });

  it('reads of a member never go past its end', async () => {
    const store = await openTarArchive(bytesSource(tar), 'test.tar');
    const m = (await store.file('a/layer.tar'))!;
    expect(() => m.read(0, 6)).toThrow(/past the end/);
  });
});
