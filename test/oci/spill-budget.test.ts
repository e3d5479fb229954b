/**
 * Browser spills (src/oci/opfs-spill.ts; shared oci-build.md §7 step 3) and the reads that keep a browser worker's
 * memory flat on large compressed layers: memory spills under one stated budget (OCI_SPILL_MEMORY beyond it),
 * no OPFS outside browsers, a gzip layer read from a Blob through one reused buffer (same entries and bytes as
 * fresh reads), an archive member window and a cpio plan that stream like their sources. OPFS itself (workers
 * only) is tested in headless Chromium: test/web/page.test.ts, "gzip image".
 */
import { describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { bytesSource, type ByteSource } from '../../src/eif/layout.js';
import { EifError } from '../../src/errors.js';
import { blobSource } from '../../src/inspect/eif.js';
import { openTarArchive } from '../../src/oci/archive-store.js';
import { indexLayer, memorySpill } from '../../src/oci/layer.js';
import { memorySpillBudget, openOpfsSpillDir } from '../../src/oci/opfs-spill.js';
import { cpioPlanSource, planCpio } from '../../src/eif/cpio-plan.js';
import type { LayerRef } from '../../src/oci/types.js';
import { concat, END, file, header, sha256hex } from './tar-bytes.js';

const data = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 2654435761 + seed) >>> 24);
const tar = concat(header({ name: 'd/', typeflag: '5' }), file('d/a', data(3 << 20, 1)), file('d/b', 'hello'), file('d/c', data(1500_000, 2)), END);
const gz = new Uint8Array(gzipSync(tar, { level: 1 }));

function ref(source: ByteSource): LayerRef {
  return { index: 0, mediaType: 'x', digest: `sha256:${sha256hex(gz)}`, diffId: `sha256:${sha256hex(tar)}`, size: gz.length, compression: 'gzip', source };
}

const collect = async (it: AsyncIterable<Uint8Array>): Promise<Uint8Array> => {
  const parts: Uint8Array[] = [];
  for await (const p of it) parts.push(p.slice()); // a piece is valid until the next is asked for
  return concat(...parts);
};

describe('memorySpillBudget', () => {
  it('keeps layers in memory up to the budget shared by all of them, then OCI_SPILL_MEMORY', async () => {
    const spill = memorySpillBudget(tar.length + 100);
    const first = await indexLayer(ref(bytesSource(gz)), { spill });
    expect(sha256hex(new Uint8Array(await first.source.read(0, first.source.size)))).toBe(sha256hex(tar));
    const e = await indexLayer(ref(bytesSource(gz)), { spill }).catch((x: unknown) => x as EifError);
    expect(e).toBeInstanceOf(EifError);
    expect(e.code).toBe('OCI_SPILL_MEMORY');
    expect(e.message).toContain(`${tar.length + 100} bytes`);
  });

  it('a discarded spill gives its bytes back to the budget', async () => {
    const make = memorySpillBudget(1000);
    const a = make(0);
    a.write(new Uint8Array(800));
    expect(() => make(0).write(new Uint8Array(300))).toThrow(/more than 1000 bytes/);
    a.discard();
    const b = make(0);
    b.write(new Uint8Array(900));
    expect((await b.finish()).size).toBe(900);
  });
});

describe('OPFS spills', () => {
  it('are not offered outside browsers (no navigator.storage.getDirectory): undefined, the caller uses memory', async () => {
    expect(await openOpfsSpillDir()).toBeUndefined();
  });
});

describe('streaming reads for flat memory', () => {
  it('a gzip layer read from a Blob through one reused buffer gives the same entries and bytes as fresh reads', async () => {
    const blob = blobSource(new Blob([gz]));
    expect(blob.stream).toBeDefined();
    const viaStream = await indexLayer(ref(blob), { chunkSize: 64 << 10 });
    const viaReads = await indexLayer(ref(bytesSource(gz)), { chunkSize: 64 << 10, spill: () => memorySpill() });
    expect(viaStream.entries).toEqual(viaReads.entries);
    expect(sha256hex(new Uint8Array(await viaStream.source.read(0, viaStream.source.size)))).toBe(sha256hex(tar));
  });

  it('a gzip layer that fails the digest check through the reused buffer is still OCI_DIGEST_MISMATCH', async () => {
    const bad = { ...ref(blobSource(new Blob([gz]))), digest: `sha256:${'0'.repeat(64)}` };
    const e = await indexLayer(bad, { chunkSize: 64 << 10 }).catch((x: unknown) => x as EifError);
    expect(e.code).toBe('OCI_DIGEST_MISMATCH');
  });

  it("an archive member streams like a read of it, from its source's own stream", async () => {
    const archive = concat(file('a/layer.tar', data(300_000, 3)), END);
    const store = await openTarArchive(blobSource(new Blob([archive])), 'x.tar');
    const m = (await store.file('a/layer.tar'))!;
    expect(m.stream).toBeDefined();
    expect(await collect(m.stream!(1000, 200_000, 4096))).toEqual(new Uint8Array(await m.read(1000, 200_000)));
    expect(() => m.stream!(0, m.size + 1, 4096)).toThrow(/past the end/);
  });

  it('a cpio plan streams the bytes it reads, data through its sources, in pieces of one reused buffer', async () => {
    const big = data(700_001, 4);
    const src = blobSource(new Blob([big]));
    const plan = planCpio([
      { name: 'd', mode: 0o040755, uid: 0, gid: 0, mtime: 1, size: 0, rdevmajor: 0, rdevminor: 0 },
      { name: 'd/big', mode: 0o100644, uid: 0, gid: 0, mtime: 1, size: big.length, rdevmajor: 0, rdevminor: 0, data: { source: src, offset: 0 } },
      { name: 'd/small', mode: 0o100644, uid: 0, gid: 0, mtime: 1, size: 3, rdevmajor: 0, rdevminor: 0, data: { bytes: new Uint8Array([1, 2, 3]) } },
    ]);
    const cpio = cpioPlanSource(plan);
    const whole = new Uint8Array(await cpio.read(0, cpio.size));
    for (const chunk of [1000, 65536, 1 << 20]) {
      const pieces: Uint8Array[] = [];
      for await (const p of cpio.stream!(0, cpio.size, chunk)) {
        expect(p.length).toBeLessThanOrEqual(chunk);
        pieces.push(p);
      }
      if (pieces.length > 1) expect(pieces[0]!.buffer).toBe(pieces[1]!.buffer); // one buffer, reused
      expect(await collect(cpio.stream!(0, cpio.size, chunk))).toEqual(whole);
      expect(await collect(cpio.stream!(333, 500_000, chunk))).toEqual(whole.subarray(333, 500_333));
    }
  });
});
