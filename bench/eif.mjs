#!/usr/bin/env node
// EIF suite: `eif build`, `eif describe` and `eif verify` of an image with a large ramdisk, timed as whole
// commands (wall clock, process start included) against `openssl dgst -sha384` of that ramdisk in the same round,
// plus peak RSS at two image sizes (it must stay flat). Under bench/run.mjs, or alone:
// `node bench/eif.mjs [--quick] [--json]`. MB/s = ramdisk bytes / wall time; "time ratio" = our time / openssl's.
//
// Targets (issue: core): build ≤ 2.0x openssl (aim 1.8x), describe/verify ≤ 1.8x (aim 1.6x), RSS ≤ 128 MiB.

export const meta = {
  name: 'eif',
  order: 30,
  description: 'eif build / describe / verify of an image with a 1 GiB ramdisk vs openssl dgst -sha384 of it (whole commands)',
  processes: 1,
};
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, openSync, writeSync, closeSync, readFileSync, existsSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MiB, formatTable, median, waitQuiet, cpuProbe } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const cliRss = join(here, 'cli-rss.mjs');

function makeRandomFile(path, bytes) {
  const fd = openSync(path, 'w');
  const buf = Buffer.alloc(8 * MiB);
  for (let done = 0; done < bytes; done += buf.length) {
    randomFillSync(buf);
    writeSync(fd, buf, 0, Math.min(buf.length, bytes - done));
  }
  closeSync(fd);
}

function timed(cmd, args) {
  const probe = cpuProbe();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * MiB });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const others = probe();
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  const m = /\{"maxRssKiB": ?(\d+)\}\s*$/.exec(r.stderr);
  return { secs, rssMiB: m ? Number(m[1]) / 1024 : undefined, others };
}

