// Shared benchmark machinery (see bench/README.md): quiet-box waiting, other-process CPU accounting from /proc/stat,
// same-round ratio comparisons with rotating order, medians, table printing, and aggregation across processes.
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

export const MB = 1e6; // MB/s means 10^6 bytes per second (the unit of `openssl speed`)
export const KiB = 1024;
export const MiB = 1024 * 1024;

const NCPU = cpus().length || 1;
const CLK_TCK = 100; // USER_HZ on Linux; /proc/stat counts in these ticks
const QUIET = 0.15; // a sample is "noisy" when other processes used >= 15 % of the whole box during it

/** Total busy and total ticks of the box from /proc/stat, or null where there is no /proc (macOS, Windows). */
function boxTicks() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0); // user nice system idle iowait irq softirq steal
    const idle = f[3] + f[4];
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

/** A probe that measures how much of the box OTHER processes (and the hypervisor, via steal) used meanwhile. */
export function cpuProbe() {
  const t0 = boxTicks();
  const own0 = process.cpuUsage();
  const w0 = process.hrtime.bigint();
  return () => {
    const t1 = boxTicks();
    if (!t0 || !t1) return null;
    const own = process.cpuUsage(own0);
    const wall = Number(process.hrtime.bigint() - w0) / 1e9;
    const busySec = (t1.busy - t0.busy) / CLK_TCK;
    const ownSec = (own.user + own.system) / 1e6;
    const capacity = wall * NCPU;
    if (capacity <= 0) return 0;
    return Math.max(0, Math.min(1, (busySec - ownSec) / capacity));
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Wait until other processes use less than 15 % of the box (checked over 300 ms windows), at most `maxWaitMs`.
 * Returns { quiet, others, waitedMs }. Without /proc it returns at once with others = null.
 */
export async function waitQuiet(maxWaitMs, log = () => {}) {
  const start = Date.now();
  let others = null;
  for (;;) {
    const probe = cpuProbe();
    await sleep(300);
    others = probe();
    if (others === null) return { quiet: true, others: null, waitedMs: Date.now() - start };
    if (others < QUIET) return { quiet: true, others, waitedMs: Date.now() - start };
    if (Date.now() - start >= maxWaitMs) {
      log(`box still busy after ${((Date.now() - start) / 1000).toFixed(1)} s (others ${(others * 100).toFixed(0)} %); measuring anyway`);
      return { quiet: false, others, waitedMs: Date.now() - start };
    }
  }
}

export function median(xs) {
  if (xs.length === 0) return NaN;
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}
export const stats = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length });

/** Run `op` (which processes `bytes` bytes) repeatedly for at least `minTime` seconds; returns MB/s. */
function timeOp(op, bytes, minTime) {
  let n = 0;
  const t0 = process.hrtime.bigint();
  let el = 0;
  do {
    op();
    n++;
    el = Number(process.hrtime.bigint() - t0) / 1e9;
  } while (el < minTime);
  return (bytes * n) / el / MB;
}

/**
 * Same-round comparison. `impls` = [{ name, op }] (op processes `bytes` bytes once), `reference` = the name of
 * the native reference. Each round waits for a quiet box, then runs every implementation once in a rotating order
 * and divides each by the reference's MB/s from the SAME round. Medians use clean rounds only when at least 3
 * clean rounds remain (otherwise all rounds, and the result says so).
 */
