/**
 * The one section walk (src/eif/walk.ts) and the PCR role rules (src/eif/roles.ts, eif-format.md §2, §3.2): what a
 * sink receives, in which order, with which roles; what is kept whole; and that both kinds of sink (pieces read by
 * the walker, ranges streamed by the sink) see the same bytes.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { initCore } from '../../src/core/index.js';
import { buildEifBytes } from '../../src/eif/builder.js';
import { SectionType as T } from '../../src/eif/header.js';
import { type ByteSource, bytesSource, readLayout } from '../../src/eif/layout.js';
import { MeasureSink } from '../../src/eif/measure.js';
import { PcrStreams, ROLE_A, ROLE_B, ROLE_FORK, isMeasured, pieceRoles, sectionRoles } from '../../src/eif/roles.js';
import { CHUNK_SIZE, KEEP_LIMIT, type SectionSink, layoutSections, walkSections } from '../../src/eif/walk.js';
import { expectedVectors, vector } from '../helpers/eif.js';

beforeAll(() => initCore());

const A = ROLE_A;
const B = ROLE_B;
const F = ROLE_FORK;
const sha = (...parts: Uint8Array[]): string => {
  const h = createHash('sha384');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};
const cat = (parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let pos = 0;
  for (const p of parts) out.set(p, (pos += p.length) - p.length);
  return out;
};

interface Push {
  kind: 'bytes' | 'range' | 'begin' | 'end';
  len: number;
  roles: number;
  bytes?: Uint8Array;
}

/** A sink that records everything; with `ranges`, it takes whole ranges (as the Node pipeline does). */
function recorder(ranges: boolean): SectionSink & { log: Push[] } {
  const log: Push[] = [];
  const sink: SectionSink & { log: Push[] } = {
    log,
    push: (bytes, roles) => void log.push({ kind: 'bytes', len: bytes.length, roles, bytes: bytes.slice() }),
    beginSection: () => void log.push({ kind: 'begin', len: 0, roles: 0 }),
    endSection: () => void log.push({ kind: 'end', len: 0, roles: 0 }),
  };
  if (ranges) {
    sink.pushRange = async (source: ByteSource, offset: number, size: number, roles: number) =>
      void log.push({ kind: 'range', len: size, roles, bytes: (await source.read(offset, size)).slice() });
  }
  return sink;
}

describe('sectionRoles: which section feeds which PCR stream (§3.2)', () => {
  it('kernel, cmdline → A; first ramdisk → A + fork; later ramdisks → A|B; metadata, signature → CRC only', () => {
    expect(sectionRoles([T.Kernel, T.Cmdline, T.Metadata, T.Ramdisk, T.Ramdisk, T.Ramdisk, T.Signature])).toEqual([A, A, 0, A | F, A | B, A | B, 0]);
    // by type and order among ramdisks, not by position in the table (v3 order, metadata after a ramdisk)
    expect(sectionRoles([T.Kernel, T.Cmdline, T.Ramdisk, T.Metadata, T.Ramdisk])).toEqual([A, A, A | F, 0, A | B]);
    expect(sectionRoles([T.Cmdline, T.Kernel, T.Ramdisk])).toEqual([A, A, A | F]);
    expect([T.Kernel, T.Cmdline, T.Ramdisk, T.Metadata, T.Signature].map(isMeasured)).toEqual([true, true, true, false, false]);
  });
  it('pieceRoles: the fork bit only on a section\'s last piece', () => {
    expect(pieceRoles(A | F, false)).toBe(A);
    expect(pieceRoles(A | F, true)).toBe(A | F);
    expect(pieceRoles(A | B, false)).toBe(A | B);
  });
});

