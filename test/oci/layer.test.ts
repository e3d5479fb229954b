/** indexLayer (src/oci/layer.ts; shared oci-build.md §7 step 3): digests, gzip / zstd, spills, hostile layers. */
import { describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { bytesSource } from '../../src/eif/layout.js';
import { EifError } from '../../src/errors.js';
import { fflateGunzip, indexLayer, memorySpill, type IndexLayerOptions, type Spill } from '../../src/oci/layer.js';
import type { Compression, LayerRef } from '../../src/oci/types.js';
import { createSpillDir, nodeInflate, nodeSha256, removeDeadSpills } from '../../src/node/oci/spill.js';
import { concat, END, file, header, sha256hex, zstdRawFrame } from './tar-bytes.js';
import { compress } from './image-fixtures.js';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { processStartTime } from '../../src/node/atomic.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const big = new Uint8Array(3 << 20).map((_, i) => (i * 7919) & 0xff);
const tar = concat(header({ name: 'd/', typeflag: '5' }), file('d/small', 'abc'), file('d/big', big), header({ name: 'd/l', typeflag: '2', linkname: 'big' }), END);

function ref(blob: Uint8Array, compression: Compression, over: Partial<LayerRef> = {}): LayerRef {
  return {
    index: 0,
    mediaType: 'x',
    digest: `sha256:${sha256hex(blob)}`,
    diffId: `sha256:${sha256hex(tar)}`,
    size: blob.length,
    compression,
    source: bytesSource(blob),
    ...over,
  };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    if (e instanceof EifError) return e.code;
    throw e;
  }
  return 'no error';
}

const readAll = async (src: { size: number; read(o: number, l: number): Uint8Array | Promise<Uint8Array> }) => new Uint8Array(await src.read(0, src.size));

const variants: [string, IndexLayerOptions][] = [
  ['browser defaults (noble, DecompressionStream, fzstd, memory)', {}],
  ['Node injections (node:crypto, node:zlib)', { sha256: nodeSha256, inflate: nodeInflate }],
];

