// SHA-384 suite: node:crypto (native OpenSSL, the reference) vs eifkit's WASM core (with the JS->WASM copy, and
// the no-copy I/O-region path the EIF builder uses), hash-wasm and @noble/hashes. Streaming in 1 MiB updates
// (one update when the message is smaller). Runs in >= 3 fresh processes (performance.md §7: rare per-process
// slow runs of WASM code), reported per process and as the median across processes.
import { createHash, randomBytes } from 'node:crypto';
import { createSHA384 } from 'hash-wasm';
import { sha384 as nobleSha384 } from '@noble/hashes/sha2.js';
import { KiB, MiB, loadCore, sizeLabel } from './lib.mjs';

export const meta = {
  name: 'hash',
  order: 10,
  description: 'SHA-384 throughput, same-round ratio to node:crypto',
  processes: 3,
};

const SIZES = [64 * KiB, MiB, 16 * MiB];
const EIF = 'eifkit WASM (copy)';
const EIF_IO = 'eifkit WASM (io region, no copy)';

export async function run(ctx) {
  const core = await loadCore();
  const hw = await createSHA384();
  const data = randomBytes(16 * MiB);
  const comparisons = [];
  for (const size of ctx.quick ? [MiB] : SIZES) {
    const chunk = Math.min(size, MiB);
    const chunks = [];
    for (let off = 0; off < size; off += chunk) chunks.push(data.subarray(off, off + chunk));
    const nChunks = chunks.length;
    core.coreInstance().io().set(chunks[0]);
    const impls = [
      {
        name: 'node:crypto',
        op: () => {
          const h = createHash('sha384');
          for (const c of chunks) h.update(c);
          h.digest();
        },
      },
      {
        name: EIF,
        op: () => {
          const h = core.createSha384();
          for (const c of chunks) h.update(c);
          h.digest();
        },
      },
      {
        // Throughput only: hashes whatever the I/O region holds, nChunks times (the builder reads files into it).
        name: EIF_IO,
        op: () => {
          const h = core.createSha384();
          for (let i = 0; i < nChunks; i++) h.updateFromIo(chunk);
          h.digest();
        },
      },
      {
        name: 'hash-wasm',
        op: () => {
          hw.init();
          for (const c of chunks) hw.update(c);
          hw.digest('binary');
        },
      },
      {
        name: '@noble/hashes',
        op: () => {
          const h = nobleSha384.create();
          for (const c of chunks) h.update(c);
          h.digest();
        },
      },
    ];
    comparisons.push(
      await ctx.compare({ title: 'SHA-384', param: sizeLabel(size), bytes: size, impls, reference: 'node:crypto' }),
    );
  }
  return { comparisons };
}

/** Targets from the issue: WASM SHA-384 >= 0.60x node:crypto on buffers >= 1 MiB. */
export function checks(comparisons) {
  const out = [];
  for (const c of comparisons) {
    if (c.param === '64 KiB') continue;
    for (const impl of [EIF, EIF_IO]) {
      const s = c.series.find((x) => x.impl === impl);
      if (s) out.push({ name: `SHA-384 ${impl} ${c.param} >= 0.60x node:crypto`, ok: s.ratio.median >= 0.6, value: +s.ratio.median.toFixed(3) });
    }
  }
  return out;
}
