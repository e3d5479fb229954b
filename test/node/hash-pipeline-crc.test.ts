import { describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import { initCore } from '../../src/core/index.js';
import { PIPELINE_CRC32, pickCrc32 } from '../../src/node/hash-pipeline.js';

await initCore();
const zlibCrc = (zlib as unknown as { crc32: (d: Uint8Array, v?: number) => number }).crc32;

function nodeRsInstalled(): boolean {
  try {
    createRequire(import.meta.url)('@node-rs/crc32');
    return true;
  } catch {
    return false;
  }
}

describe('the hash pipeline main-thread CRC-32 (src/node/hash-pipeline.ts)', () => {
  it('prefers @node-rs/crc32 when it is installed, else zlib', () => {
    expect(PIPELINE_CRC32).toBe(process.env.EIF_CRC ? PIPELINE_CRC32 : nodeRsInstalled() ? 'node-rs' : 'zlib');
    expect(pickCrc32(undefined).name).toBe(nodeRsInstalled() ? 'node-rs' : 'zlib');
    expect(pickCrc32('zlib').name).toBe('zlib');
    expect(pickCrc32('wasm').name).toBe('wasm');
    expect(pickCrc32('bogus').name).toBe(pickCrc32(undefined).name);
  });

  it('every choice computes zlib’s CRC-32, continued across chunk boundaries, on any view (SAB, WASM memory)', () => {
    const data = randomBytes(3 * 1024 * 1024 + 77);
    const want = zlibCrc(data) >>> 0;
    const sab = new Uint8Array(new SharedArrayBuffer(data.length + 5), 5, data.length);
    sab.set(data);
    for (const choice of ['node-rs', 'zlib', 'wasm']) {
      const { fn } = pickCrc32(choice);
      for (const view of [data, sab]) {
        let prev = 0;
        let c = 0;
        for (const end of [1, 16, 1000, 1 << 20, 2 * (1 << 20) + 3, data.length]) {
          c = fn(view.subarray(prev, end), c);
          prev = end;
        }
        expect(c >>> 0, choice).toBe(want);
      }
      expect(fn(new Uint8Array(0), 1234) >>> 0, `${choice} of nothing keeps the previous value`).toBe(1234);
    }
  });
});

describe('the hash pipeline: input read errors name the file (issue 9: IO_* errors name the file)', () => {
  it('an operating-system error while reading becomes IO_<ERRNO> with what was being read', async () => {
    const { HashPipeline } = await import('../../src/node/hash-pipeline.js');
    const { openSync, closeSync, mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(`${tmpdir()}/eif-read-`);
    const fd = openSync(dir, 'r'); // a directory: read(2) fails with EISDIR, as a failing disk would with EIO
    const p = new HashPipeline({ parallel: false, initialCrc: 0 });
    try {
      await expect(p.pushFile(fd, 0, 4096, 1, `section 3 of ${dir}/app.eif`)).rejects.toMatchObject({
        code: 'IO_EISDIR',
        message: expect.stringContaining(`section 3 of ${dir}/app.eif`),
      });
    } finally {
      p.close();
      closeSync(fd);
    }
  });
});
