/**
 * The split measurement for Web Workers (src/inspect/parts.ts): any split of stream A, stream B and the CRC over
 * any number of parts gives what inspectEifBytes gives, through a Blob (BYOB stream) or plain reads; parts that
 * miss a stream are refused; a share skips what it does not need; measureImageInputs gives the builder's PCRs.
 */
import { describe, expect, it } from 'vitest';
import { inspectEifBytes } from '../../src/inspect/eif.js';
import { inspectEifParts, measureEifPart, measureImageInputs, type EifMeasureShare } from '../../src/inspect/parts.js';
import { blobSource } from '../../src/inspect/eif.js';
import { bytesSource, readLayout } from '../../src/eif/layout.js';
import { buildEifBytes } from '../../src/eif/builder.js';
import { vector } from '../helpers/eif.js';

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 131 + seed) & 255);
const input = { kernel: bytes(70_000, 1), cmdline: 'console=ttyS0', ramdisks: [bytes(3000, 2), bytes(600_000, 3), bytes(10, 4)], buildTime: '2024-01-01T00:00:00+00:00' };

const splits: EifMeasureShare[][] = [
  [{ pcr0: true, pcr2: true, crc: true }],
  [{ pcr0: true }, { pcr2: true, crc: true }],
  [{ pcr0: true }, { pcr2: true }, { crc: true }],
  [{ crc: true }, { pcr2: true }, { pcr0: true, crc: true }],
  // the CRC in slices (the page's two workers), in any order; 7 slices end inside section headers and at odd offsets
  [{ pcr0: true, crc: { index: 0, count: 2 } }, { pcr2: true, crc: { index: 1, count: 2 } }],
  [{ crc: { index: 2, count: 3 } }, { pcr2: true, crc: { index: 0, count: 3 } }, { pcr0: true, crc: { index: 1, count: 3 } }],
  [{ pcr0: true, pcr2: true }, ...Array.from({ length: 7 }, (_, index) => ({ crc: { index, count: 7 } }))],
  // the CRC in stripes taken in turn (the page's two workers with the relay): stripes smaller and larger than a
  // piece, not dividing the sections, one larger than the whole image (one part runs all of it, the other none)
  [{ pcr0: true, crc: { index: 0, count: 2, stripe: 4096 } }, { pcr2: true, crc: { index: 1, count: 2, stripe: 4096 } }],
  [{ pcr0: true, crc: { index: 1, count: 3, stripe: 10_007 } }, { pcr2: true, crc: { index: 0, count: 3, stripe: 10_007 } }, { crc: { index: 2, count: 3, stripe: 10_007 } }],
  [{ pcr0: true, pcr2: true, crc: { index: 0, count: 2, stripe: 1 << 30 } }, { crc: { index: 1, count: 2, stripe: 1 << 30 } }],
  [{ pcr0: true, pcr2: true, crc: { index: 0, count: 2, stripe: 1 } }, { crc: { index: 1, count: 2, stripe: 1 } }],
];

