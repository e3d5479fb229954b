#!/usr/bin/env node
// eifkit benchmarks: `npm run bench` (= node bench/run.mjs). See bench/README.md.
//   --only hash,crc   run only these suites (by meta.name)
//   --quick           fast smoke run: fewer rounds, shorter samples, one size, one process
//   --json            machine-readable output on stdout (logs go to stderr)
//   --rounds N        rounds per comparison (default 7, quick 3)
//   --procs N         fresh processes for suites that want several (default: the suite's meta.processes)
//   --strict          exit 1 when a target check fails
// Suites are the other bench/*.mjs files with a top-level `export const meta` ({ name, description, order?,
// processes? }) and `run(ctx)`; optionally `checks(comparisons)`. Requires a built tree (`node scripts/build.mjs`).
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { cpus } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { aggregateProcesses, compare, formatComparisons, formatTable } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));

function parseArgs(argv) {
  const o = { only: null, quick: false, json: false, rounds: null, procs: null, strict: false, child: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--only') o.only = val().split(',').map((s) => s.trim()).filter(Boolean);
    else if (a === '--quick') o.quick = true;
    else if (a === '--json') o.json = true;
    else if (a === '--strict') o.strict = true;
    else if (a === '--rounds') o.rounds = Number(val());
    else if (a === '--procs') o.procs = Number(val());
    else if (a === '--child') o.child = val();
    else if (a === '--help' || a === '-h') {
      console.log(readHelp());
      process.exit(0);
    } else throw new Error(`unknown option ${a} (see --help)`);
  }
  for (const k of ['rounds', 'procs']) {
    if (o[k] !== null && !(Number.isInteger(o[k]) && o[k] >= 1)) throw new Error(`--${k} must be a positive integer`);
  }
  return o;
}

function readHelp() {
  return 'usage: node bench/run.mjs [--only a,b] [--quick] [--json] [--rounds N] [--procs N] [--strict]';
}

async function loadSuites() {
  // Only files that declare `export const meta` are imported: other scripts here (helpers that run a CLI when
  // imported, for example) must not execute as a side effect of discovery.
  const files = readdirSync(here).filter(
    (f) =>
      f.endsWith('.mjs') &&
      f !== 'run.mjs' &&
      f !== 'lib.mjs' &&
      /^export const meta\b/m.test(readFileSync(join(here, f), 'utf8')),
  );
  const suites = [];
  for (const f of files) {
    const mod = await import(pathToFileURL(join(here, f)).href);
    if (mod.meta && typeof mod.run === 'function') suites.push({ file: basename(f), ...mod, meta: mod.meta });
  }
  suites.sort((a, b) => (a.meta.order ?? 100) - (b.meta.order ?? 100) || a.meta.name.localeCompare(b.meta.name));
  return suites;
}

function makeCtx(opts) {
  const log = (msg) => process.stderr.write(`bench: ${msg}\n`);
  const defaults = {
    rounds: opts.rounds ?? (opts.quick ? 3 : 7),
    minTime: opts.quick ? 0.08 : 0.3,
    warmup: opts.quick ? 0.15 : 0.5,
    maxWaitMs: opts.quick ? 1500 : 20000,
    log,
  };
  return {
    quick: opts.quick,
    ...defaults,
    log,
    /** Same-round comparison with the run's defaults (see lib.mjs compare()). */
    compare: (o) => compare({ ...defaults, ...o }),
  };
}

/** Run one suite in this process. */
async function runHere(suite, opts) {
  const res = await suite.run(makeCtx(opts));
  return { comparisons: res.comparisons ?? [], extra: res.extra };
}

/** Run one suite in `n` fresh child processes, one after the other. */
function runChildren(suite, opts, n) {
  const results = [];
  for (let p = 0; p < n; p++) {
    process.stderr.write(`bench: ${suite.meta.name}: process ${p + 1}/${n}\n`);
    const args = [fileURLToPath(import.meta.url), '--child', suite.meta.name];
    if (opts.quick) args.push('--quick');
    if (opts.rounds) args.push('--rounds', String(opts.rounds));
    const r = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
    if (r.status !== 0) throw new Error(`suite ${suite.meta.name} failed in a child process (status ${r.status})`);
    results.push(JSON.parse(r.stdout));
  }
  return results;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const suites = await loadSuites();
  if (opts.child) {
    const s = suites.find((x) => x.meta.name === opts.child);
    if (!s) throw new Error(`no suite ${opts.child}`);
    process.stdout.write(JSON.stringify(await runHere(s, opts)) + '\n');
    return;
  }
  const known = suites.map((s) => s.meta.name);
  for (const n of opts.only ?? []) if (!known.includes(n)) throw new Error(`unknown suite ${n} (have: ${known.join(', ')})`);
  const selected = suites.filter((s) => !opts.only || opts.only.includes(s.meta.name));
  const report = {
    machine: {
      cpu: cpus()[0]?.model ?? 'unknown',
      cpus: cpus().length,
      node: process.version,
      v8: process.versions.v8,
      openssl: process.versions.openssl,
      date: new Date().toISOString(),
    },
    options: { quick: opts.quick, rounds: opts.rounds },
    suites: {},
  };
  let failed = 0;
  for (const s of selected) {
    const procs = opts.procs ?? (opts.quick ? 1 : (s.meta.processes ?? 1));
    let comparisons;
    let perProcess = null;
    if (procs > 1) {
      const results = runChildren(s, opts, procs);
      comparisons = aggregateProcesses(results);
      perProcess = results.map((r) => r.comparisons);
    } else {
      comparisons = (await runHere(s, opts)).comparisons;
    }
    const checks = typeof s.checks === 'function' ? s.checks(comparisons) : [];
    failed += checks.filter((c) => !c.ok).length;
    report.suites[s.meta.name] = { description: s.meta.description, processes: procs, comparisons, checks, perProcess };
    if (!opts.json) {
      console.log(`\n== ${s.meta.name}: ${s.meta.description} (${procs} process${procs > 1 ? 'es' : ''}) ==`);
      console.log(formatComparisons(comparisons));
      if (checks.length) {
        console.log('');
        console.log(formatTable(checks.map((c) => ({ target: c.name, value: c.value, result: c.ok ? 'PASS' : 'MISS' }))));
      }
    }
  }
  if (opts.json) console.log(JSON.stringify(report, null, 2));
  else {
    const m = report.machine;
    console.log(`\n${m.cpu} x${m.cpus}, Node ${m.node} (V8 ${m.v8}, OpenSSL ${m.openssl}). MB/s = 10^6 B/s; ratio = median of`);
    console.log('same-round ratios to the reference; with several processes: median of the per-process medians.');
  }
  if (opts.strict && failed) process.exitCode = 1;
}

main().catch((e) => {
  process.stderr.write(`bench: error: ${e.message}\n`);
  process.exitCode = 2;
});