describe.each(variants)('indexLayer with %s', (_n, opts) => {
  it('an uncompressed layer: entries with data offsets into the blob itself (no copy)', async () => {
    const r = ref(tar, 'none');
    const li = await indexLayer(r, { ...opts, chunkSize: 1 << 20 });
    expect(li.source).toBe(r.source);
    expect(li.entries.map((e) => [e.name, e.type, e.size])).toEqual([['d', 'dir', 0], ['d/small', 'file', 3], ['d/big', 'file', big.length], ['d/l', 'symlink', 0]]);
    const b = li.entries[2]!;
    expect(sha256hex(new Uint8Array(await li.source.read(b.dataOffset, b.size)))).toBe(sha256hex(big));
  });

  it.each<[Compression]>([['gzip'], ['zstd']])('a %s layer: decompressed once into the spill, digests checked', async (c) => {
    const blob = compress(tar, c);
    const li = await indexLayer(ref(blob, c), { ...opts, chunkSize: 65536 });
    expect(li.source.size).toBe(tar.length);
    expect(sha256hex(await readAll(li.source))).toBe(sha256hex(tar));
    expect(li.entries).toHaveLength(4);
  });

  it('a blob that does not hash to its digest is OCI_DIGEST_MISMATCH; uncompressed bytes vs diff_id OCI_DIFF_ID_MISMATCH', async () => {
    const other = `sha256:${'0'.repeat(64)}`;
    expect(await codeOf(indexLayer(ref(tar, 'none', { digest: other, diffId: other }), opts))).toBe('OCI_DIGEST_MISMATCH');
    expect(await codeOf(indexLayer(ref(tar, 'none', { diffId: other }), opts))).toBe('OCI_DIFF_ID_MISMATCH');
    const gz = compress(tar, 'gzip');
    expect(await codeOf(indexLayer(ref(gz, 'gzip', { digest: other }), opts))).toBe('OCI_DIGEST_MISMATCH');
    expect(await codeOf(indexLayer(ref(gz, 'gzip', { diffId: other }), opts))).toBe('OCI_DIFF_ID_MISMATCH');
  });

  it('a legacy layer with an unknown blob digest (\'\') still has its diff_id checked', async () => {
    const gz = compress(tar, 'gzip');
    expect((await indexLayer(ref(gz, 'gzip', { digest: '' }), opts)).entries).toHaveLength(4);
    expect(await codeOf(indexLayer(ref(gz, 'gzip', { digest: '', diffId: `sha256:${'1'.repeat(64)}` }), opts))).toBe('OCI_DIFF_ID_MISMATCH');
  });

  it('corrupt or mislabelled compressed data is OCI_LAYER_DECOMPRESS; a truncated gzip too', async () => {
    expect(await codeOf(indexLayer(ref(tar, 'gzip'), opts))).toBe('OCI_LAYER_DECOMPRESS');
    expect(await codeOf(indexLayer(ref(tar, 'zstd'), opts))).toBe('OCI_LAYER_DECOMPRESS');
    const gz = compress(tar, 'gzip');
    expect(await codeOf(indexLayer(ref(gz.subarray(0, gz.length - 100), 'gzip'), opts))).toBe('OCI_LAYER_DECOMPRESS');
  });

  it('a decompression bomb stops at the limit (OCI_LAYER_TOO_LARGE)', async () => {
    const zeros = concat(header({ name: 'z', size: 64 << 20 }), new Uint8Array(64 << 20), END);
    const bomb = new Uint8Array(gzipSync(zeros));
    expect(bomb.length).toBeLessThan(1 << 20);
    const r = ref(bomb, 'gzip', { diffId: `sha256:${sha256hex(zeros)}` });
    expect(await codeOf(indexLayer(r, { ...opts, maxUncompressed: 8 << 20 }))).toBe('OCI_LAYER_TOO_LARGE');
    expect(await codeOf(indexLayer(ref(tar, 'none'), { ...opts, maxUncompressed: 1000 }))).toBe('OCI_LAYER_TOO_LARGE');
  });

  it('a layer that is not a tar is OCI_LAYER_NOT_TAR (also behind gzip)', async () => {
    const notTar = new TextEncoder().encode('this is not a tar archive'.repeat(40));
    expect(await codeOf(indexLayer(ref(notTar, 'none', { diffId: undefined }), opts))).toBe('OCI_LAYER_NOT_TAR');
    const gz = new Uint8Array(gzipSync(notTar));
    expect(await codeOf(indexLayer(ref(gz, 'gzip', { diffId: undefined }), opts))).toBe('OCI_LAYER_NOT_TAR');
  });
});

describe('spills', () => {
  it('an error discards the spill', async () => {
    const events: string[] = [];
    const spy = (): Spill => {
      const m = memorySpill();
      return { write: (c) => (events.push('write'), m.write(c)), finish: () => (events.push('finish'), m.finish()), discard: () => void events.push('discard') };
    };
    const gz = compress(tar, 'gzip');
    await codeOf(indexLayer(ref(gz, 'gzip', { diffId: `sha256:${'2'.repeat(64)}` }), { spill: spy }));
    expect(events.at(-1)).toBe('discard');
    expect(events).not.toContain('finish');
  });

  it('Node: temp files in a private folder, readable after the pass, gone after close (and after an error)', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'eifkit-spilltest-'));
    try {
      const dir = createSpillDir(parent);
      const li = await indexLayer(ref(compress(tar, 'gzip'), 'gzip'), { spill: (h) => dir.spill(h), sha256: nodeSha256, inflate: nodeInflate });
      expect(readdirSync(parent)).toHaveLength(1);
      expect(sha256hex(await readAll(li.source))).toBe(sha256hex(tar));
      await codeOf(indexLayer(ref(compress(tar, 'gzip'), 'gzip', { diffId: `sha256:${'3'.repeat(64)}` }), { spill: (h) => dir.spill(h), inflate: nodeInflate }));
      expect(readdirSync(join(parent, readdirSync(parent)[0]!))).toEqual(['layer-0.tar']); // the failed layer's file is gone
      dir.close();
      expect(readdirSync(parent)).toEqual([]);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});