describe('walkSections', () => {
  it('pushes each section header (role 0) then its data with its roles, in table order: the bytes after the header', async () => {
    const file = vector('three-ramdisks'); // kernel, cmdline, metadata, rd0, rd1, rd2
    const src = bytesSource(file);
    const layout = await readLayout(src);
    for (const ranges of [false, true]) {
      const sink = recorder(ranges);
      const kept = await walkSections(layoutSections(layout, src), sink);
      const data = sink.log.filter((p) => p.kind !== 'begin' && p.kind !== 'end');
      expect(cat(data.map((p) => p.bytes!))).toEqual(file.subarray(548));
      expect(data.map((p) => [p.kind === 'range' ? 'range' : p.len === 12 ? 'header' : 'bytes', p.roles])).toEqual(
        [A, A, 0, A | F, A | B, A | B].flatMap((r, i) => [
          ['header', 0],
          [ranges && i !== 2 ? 'range' : 'bytes', r],
        ]),
      );
      expect(sink.log.filter((p) => p.kind === 'begin')).toHaveLength(6);
      expect(sink.log[0]!.kind).toBe('begin');
      expect(sink.log[sink.log.length - 1]!.kind).toBe('end');
      const meta = layout.sections[2]!;
      expect(kept.metadata).toEqual(file.subarray(meta.dataOffset, meta.dataOffset + meta.size));
      expect(kept.signature).toBeUndefined();
    }
  });

  it('reads large sections in pieces of CHUNK_SIZE, the fork after the first ramdisk\'s last piece; an empty ramdisk still forks', async () => {
    const rd0 = new Uint8Array(2 * CHUNK_SIZE + 5).map((_, i) => (i * 13) & 0xff);
    const big = await buildEifBytes({ kernel: new Uint8Array(100), cmdline: 'x', ramdisks: [rd0, new Uint8Array(7)], buildTime: '2024-01-01T00:00:00+00:00' });
    const src = bytesSource(big.eif);
    const sink = recorder(false);
    await walkSections(layoutSections(await readLayout(src), src), sink);
    const rd0Pieces = sink.log.filter((p) => p.kind === 'bytes' && p.roles & A && !(p.roles & B) && (p.len > 100 || p.roles & F)); // not kernel (100), cmdline (1)
    expect(rd0Pieces.map((p) => [p.len, p.roles])).toEqual([[CHUNK_SIZE, A], [CHUNK_SIZE, A], [5, A | F]]);

    const empty = await buildEifBytes({ kernel: new Uint8Array(100), cmdline: 'x', ramdisks: [new Uint8Array(0), new Uint8Array(9)], buildTime: '2024-01-01T00:00:00+00:00' });
    const s2 = bytesSource(empty.eif);
    const rec = recorder(false);
    await walkSections(layoutSections(await readLayout(s2), s2), rec);
    expect(rec.log.filter((p) => p.kind === 'bytes' && p.roles & F).map((p) => p.len)).toEqual([0]);
    const m = new MeasureSink();
    await walkSections(layoutSections(await readLayout(s2), s2), m);
    expect(m.measurements()).toEqual(empty.measurements);
  });

  it('keeps the signature whole and metadata up to KEEP_LIMIT; larger metadata is streamed, not kept', async () => {
    const signed = vector('three-ramdisks');
    const src = bytesSource(signed);
    const layout = await readLayout(src);
    const meta = layout.sections[2]!;
    const sections = layoutSections(layout, src);
    const sig = new Uint8Array([1, 2, 3]);
    const withSig = [...sections, { type: T.Signature, size: sig.length, data: sig, what: 'sig' }];
    const rec = recorder(true);
    const kept = await walkSections(withSig, rec);
    expect(kept.signature).toEqual(sig);
    expect(kept.metadata?.length).toBe(meta.size);
    const huge = { source: { size: KEEP_LIMIT + 1, read: (_o: number, n: number) => new Uint8Array(n) }, offset: 0 };
    const rec2 = recorder(true);
    const k2 = await walkSections([{ type: T.Metadata, size: KEEP_LIMIT + 1, data: huge, what: 'big metadata' }], rec2);
    expect(k2.metadata).toBeUndefined();
    expect(rec2.log.filter((p) => p.kind === 'range').map((p) => [p.len, p.roles])).toEqual([[KEEP_LIMIT + 1, 0]]);
  });

  it('MeasureSink over the walk gives the vectors\' PCRs and CRC (§2, §3.3)', async () => {
    for (const name of ['three-ramdisks', 'one-ramdisk-aarch64', 'empty-cmdline']) {
      const file = vector(name);
      const src = bytesSource(file);
      const layout = await readLayout(src);
      const sink = new MeasureSink(crc32(file.subarray(0, 544)));
      await walkSections(layoutSections(layout, src), sink);
      expect(sink.crc).toBe(expectedVectors[name].crc32);
      expect(sink.measurements()).toMatchObject(expectedVectors[name].measurements);
    }
  });
});

describe('PcrStreams', () => {
  it('one stream only (a hash worker): B ignores A and fork bits; A forks', () => {
    const x = new Uint8Array(300).fill(1);
    const y = new Uint8Array(500).fill(2);
    const b = new PcrStreams({ streams: B });
    const a = new PcrStreams({ streams: A });
    for (const s of [a, b]) {
      s.feed(x, A | F);
      s.feed(y, A | B);
    }
    const rb = b.finish();
    expect(rb.a).toBeUndefined();
    expect(rb.fork).toBeUndefined();
    expect(Buffer.from(rb.b!).toString('hex')).toBe(sha(y));
    const ra = a.finish();
    expect(Buffer.from(ra.a!).toString('hex')).toBe(sha(x, y));
    expect(Buffer.from(ra.fork!).toString('hex')).toBe(sha(x));
    expect(ra.b).toBeUndefined();
  });
});
