/**
 * `eif bench [--size N] [--rounds N] [--json]` — for users of the installed package (no bench/ folder): SHA-384
 * and CRC-32 throughput of the WASM core against node:crypto and zlib.crc32 on this machine, as same-round ratios
 * with medians over rounds, measured by the same code as `npm run bench` (src/node/bench.ts). Progress on stderr
 * when it is a terminal. JSON shape: docs/cli.md.
 */
import type { Argv, CommandModule } from 'yargs';
import { createHash, randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import { cpus } from 'node:os';
import { usageError } from '../../errors.js';
import { VERSION } from '../../version.js';
import { printJson } from '../output.js';

interface BenchArgs {
  size: string;
  rounds: number;
  json: boolean;
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1e3, kb: 1e3, kib: 1024, m: 1e6, mb: 1e6, mib: 1 << 20, g: 1e9, gb: 1e9, gib: 1 << 30 };
const MAX_SIZE = 1 << 30;

/** `1MiB`, `64KiB`, `16M`, `1048576` → bytes (1 B .. 1 GiB). */
export function parseSize(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw usageError(`--size ${JSON.stringify(text)}: expected a byte count such as 1MiB, 64KiB or 1048576`);
  const n = Math.round(Number(m[1]) * unit);
  if (n < 1 || n > MAX_SIZE) throw usageError(`--size ${text}: must be between 1 byte and 1 GiB`);
  return n;
}

const CHUNK = 1 << 20;

export const benchCommand: CommandModule<object, BenchArgs> = {
  command: 'bench',
  describe: 'Measure SHA-384 and CRC-32 throughput of the WASM core against node:crypto / zlib on this machine',
  builder: (y: Argv) =>
    y
      .option('size', { type: 'string', default: '16MiB', describe: 'bytes hashed per operation (e.g. 1MiB, 64KiB)' })
      .option('rounds', { type: 'number', default: 5, describe: 'rounds per comparison (medians over them)' })
      .option('json', { type: 'boolean', default: false, describe: 'machine-readable result on stdout' }) as unknown as Argv<BenchArgs>,
  handler: async (a) => {
    const size = parseSize(a.size);
    if (!Number.isInteger(a.rounds) || a.rounds < 1 || a.rounds > 100) throw usageError('--rounds must be an integer from 1 to 100');
    if (typeof zlib.crc32 !== 'function') throw usageError(`eif bench needs zlib.crc32 (Node >= 20.15 or 22.2); this is Node ${process.version}`, 'BENCH_UNSUPPORTED');
    const { compare } = await import('../../node/bench.js');
    const { coreInstance, createSha384, crc32 } = await import('../../core/index.js');
    const data = randomBytes(size);
    const chunks: Uint8Array[] = [];
    for (let off = 0; off < size; off += CHUNK) chunks.push(data.subarray(off, Math.min(size, off + CHUNK)));
    coreInstance(); // initialised by the CLI before any command runs
    const tty = process.stderr.isTTY && !a.json;
    const log = (m: string) => process.stderr.write(`${tty ? '\r\x1b[K' : ''}eif bench: ${m}\n`);
    const progress = (label: string) => (done: number, total: number) => {
      if (tty) process.stderr.write(`\r\x1b[K${label}: round ${done}/${total}${done === total ? '\n' : ''}`);
    };
    const common = { param: `${size} bytes`, bytes: size, rounds: a.rounds, minTime: 0.2, warmup: 0.1, maxWaitMs: 1500, log };
    let sink = 0;
    const sha = await compare({
      ...common,
      title: 'SHA-384',
      reference: 'node:crypto',
      onRound: progress('SHA-384'),
      impls: [
        { name: 'node:crypto', op: () => { const h = createHash('sha384'); for (const c of chunks) h.update(c); sink ^= h.digest()[0]!; } },
        { name: 'eifkit WASM', op: () => { const h = createSha384(); for (const c of chunks) h.update(c); sink ^= h.digest()[0]!; } },
      ],
    });
    const crc = await compare({
      ...common,
      title: 'CRC-32',
      reference: 'zlib.crc32',
      onRound: progress('CRC-32'),
      impls: [
        { name: 'zlib.crc32', op: () => { let v = 0; for (const c of chunks) v = zlib.crc32(c, v); sink ^= v; } },
        { name: 'eifkit WASM', op: () => { let v = 0; for (const c of chunks) v = crc32(c, v); sink ^= v; } },
      ],
    });
    if (sink === 0.5) process.stderr.write(''); // keep the results observable to the optimiser
    const results = [sha, crc].map((c) => {
      const ref = c.series.find((s) => s.impl === c.reference)!;
      const wasm = c.series.find((s) => s.impl !== c.reference)!;
      const r = (x: number, d = 1) => +x.toFixed(d);
      return {
        algorithm: c.title,
        reference: c.reference,
        referenceMBps: r(ref.mbps.median),
        wasmMBps: r(wasm.mbps.median),
        ratio: r(wasm.ratio.median, 3),
        ratioMin: r(wasm.ratio.min, 3),
        ratioMax: r(wasm.ratio.max, 3),
        cleanRounds: c.cleanRounds,
      };
    });
    const report = { eifkit: VERSION, node: process.version, platform: `${process.platform}-${process.arch}`, cpus: cpus().length, size, rounds: a.rounds, results };
    if (a.json) return printJson(report);
    process.stdout.write(`eifkit ${VERSION}, Node ${process.version}, ${report.platform}, ${report.cpus} CPUs; ${size} bytes per operation, ${a.rounds} rounds (MB/s = 10^6 bytes/s)\n`);
    for (const x of results) {
      process.stdout.write(
        `${x.algorithm.padEnd(8)} WASM ${String(x.wasmMBps).padStart(7)} MB/s  ${x.reference.padEnd(11)} ${String(x.referenceMBps).padStart(7)} MB/s  ` +
          `ratio ${x.ratio} (${x.ratioMin}–${x.ratioMax}, ${x.cleanRounds}/${a.rounds} quiet rounds)\n`,
      );
    }
  },
};
