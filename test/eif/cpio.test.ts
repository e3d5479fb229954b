/** The newc writer reproduces linuxkit's bytes (eif-format.md §6.6). */
import { describe, expect, it } from 'vitest';
import { S_IFDIR, S_IFREG, readCpio, writeCpio } from '../../src/eif/cpio.js';
import { describeShared, readShared } from '../helpers/shared.js';

describe('cpio newc writer', () => {
  it('aligns to 4, starts inodes at 721, pads the stream to 512', () => {
    const b = writeCpio([
      { name: 'dev', mode: S_IFDIR | 0o755 },
      { name: 'a', mode: S_IFREG | 0o644, data: new Uint8Array([1, 2, 3]) },
    ]);
    expect(b.length % 512).toBe(0);
    const text = new TextDecoder().decode(b.subarray(0, 14));
    expect(text).toBe('070701000002d1');
    expect(readCpio(b).map((e) => [e.name, e.mode, Array.from(e.data!)])).toEqual([
      ['dev', S_IFDIR | 0o755, []],
      ['a', S_IFREG | 0o644, [1, 2, 3]],
    ]);
  });
  it('rejects absolute names', () => {
    expect(() => writeCpio([{ name: '/etc', mode: S_IFDIR | 0o755 }])).toThrow(expect.objectContaining({ code: 'CPIO_BAD_NAME' }));
  });
});

describeShared('cpio against the linuxkit-shaped ramdisks in ../shared', () => {
  for (const f of ['ramdisk0.cpio', 'ramdisk1.cpio']) {
    it(`rebuilds ${f} byte for byte from its entries`, () => {
      const orig = readShared('eif', 'synthetic', f);
      const rebuilt = writeCpio(readCpio(orig));
      expect(Buffer.from(rebuilt).equals(Buffer.from(orig))).toBe(true);
    });
  }
});