describe('measureEifPart / inspectEifParts', () => {
  it('every split, through a Blob and through reads, equals inspectEifBytes (small pieces: many per section)', async () => {
    const { eif } = await buildEifBytes(input);
    const want = await inspectEifBytes(eif);
    for (const split of splits) {
      for (const src of [new Blob([eif]), eif]) {
        const parts = await Promise.all(split.map((share) => measureEifPart(src, share, { chunkSize: 4096 + 7 })));
        const got = await inspectEifParts(src, parts);
        expect(got.measurements).toEqual(want.measurements);
        expect(got.describe).toEqual(want.describe);
        expect(got.computedCrc).toBe(want.computedCrc);
      }
    }
  });

  it('a CRC mismatch and the vectors come out as the one-thread reader says', async () => {
    for (const name of ['three-ramdisks', 'empty-cmdline', 'one-ramdisk-aarch64']) {
      const eif = vector(name);
      const last = (await readLayout(bytesSource(eif))).sections.filter((x) => x.size > 0).at(-1)!;
      eif[last.dataOffset + (last.size >> 1)]! ^= 1; // inside the data: only the CRC changes
      const want = await inspectEifBytes(eif);
      for (const split of [splits[2]!, splits[4]!]) {
        const parts = await Promise.all(split.map((s) => measureEifPart(new Blob([eif]), s)));
        const got = await inspectEifParts(eif, parts);
        expect(got.checkCrc).toBe(false);
        expect(got.computedCrc).toBe(want.computedCrc);
        expect(got.describe).toEqual(want.describe);
      }
    }
  });

  it('a share reads only what it needs, and reports progress against what it plans to read', async () => {
    const { eif } = await buildEifBytes(input);
    const seen: [number, number][] = [];
    const b = await measureEifPart(eif, { pcr2: true }, { onProgress: (r, p) => seen.push([r, p]) });
    expect(b.bytesRead).toBe(600_000 + 10); // ramdisks 1.. only
    expect(seen.at(-1)).toEqual([600_010, 600_010]);
    const c = await measureEifPart(eif, { crc: true });
    expect(c.bytesRead).toBe(70_000 + 13 + 3000 + 600_000 + 10);
    expect(c.a).toBeUndefined();
    expect(c.b).toBeUndefined();
    // a CRC slice alone reads only the sections its bytes touch: the first half ends inside the big ramdisk
    const total = (await readLayout(bytesSource(eif))).sections.reduce((n, s) => n + 12 + s.size, 0); // headers and data
    const half = await measureEifPart(eif, { crc: { index: 0, count: 2 } });
    expect(half.crcSlice).toMatchObject({ offset: 0, length: Math.floor(total / 2) });
    expect(half.bytesRead).toBe(70_000 + 13 + 3000 + 600_000);
    expect(half.crc).toBeUndefined();
    const tail = await measureEifPart(eif, { crc: { index: 1, count: 2 } });
    expect(tail.bytesRead).toBe(600_000 + 10);
    expect(tail.crcSlice).toMatchObject({ offset: Math.floor(total / 2), length: total - Math.floor(total / 2) });
    // stripes: a share reads only the sections that hold one of its stripes
    const none = await measureEifPart(eif, { crc: { index: 1, count: 2, stripe: 1 << 30 } });
    expect(none.bytesRead).toBe(0);
    expect(none.crcStripes?.crcs).toEqual([]);
    const all = await measureEifPart(eif, { crc: { index: 0, count: 2, stripe: 1 << 30 } });
    expect(all.bytesRead).toBe(c.bytesRead);
  });

  it('parts that do not cover both streams and the CRC are refused (EIF_PARTS_INCOMPLETE)', async () => {
    const { eif } = await buildEifBytes(input);
    const a = await measureEifPart(eif, { pcr0: true });
    const b = await measureEifPart(eif, { pcr2: true });
    await expect(inspectEifParts(eif, [a, b])).rejects.toMatchObject({ code: 'EIF_PARTS_INCOMPLETE' });
    await expect(inspectEifParts(eif, [])).rejects.toMatchObject({ code: 'EIF_PARTS_INCOMPLETE' });
    // CRC slices that leave a gap, or overlap, do not make a CRC
    const s = (index: number, count: number) => measureEifPart(eif, { pcr0: true, pcr2: true, crc: { index, count } });
    const [s02, s12, s03, s13, s23] = await Promise.all([s(0, 2), s(1, 2), s(0, 3), s(1, 3), s(2, 3)]);
    await expect(inspectEifParts(eif, [s02])).rejects.toMatchObject({ code: 'EIF_PARTS_INCOMPLETE' });
    await expect(inspectEifParts(eif, [s03, s23])).rejects.toMatchObject({ code: 'EIF_PARTS_INCOMPLETE' });
    await expect(inspectEifParts(eif, [s02, s13, s23])).rejects.toMatchObject({ code: 'EIF_PARTS_INCOMPLETE' });
    await expect(inspectEifParts(eif, [s02, s12])).resolves.toMatchObject({ checkCrc: true });
    // stripes: every index of one stripe size and count is needed
    const t = (index: number, count: number, stripe: number) => measureEifPart(eif, { pcr0: true, pcr2: true, crc: { index, count, stripe } });
    const [t02, t12, t12b, t13] = await Promise.all([t(0, 2, 5000), t(1, 2, 5000), t(1, 2, 6000), t(1, 3, 5000)]);
    await expect(inspectEifParts(eif, [t02])).rejects.toMatchObject({ code: 'EIF_PARTS_INCOMPLETE' });
    await expect(inspectEifParts(eif, [t02, t12b])).rejects.toMatchObject({ code: 'EIF_PARTS_INCOMPLETE' });
    await expect(inspectEifParts(eif, [t02, t13])).rejects.toMatchObject({ code: 'EIF_PARTS_INCOMPLETE' });
    await expect(inspectEifParts(eif, [t02, t12])).resolves.toMatchObject({ checkCrc: true });
    expect(t02.crcSlice).toBeUndefined();
    expect(t02.crcStripes).toMatchObject({ stripe: 5000, index: 0, count: 2 });
  });

  it('a CRC slice that is not { index, count } with 0 ≤ index < count is refused (CORE_BAD_ARGUMENT)', async () => {
    const { eif } = await buildEifBytes(input);
    for (const crc of [{ index: 2, count: 2 }, { index: -1, count: 2 }, { index: 0, count: 0 }, { index: 0.5, count: 2 }, { index: 0, count: 2, stripe: 0 }, { index: 0, count: 2, stripe: 1.5 }]) {
      await expect(measureEifPart(eif, { pcr0: true, crc })).rejects.toMatchObject({ code: 'CORE_BAD_ARGUMENT' });
    }
  });

  it('a file that is not an EIF fails in every share with the reader’s code', async () => {
    const junk = new Blob([new Uint8Array(4096).fill(7)]);
    await expect(measureEifPart(junk, { pcr0: true })).rejects.toMatchObject({ code: 'EIF_BAD_MAGIC' });
  });

  it('blobSource streams a range in full pieces, reading the next while one is used; stopping early cancels the read', async () => {
    const data = bytes(100_000, 9);
    const src = blobSource(new Blob([data]));
    const pieces: Uint8Array[] = [];
    for await (const p of src.stream!(123, 50_000, 8192)) pieces.push(p.slice());
    expect(pieces.slice(0, -1).every((p) => p.length === 8192)).toBe(true);
    expect(Buffer.concat(pieces)).toEqual(Buffer.from(data.subarray(123, 50_123)));
    let n = 0;
    for await (const p of src.stream!(0, 100_000, 8192)) {
      expect(p[0]).toBe(data[n * 8192]);
      if (++n === 3) break; // the generator's finally cancels the stream with a read ahead in flight
    }
    expect(n).toBe(3);
  });
});

describe('measureImageInputs', () => {
  it('gives the PCRs the builder gives for the same inputs; PCR2 alone without kernel and cmdline', async () => {
    const built = await buildEifBytes(input);
    const src = (b: Uint8Array) => blobSource(new Blob([b]));
    const full = await measureImageInputs({ kernel: src(input.kernel), cmdline: new TextEncoder().encode(input.cmdline), ramdisks: input.ramdisks.map(src) }, { chunkSize: 10_000 });
    expect(full).toEqual({ PCR0: built.measurements.PCR0, PCR1: built.measurements.PCR1, PCR2: built.measurements.PCR2 });
    const pcr2 = await measureImageInputs({ ramdisks: [bytesSource(new Uint8Array(0)), ...input.ramdisks.slice(1).map(bytesSource)] });
    expect(pcr2).toEqual({ PCR2: built.measurements.PCR2 });
    await expect(measureImageInputs({ ramdisks: [] })).rejects.toMatchObject({ code: 'NO_RAMDISK' });
  });
});
