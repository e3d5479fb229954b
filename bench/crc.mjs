// CRC-32 suite: zlib.crc32 (node:zlib, portable C; the reference) vs eifkit's WASM slice-by-16 (with copy, and
// the no-copy I/O-region path), hash-wasm's crc32, and @node-rs/crc32 (native PCLMUL, what the Node hash pipeline's
// main thread uses when it is installed). 1 MiB pieces (one piece when the buffer is smaller).
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import * as zlib from 'node:zlib';
import { createCRC32 } from 'hash-wasm';
import { KiB, MiB, loadCore, sizeLabel } from './lib.mjs';

export const meta = {
  name: 'crc',
  order: 20,
  description: 'CRC-32 throughput, same-round ratio to zlib.crc32',
  processes: 1,
};

const SIZES = [64 * KiB, MiB, 16 * MiB];
const EIF = 'eifkit WASM (copy)';
const EIF_IO = 'eifkit WASM (io region, no copy)';

export async function run(ctx) {
  if (typeof zlib.crc32 !== 'function') throw new Error('zlib.crc32 needs Node >= 20.15 / 22.2');
  const core = await loadCore();
  const hw = await createCRC32();
  let nodeRs;
  try {
    nodeRs = createRequire(import.meta.url)('@node-rs/crc32').crc32;
  } catch {
    ctx.log?.('crc suite: @node-rs/crc32 is not installed (optional dependency); its row is left out');
  }
  const data = randomBytes(16 * MiB);
  const comparisons = [];
  for (const size of ctx.quick ? [MiB] : SIZES) {
    const chunk = Math.min(size, MiB);
    const chunks = [];
    for (let off = 0; off < size; off += chunk) chunks.push(data.subarray(off, off + chunk));
    const nChunks = chunks.length;
    core.coreInstance().io().set(chunks[0]);
    let sink = 0;
    const impls = [
      {
        name: 'zlib.crc32',
        op: () => {
          let crc = 0;
          for (const c of chunks) crc = zlib.crc32(c, crc);
          sink ^= crc;
        },
      },
      {
        name: EIF,
        op: () => {
          let crc = 0;
          for (const c of chunks) crc = core.crc32(c, crc);
          sink ^= crc;
        },
      },
      {
        name: EIF_IO,
        op: () => {
          let crc = 0;
          for (let i = 0; i < nChunks; i++) crc = core.crc32FromIo(chunk, crc);
          sink ^= crc;
        },
      },
      {
        name: 'hash-wasm crc32',
        op: () => {
          hw.init();
          for (const c of chunks) hw.update(c);
          hw.digest('binary');
        },
      },
    ];
    if (nodeRs) {
      impls.push({
        name: '@node-rs/crc32 (native, PCLMUL)',
        op: () => {
          let crc = 0;
          for (const c of chunks) crc = nodeRs(c, crc);
          sink ^= crc;
        },
      });
    }
    comparisons.push(
      await ctx.compare({ title: 'CRC-32', param: sizeLabel(size), bytes: size, impls, reference: 'zlib.crc32' }),
    );
    if (sink === 0.5) console.error(sink); // keep results observable
  }
  return { comparisons };
}

/** Target from the issue: WASM CRC-32 >= 0.35x zlib.crc32. */
export function checks(comparisons) {
  const out = [];
  for (const c of comparisons) {
    const s = c.series.find((x) => x.impl === EIF);
    if (s) out.push({ name: `CRC-32 ${EIF} ${c.param} >= 0.35x zlib.crc32`, ok: s.ratio.median >= 0.35, value: +s.ratio.median.toFixed(3) });
  }
  return out;
}
