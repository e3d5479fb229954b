#!/usr/bin/env node
// Image suite: `eif build --docker-archive` of generated images (bench/image-gen.mjs: 1 GiB of files in two
// layers), timed as whole commands against native tools in the same round, plus peak RSS at 2 GiB of files.
// Under bench/run.mjs, or alone: `node bench/image.mjs [--quick] [--json]`.
//
// Targets (issue 11): uncompressed layers ≤ 3.0× one `openssl dgst -sha384` over the archive; gzip layers ≤ 1.3×
// (`gzip -dc` of the layers + one `openssl dgst -sha384` over the uncompressed data, timed one after the other);
// peak RSS ≤ 160 MiB for an image with 2 GiB of files.

export const meta = {
  name: 'image',
  order: 35,
  description: 'eif build --docker-archive of an image with 1 GiB of files vs openssl / gzip -dc (whole commands); peak RSS at 2 GiB',
  processes: 1,
};
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MiB, formatTable, median, waitQuiet, cpuProbe } from './lib.mjs';
import { makeBenchImage, removeBenchImage } from './image-gen.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const cliRss = join(here, 'cli-rss.mjs');

function timed(cmd, args, opts = {}) {
  const probe = cpuProbe();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * MiB, ...opts });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const others = probe();
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  const m = /\{"maxRssKiB": ?(\d+)\}\s*$/.exec(r.stderr);
  return { secs, rssMiB: m ? Number(m[1]) / 1024 : undefined, others };
}