export async function compare({ title, param, bytes, impls, reference, rounds, minTime, warmup, maxWaitMs, log }) {
  log ??= () => {};
  // Warm-up: get every implementation past V8's baseline tier (Liftoff / Sparkplug) before measuring.
  for (const im of impls) timeOp(im.op, bytes, warmup);
  const per = Object.fromEntries(impls.map((im) => [im.name, []]));
  const roundInfo = [];
  for (let r = 0; r < rounds; r++) {
    const q = await waitQuiet(maxWaitMs, log);
    const mbps = {};
    const othersOf = {};
    for (let k = 0; k < impls.length; k++) {
      const im = impls[(k + r) % impls.length];
      const probe = cpuProbe();
      mbps[im.name] = timeOp(im.op, bytes, minTime);
      othersOf[im.name] = probe();
    }
    const noisy = Object.values(othersOf).some((o) => o !== null && o >= QUIET);
    if (noisy) {
      const worst = Math.max(...Object.values(othersOf).map((o) => o ?? 0));
      log(`${title} ${param}: round ${r + 1} noisy (other processes up to ${(worst * 100).toFixed(0)} % of the box)`);
    }
    roundInfo.push({ noisy, quietBefore: q.quiet, others: othersOf });
    for (const im of impls) per[im.name].push({ mbps: mbps[im.name], ratio: mbps[im.name] / mbps[reference], noisy });
  }
  const clean = roundInfo.filter((x) => !x.noisy).length;
  const useClean = clean >= 3;
  const series = impls.map((im) => {
    const xs = per[im.name].filter((s) => !useClean || !s.noisy);
    return {
      impl: im.name,
      param,
      mbps: stats(xs.map((s) => s.mbps)),
      ratio: stats(xs.map((s) => s.ratio)),
      samples: per[im.name].map((s) => ({ mbps: +s.mbps.toFixed(1), ratio: +s.ratio.toFixed(4), noisy: s.noisy })),
    };
  });
  return { title, param, reference, rounds, cleanRounds: clean, usedCleanOnly: useClean, series };
}

/**
 * Merge the comparisons of several processes (same suite, same order): per (title, param, impl) the per-process
 * medians and the median across processes.
 */
export function aggregateProcesses(results) {
  const out = [];
  const first = results[0];
  for (let i = 0; i < first.comparisons.length; i++) {
    const c0 = first.comparisons[i];
    const series = c0.series.map((s0, j) => {
      const perProc = results.map((r) => r.comparisons[i].series[j]);
      return {
        impl: s0.impl,
        param: s0.param,
        perProcess: perProc.map((p) => ({ mbps: +p.mbps.median.toFixed(1), ratio: +p.ratio.median.toFixed(4) })),
        mbps: stats(perProc.map((p) => p.mbps.median)),
        ratio: stats(perProc.map((p) => p.ratio.median)),
      };
    });
    out.push({
      title: c0.title,
      param: c0.param,
      reference: c0.reference,
      processes: results.length,
      cleanRounds: results.map((r) => r.comparisons[i].cleanRounds),
      series,
    });
  }
  return out;
}

const f0 = (x) => (Number.isFinite(x) ? x.toFixed(0) : '-');
const f3 = (x) => (Number.isFinite(x) ? x.toFixed(3) : '-');

/** Plain-text table of comparisons (single- or multi-process). */
export function formatComparisons(comparisons) {
  const rows = [];
  for (const c of comparisons) {
    for (const s of c.series) {
      const row = {
        suite: c.title,
        size: c.param,
        impl: s.impl,
        'MB/s median': f0(s.mbps.median),
        'MB/s min–max': `${f0(s.mbps.min)}–${f0(s.mbps.max)}`,
        ratio: s.impl === c.reference ? '1 (ref)' : f3(s.ratio.median),
        'ratio min–max': s.impl === c.reference ? '' : `${f3(s.ratio.min)}–${f3(s.ratio.max)}`,
      };
      if (s.perProcess) row['ratio per process'] = s.impl === c.reference ? '' : s.perProcess.map((p) => p.ratio.toFixed(3)).join(' ');
      else row['clean rounds'] = `${c.cleanRounds}/${c.rounds}`;
      rows.push(row);
    }
  }
  return formatTable(rows);
}

export function formatTable(rows) {
  if (rows.length === 0) return '';
  const cols = Object.keys(rows[0]);
  const width = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c] ?? '').length)));
  const line = (cells) => cells.map((x, i) => String(x).padEnd(width[i])).join('  ').trimEnd();
  return [line(cols), line(width.map((w) => '-'.repeat(w))), ...rows.map((r) => line(cols.map((c) => r[c] ?? '')))].join('\n');
}

export const sizeLabel = (n) => (n >= MiB ? `${n / MiB} MiB` : `${n / KiB} KiB`);

/** Import the built eifkit WASM core (dist/, from `node scripts/build.mjs`), initialised. */
export async function loadCore() {
  const url = new URL('../dist/core/index.js', import.meta.url);
  let core;
  try {
    core = await import(url.href);
  } catch (e) {
    throw new Error(`cannot load ${url.pathname} (${e.message}); run \`node scripts/build.mjs\` first`);
  }
  await core.initCore();
  return core;
}
