// Shared benchmark machinery (see bench/README.md): table printing and aggregation across processes here; the
// measurement core is re-exported from the built src/node/bench.ts.
// The measurement core (quiet-box waiting, /proc/stat accounting, same-round compare, medians) lives in
// src/node/bench.ts, so `eif bench` (installed package, no bench/ folder) measures the same way as this suite.
let core;
try {
  core = await import(new URL('../dist/node/bench.js', import.meta.url).href);
} catch (e) {
  throw new Error(`cannot load dist/node/bench.js (${e.message}); run \`node scripts/build.mjs\` first`);
}
export const { MB, cpuProbe, waitQuiet, median, stats, compare } = core;
export const KiB = 1024;
export const MiB = 1024 * 1024;

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