const sh = (script) => timed('sh', ['-c', script]);
const q = (p) => `'${p.replace(/'/g, `'\\''`)}'`;

export async function run(ctx = {}) {
  const quick = ctx.quick ?? false;
  const log = ctx.log ?? ((s) => process.stderr.write(s + '\n'));
  if (!existsSync(join(here, '..', 'dist', 'cli', 'main.js'))) throw new Error('build first: npm run build');
  for (const tool of [['openssl', 'version'], ['gzip', '--version']]) {
    if (spawnSync(tool[0], [tool[1]]).status !== 0) throw new Error(`the image suite needs ${tool[0]} as a native reference`);
  }
  const work = mkdtempSync(join(tmpdir(), 'eifkit-bench-image-'));
  const rounds = ctx.rounds ?? (quick ? 2 : 5);
  const mib = quick ? 256 : 1024;
  const rssMib = quick ? 512 : 2048;
  try {
    log(`image suite: generating images in ${work} (${mib} MiB of files, plain and gzip; ${rssMib} MiB for RSS)`);
    const blobs = join(work, 'blobs');
    timed(process.execPath, [join(here, '..', 'bin', 'eif.js'), 'blobs', '--standin', blobs]);
    const plain = await makeBenchImage(join(work, 'plain.tar'), { mib });
    const gz = await makeBenchImage(join(work, 'gzip.tar'), { mib, gzip: true });
    const build = (img, out) => [cliRss, 'build', '--quiet', '--docker-archive', img.path, '--blobs', blobs, '--output', out, '--build-time', '2024-01-01T00:00:00+00:00'];
    const eifOut = join(work, 'out.eif');
    const gzLayers = gz.layers.map((l) => q(l.blob)).join(' ');
    const gzTars = gz.layers.map((l) => q(l.tar)).join(' ');
    // warm the page cache
    timed('openssl', ['dgst', '-sha384', plain.path]);
    timed('openssl', ['dgst', '-sha384', gz.path]);
    const ops = [
      { name: 'openssl dgst -sha384 (archive, plain layers)', run: () => timed('openssl', ['dgst', '-sha384', plain.path]) },
      { name: 'eif build --docker-archive (plain layers)', run: () => { const r = timed(process.execPath, build(plain, eifOut)); rmSync(eifOut, { force: true }); return r; } },
      {
        name: 'gzip -dc layers, then openssl dgst -sha384 (uncompressed)',
        run: () => {
          const a = sh(`gzip -dc ${gzLayers} > /dev/null`);
          const b = sh(`openssl dgst -sha384 ${gzTars} > /dev/null`);
          return { secs: a.secs + b.secs, others: Math.max(a.others, b.others) };
        },
      },
      { name: 'gzip -dc layers | openssl dgst -sha384 (pipe, for scale)', run: () => sh(`gzip -dc ${gzLayers} | openssl dgst -sha384 > /dev/null`) },
      { name: 'eif build --docker-archive (gzip layers)', run: () => { const r = timed(process.execPath, build(gz, eifOut)); rmSync(eifOut, { force: true }); return r; } },
    ];
    const per = Object.fromEntries(ops.map((o) => [o.name, []]));
    for (let r = 0; r < rounds; r++) {
      await waitQuiet(20_000, log);
      const res = {};
      for (let k = 0; k < ops.length; k++) {
        const o = ops[(k + r) % ops.length];
        res[o.name] = o.run();
      }
      for (const o of ops) per[o.name].push(res[o.name]);
      per[ops[1].name].at(-1).ratio = res[ops[1].name].secs / res[ops[0].name].secs;
      per[ops[4].name].at(-1).ratio = res[ops[4].name].secs / res[ops[2].name].secs;
      per[ops[3].name].at(-1).ratio = res[ops[3].name].secs / res[ops[2].name].secs;
      log(`round ${r + 1}/${rounds}: ` + ops.map((o) => `${res[o.name].secs.toFixed(2)} s`).join(', '));
    }
    removeBenchImage(plain);
    removeBenchImage(gz);
    log(`image suite: peak RSS at ${rssMib} MiB of files`);
    const big = await makeBenchImage(join(work, 'big.tar'), { mib: rssMib });
    const rss = timed(process.execPath, build(big, eifOut)).rssMiB;
    rmSync(eifOut, { force: true });
    removeBenchImage(big);
    const ref = { [ops[1].name]: ops[0].name, [ops[4].name]: ops[2].name, [ops[3].name]: ops[2].name };
    const rows = ops.map((o) => {
      const xs = per[o.name];
      const rs = xs.map((x) => x.ratio).filter((x) => x !== undefined);
      return {
        command: o.name,
        'wall s median': median(xs.map((x) => x.secs)).toFixed(3),
        'min–max': `${Math.min(...xs.map((x) => x.secs)).toFixed(2)}–${Math.max(...xs.map((x) => x.secs)).toFixed(2)}`,
        'time ratio': rs.length ? `${median(rs).toFixed(2)} (to ${ref[o.name].split(' (')[0].split(',')[0]})` : 'ref',
        'ratio min–max': rs.length ? `${Math.min(...rs).toFixed(2)}–${Math.max(...rs).toFixed(2)}` : '',
        'peak RSS MiB': xs[0].rssMiB ? median(xs.map((x) => x.rssMiB)).toFixed(0) : '',
      };
    });
    const bytes = mib * MiB;
    const stat = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length });
    const comparison = {
      title: 'image',
      param: `${mib} MiB of files`,
      reference: ops[0].name,
      rounds,
      cleanRounds: rounds,
      series: ops.map((o) => ({
        impl: o.name,
        param: `${mib} MiB of files`,
        mbps: stat(per[o.name].map((x) => bytes / x.secs / 1e6)),
        ratio: stat(per[o.name].map((x) => (x.ratio ? 1 / x.ratio : 1))),
        timeRatio: per[o.name][0].ratio === undefined ? undefined : stat(per[o.name].map((x) => x.ratio)),
        rssMiB: per[o.name][0].rssMiB === undefined ? undefined : median(per[o.name].map((x) => x.rssMiB)),
      })),
      rssBigMiB: rss,
      rssBigFilesMiB: rssMib,
    };
    return { comparisons: [comparison], extra: { rows, samples: per, rssBigMiB: rss }, table: formatTable(rows), mib, rssMib, rss, rounds };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Issue 11's targets: time ratios (lower is better) and peak RSS. */
export function checks(comparisons) {
  const c = comparisons[0];
  const t = (n) => c.series.find((s) => s.impl === n).timeRatio.median;
  const plain = t('eif build --docker-archive (plain layers)');
  const gz = t('eif build --docker-archive (gzip layers)');
  return [
    { name: 'uncompressed layers ≤ 3.0x openssl dgst -sha384 of the archive', value: `${plain.toFixed(2)}x`, ok: plain <= 3.0 },
    { name: 'gzip layers ≤ 1.3x (gzip -dc + openssl dgst -sha384)', value: `${gz.toFixed(2)}x`, ok: gz <= 1.3 },
    { name: `peak RSS ≤ 160 MiB at ${c.rssBigFilesMiB} MiB of files`, value: `${c.rssBigMiB.toFixed(0)} MiB`, ok: c.rssBigMiB <= 160 },
  ];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  const json = process.argv.includes('--json');
  const r = await run({ quick });
  if (json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  else {
    process.stdout.write(`\neif build --docker-archive, ${r.mib} MiB of files, ${r.rounds} rounds (median of same-round ratios)\n${r.table}\n`);
    process.stdout.write(`peak RSS at ${r.rssMib} MiB of files: ${r.rss.toFixed(0)} MiB\n`);
    for (const c of checks(r.comparisons)) process.stdout.write(`${c.ok ? 'PASS' : 'MISS'} ${c.name}: ${c.value}\n`);
  }
}