describe('zstd', () => {
  it('reads a frame written by the zstd tool when it is installed (else the raw-block frame only)', async () => {
    if (!existsSync('/usr/bin/zstd')) return void expect(zstdRawFrame(tar)[0]).toBe(0x28);
    const z = new Uint8Array(execFileSync('/usr/bin/zstd', ['-q', '-c', '-3'], { input: tar, maxBuffer: 64 << 20 }));
    for (const opts of [{}, { inflate: nodeInflate }]) {
      const li = await indexLayer(ref(z, 'zstd'), opts);
      expect(sha256hex(await readAll(li.source))).toBe(sha256hex(tar));
    }
  });

  it('a truncated zstd frame is OCI_LAYER_DECOMPRESS', async () => {
    const z = zstdRawFrame(tar);
    for (const opts of [{}, { inflate: nodeInflate }]) {
      expect(await codeOf(indexLayer(ref(z.subarray(0, z.length - 1000), 'zstd'), opts))).toBe('OCI_LAYER_DECOMPRESS');
    }
  });
});

describe('spill folders of other processes', () => {
  it('removes folders of dead processes, keeps live ones and foreign names', () => {
    const parent = mkdtempSync(join(tmpdir(), 'eifkit-spillsweep-'));
    try {
      const dead = 'eifkit-layers-999999999-x-AbC123';
      const live = `eifkit-layers-${process.pid}-${processStartTime(process.pid) ?? 'x'}-ZZZ999`;
      for (const n of [dead, live, 'eifkit-layers-other']) mkdirSync(join(parent, n));
      expect(removeDeadSpills(parent)).toEqual([dead]);
      expect(readdirSync(parent).sort()).toEqual(['eifkit-layers-other', live].sort());
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });

  it('SIGTERM during a build removes the spill folder', () => {
    const parent = mkdtempSync(join(tmpdir(), 'eifkit-spillsig-'));
    try {
      const script = `
        import { createSpillDir } from '${REPO_ROOT}/dist/node/oci/spill.js';
        const d = createSpillDir(${JSON.stringify(parent)});
        d.spill(0).write(new Uint8Array(10));
        process.kill(process.pid, 'SIGTERM');
        setTimeout(() => {}, 5000);`;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20000 });
      expect(r.status).toBe(143);
      expect(readdirSync(parent)).toEqual([]);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  });
});

describe('multi-member gzip (Docker reads it: observed with docker load)', () => {
  const members = () => {
    const cut = 1 << 20;
    return concat(new Uint8Array(gzipSync(tar.subarray(0, cut))), new Uint8Array(gzipSync(tar.subarray(cut))));
  };

  it('is read by node:zlib and by fflate', async () => {
    for (const inflate of [nodeInflate, (_c: 'gzip' | 'zstd', i: AsyncIterable<Uint8Array>) => fflateGunzip(i)]) {
      const li = await indexLayer(ref(members(), 'gzip'), { inflate });
      expect(sha256hex(await readAll(li.source))).toBe(sha256hex(tar));
    }
  });

  it('browser default: when DecompressionStream refuses it (as Chromium does), the layer is read again with fflate', async () => {
    const real = globalThis.DecompressionStream;
    let made = 0;
    class Refusing extends TransformStream<Uint8Array, Uint8Array> {
      constructor() {
        made++;
        super({ transform: (_c, ctl) => ctl.error(new TypeError('Junk found after end of compressed data.')) });
      }
    }
    (globalThis as { DecompressionStream: unknown }).DecompressionStream = Refusing;
    try {
      const li = await indexLayer(ref(members(), 'gzip'));
      expect(made).toBe(1);
      expect(sha256hex(await readAll(li.source))).toBe(sha256hex(tar));
      // corrupt data: both passes fail, and the first error is reported
      const e = await indexLayer(ref(tar, 'gzip')).catch((x: unknown) => x as EifError);
      expect([e.code, e.message]).toEqual(['OCI_LAYER_DECOMPRESS', expect.stringMatching(/Junk found/)]);
    } finally {
      (globalThis as { DecompressionStream: unknown }).DecompressionStream = real;
    }
  });
});

