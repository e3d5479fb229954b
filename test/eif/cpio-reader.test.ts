/** The streaming newc reader and differ behind `eif ramdisk ls|diff` (src/eif/cpio-reader.ts). */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { S_IFDIR, S_IFLNK, S_IFREG, writeCpio } from '../../src/eif/cpio.js';
import { bytesSource } from '../../src/eif/layout.js';
import { type CpioListing, diffCpio, modeString, readCpioEntries } from '../../src/eif/cpio-reader.js';
import { describeShared, readShared, sharedPath } from '../helpers/shared.js';

const enc = new TextEncoder();
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

async function list(bytes: Uint8Array): Promise<{ entries: CpioListing[]; end: any }> {
  const it = readCpioEntries(bytesSource(bytes));
  const entries: CpioListing[] = [];
  for (let r = await it.next(); ; r = await it.next()) {
    if (r.done) return { entries, end: r.value };
    entries.push(r.value);
  }
}

const big = new Uint8Array((3 << 20) + 5).map((_, i) => (i * 7) & 0xff);
const sample = () =>
  writeCpio([
    { name: 'rootfs', mode: S_IFDIR | 0o755 },
    { name: 'rootfs/app', mode: S_IFREG | 0o4750, data: enc.encode('hello'), uid: 10001, gid: 20, mtime: 1700000000 },
    { name: 'rootfs/link', mode: S_IFLNK | 0o777, data: enc.encode('app') },
    { name: 'rootfs/big', mode: S_IFREG | 0o644, data: big },
    { name: 'rootfs/empty', mode: S_IFREG | 0o600 },
  ]);

describe('readCpioEntries', () => {
  it('lists every header field, link targets and SHA-256 of the data, in order', async () => {
    const { entries, end } = await list(sample());
    expect(entries.map((e) => e.name)).toEqual(['rootfs', 'rootfs/app', 'rootfs/link', 'rootfs/big', 'rootfs/empty']);
    const [dir, app, link, bigE, empty] = entries as [CpioListing, CpioListing, CpioListing, CpioListing, CpioListing];
    expect(dir).toMatchObject({ type: 'dir', mode: 0o40755, ino: 721, nlink: 2, devmajor: 3, devminor: 1, mtime: 1492533000 });
    expect(dir.sha256).toBeUndefined();
    expect(app).toMatchObject({ type: 'file', uid: 10001, gid: 20, mtime: 1700000000, size: 5, ino: 722, nlink: 1, sha256: sha(enc.encode('hello')) });
    expect(link).toMatchObject({ type: 'symlink', linkTarget: 'app', size: 3 });
    expect(bigE).toMatchObject({ size: big.length, sha256: sha(big) });
    expect(empty.sha256).toBe(sha(new Uint8Array(0)));
    expect(end).toMatchObject({ entries: 5, paddingZero: true });
    expect(end.size % 512).toBe(0);
  });

  it('reads in bounded pieces, front to back (never the whole archive)', async () => {
    const bytes = sample();
    const reads: number[] = [];
    const src = { size: bytes.length, read: (o: number, l: number) => (reads.push(l), bytes.subarray(o, o + l)) };
    const it = readCpioEntries(src);
    while (!(await it.next()).done);
    expect(Math.max(...reads)).toBeLessThanOrEqual(1 << 20);
  });

  it('mode strings as ls -l writes them (setuid, sticky)', () => {
    expect(modeString(0o104750)).toBe('-rwsr-x---');
    expect(modeString(0o41777)).toBe('drwxrwxrwt');
    expect(modeString(0o120777)).toBe('lrwxrwxrwx');
    expect(modeString(0o102644)).toBe('-rw-r-Sr--');
  });

  it('hostile archives: bad magic, truncated data, non-hex fields, a name without its NUL, a huge name size', async () => {
    const good = sample();
    const bad = (mut: (b: Uint8Array) => Uint8Array) => list(mut(good.slice()));
    await expect(bad((b) => (b[0] = 0x41, b))).rejects.toMatchObject({ code: 'CPIO_BAD_MAGIC' });
    await expect(bad((b) => b.subarray(0, 2000))).rejects.toMatchObject({ code: 'CPIO_TRUNCATED' });
    await expect(bad((b) => (b.set(enc.encode('zzzzzzzz'), 6 + 8 * 6), b))).rejects.toMatchObject({ code: 'CPIO_BAD_HEADER' });
    await expect(bad((b) => (b.set(enc.encode('00000002'), 6 + 8 * 11), b))).rejects.toMatchObject({ code: 'CPIO_BAD_HEADER' });
    await expect(bad((b) => (b.set(enc.encode('7fffffff'), 6 + 8 * 11), b))).rejects.toMatchObject({ code: 'CPIO_BAD_HEADER' });
    // A declared size beyond the end: refused before reading it.
    await expect(bad((b) => (b.set(enc.encode('7fffffff'), 6 + 8 * 6), b))).rejects.toMatchObject({ code: 'CPIO_TRUNCATED' });
  });
});

describe('diffCpio', () => {
  it('equal archives: same, no differences', async () => {
    const d = await diffCpio(bytesSource(sample()), bytesSource(sample()));
    expect(d).toMatchObject({ same: true, total: 0, entries: [5, 5] });
  });

  it('names the entry and field that differ: mode, data, link target, order, extra entries', async () => {
    const base = [
      { name: 'a', mode: S_IFREG | 0o644, data: enc.encode('x') },
      { name: 'b', mode: S_IFLNK | 0o777, data: enc.encode('a') },
    ];
    const other = [
      { name: 'a', mode: S_IFREG | 0o755, data: enc.encode('y') },
      { name: 'b', mode: S_IFLNK | 0o777, data: enc.encode('../a') },
      { name: 'c', mode: S_IFDIR | 0o755 },
    ];
    const d = await diffCpio(bytesSource(writeCpio(base)), bytesSource(writeCpio(other)));
    expect(d.same).toBe(false);
    expect(d.entries).toEqual([2, 3]);
    const fields = d.differences.map((x) => `${x.name}:${x.field}`);
    expect(fields).toEqual(['a:mode', 'a:sha256', 'b:size', 'b:linkTarget', 'b:sha256', 'c:entry']);
    expect(d.differences[0]).toMatchObject({ a: '0100644', b: '0100755' });
    const swapped = await diffCpio(bytesSource(writeCpio([base[1]!, base[0]!])), bytesSource(writeCpio(base)));
    expect(swapped.differences[0]).toMatchObject({ index: 0, field: 'name', a: 'b', b: 'a' });
  });

  it('padding after the trailer counts', async () => {
    const a = sample();
    const b = new Uint8Array(a.length + 512);
    b.set(a);
    const d = await diffCpio(bytesSource(a), bytesSource(b));
    expect(d.differences).toEqual([expect.objectContaining({ field: 'padding' })]);
  });
});

describeShared('golden ramdisks (../shared/test-vectors/oci)', () => {
  it('lists the ramdisks nitro-cli made: inodes from 721, entries end with cmd and env', async () => {
    for (const f of readdirSync(sharedPath('oci')).filter((n) => n.endsWith('.img'))) {
      const bytes = readShared('oci', f);
      const { entries, end } = await list(bytes);
      expect(entries[0]!.ino).toBe(721);
      expect(end.size).toBe(bytes.length);
      if (f.includes('customer')) expect(entries.slice(-2).map((e) => e.name)).toEqual(['cmd', 'env']);
      else expect(entries.map((e) => e.name)).toEqual(['dev', 'init', 'nsm.ko']);
    }
  });
});