export async function run(ctx = {}) {
  const quick = ctx.quick ?? false;
  const log = ctx.log ?? ((s) => process.stderr.write(s + '\n'));
  const dir = ctx.dir;
  if (!existsSync(join(here, '..', 'dist', 'cli', 'main.js'))) throw new Error('build first: npm run build');
  const openssl = spawnSync('openssl', ['version']).status === 0;
  if (!openssl) throw new Error('the EIF suite needs the openssl CLI as its native reference');
  const work = dir ?? mkdtempSync(join(tmpdir(), 'eifkit-bench-'));
  const rounds = ctx.rounds ?? (quick ? 3 : 5);
  const bigMiB = quick ? 256 : 1024;
  const smallMiB = quick ? 64 : 256;
  try {
    log(`eif suite: making inputs in ${work} (kernel 8 MiB, ramdisk0 1 MiB, ramdisk1 ${bigMiB} MiB and ${smallMiB} MiB)`);
    const kernel = join(work, 'bzImage');
    const rd0 = join(work, 'rd0.cpio');
    const big = join(work, 'big.img');
    const small = join(work, 'small.img');
    makeRandomFile(kernel, 8 * MiB);
    makeRandomFile(rd0, 1 * MiB);
    makeRandomFile(big, bigMiB * MiB);
    makeRandomFile(small, smallMiB * MiB);
    const buildArgs = (rd1, out) => [cliRss, 'build', '--quiet', '--kernel', kernel, '--cmdline', 'console=ttyS0', '--ramdisk', rd0, '--ramdisk', rd1, '--output', out, '--build-time', '2024-01-01T00:00:00+00:00'];
    const image = join(work, 'image.eif');
    const smallImage = join(work, 'small.eif');
    timed(process.execPath, buildArgs(big, image));
    timed(process.execPath, buildArgs(small, smallImage));
    // warm the page cache for every input
    timed('openssl', ['dgst', '-sha384', big]);

    const ops = [
      { name: 'openssl dgst -sha384 (ramdisk)', run: () => timed('openssl', ['dgst', '-sha384', big]) },
      { name: 'eif build', run: () => { const out = join(work, 'out.eif'); const r = timed(process.execPath, buildArgs(big, out)); rmSync(out, { force: true }); return r; } },
      { name: 'eif describe', run: () => timed(process.execPath, [cliRss, 'describe', '--quiet', image]) },
      { name: 'eif verify', run: () => timed(process.execPath, [cliRss, 'verify', '--quiet', image]) },
      // Not a target: what writing the image's bytes costs this machine natively (build = describe's work + this).
      { name: 'cp ramdisk to a new file (native write, for scale)', run: () => { const out = join(work, 'copy.img'); const r = timed('cp', [big, out]); rmSync(out, { force: true }); return r; } },
    ];
    const per = Object.fromEntries(ops.map((o) => [o.name, []]));
    for (let r = 0; r < rounds; r++) {
      await waitQuiet(20_000, log);
      const res = {};
      for (let k = 0; k < ops.length; k++) {
        const o = ops[(k + r) % ops.length];
        res[o.name] = o.run();
      }
      const ref = res[ops[0].name].secs;
      for (const o of ops) per[o.name].push({ ...res[o.name], ratio: res[o.name].secs / ref });
      log(`round ${r + 1}/${rounds}: ` + ops.map((o) => `${o.name.split(' ')[0] === 'openssl' ? 'openssl' : o.name} ${res[o.name].secs.toFixed(2)} s`).join(', '));
    }
    const smallRss = {
      build: timed(process.execPath, buildArgs(small, join(work, 'out-small.eif'))).rssMiB,
      describe: timed(process.execPath, [cliRss, 'describe', '--quiet', smallImage]).rssMiB,
    };
    const rows = ops.map((o) => {
      const xs = per[o.name];
      return {
        command: o.name,
        'wall s median': median(xs.map((x) => x.secs)).toFixed(3),
        'min–max': `${Math.min(...xs.map((x) => x.secs)).toFixed(2)}–${Math.max(...xs.map((x) => x.secs)).toFixed(2)}`,
        'ratio to openssl': o === ops[0] ? '1 (ref)' : median(xs.map((x) => x.ratio)).toFixed(2),
        'ratio min–max': o === ops[0] ? '' : `${Math.min(...xs.map((x) => x.ratio)).toFixed(2)}–${Math.max(...xs.map((x) => x.ratio)).toFixed(2)}`,
        [`peak RSS MiB (${bigMiB} MiB image)`]: xs[0].rssMiB ? median(xs.map((x) => x.rssMiB)).toFixed(0) : '',
        [`peak RSS MiB (${smallMiB} MiB image)`]: o.name === 'eif build' ? smallRss.build.toFixed(0) : o.name === 'eif describe' ? smallRss.describe.toFixed(0) : '',
      };
    });
    const bytes = bigMiB * MiB;
    const stat = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length });
    const comparison = {
      title: 'eif',
      param: `${bigMiB} MiB ramdisk`,
      reference: ops[0].name,
      rounds,
      cleanRounds: rounds,
      series: ops.map((o) => ({
        impl: o.name,
        param: `${bigMiB} MiB ramdisk`,
        mbps: stat(per[o.name].map((x) => bytes / x.secs / 1e6)),
        ratio: stat(per[o.name].map((x) => 1 / x.ratio)),
        timeRatio: stat(per[o.name].map((x) => x.ratio)),
        rssMiB: per[o.name][0].rssMiB === undefined ? undefined : median(per[o.name].map((x) => x.rssMiB)),
        rssSmallMiB: o.name === 'eif build' ? smallRss.build : o.name === 'eif describe' ? smallRss.describe : undefined,
      })),
    };
    return { comparisons: [comparison], extra: { imageMiB: bigMiB, smallImageMiB: smallMiB, rows, samples: per }, table: formatTable(rows), imageMiB: bigMiB, rounds };
  } finally {
    if (!dir) rmSync(work, { recursive: true, force: true });
  }
}

/** Targets from the core issue, as time ratios to openssl (lower is better) and peak RSS. */
export function checks(comparisons) {
  const c = comparisons[0];
  const by = (n) => c.series.find((s) => s.impl === n);
  const t = (n) => (by(n).timeRatio ? by(n).timeRatio.median : 1 / by(n).ratio.median);
  const out = [
    { name: 'eif build ≤ 2.0x openssl time (aim 1.8x)', value: `${t('eif build').toFixed(2)}x`, ok: t('eif build') <= 2.0 },
    { name: 'eif describe ≤ 1.8x openssl time (aim 1.6x)', value: `${t('eif describe').toFixed(2)}x`, ok: t('eif describe') <= 1.8 },
    { name: 'eif verify ≤ 1.8x openssl time (aim 1.6x)', value: `${t('eif verify').toFixed(2)}x`, ok: t('eif verify') <= 1.8 },
  ];
  for (const n of ['eif build', 'eif describe', 'eif verify']) {
    const s = by(n);
    if (s.rssMiB !== undefined) {
      const small = s.rssSmallMiB !== undefined ? `, ${s.rssSmallMiB.toFixed(0)} MiB at the small image` : '';
      out.push({ name: `${n} peak RSS ≤ 128 MiB, flat in image size`, value: `${s.rssMiB.toFixed(0)} MiB${small}`, ok: s.rssMiB <= 128 });
    }
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  const json = process.argv.includes('--json');
  const r = await run({ quick });
  if (json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  else process.stdout.write(`\nEIF build / describe / verify, ${r.imageMiB} MiB ramdisk, ${r.rounds} rounds (median of same-round ratios)\n${r.table}\n`);
}
