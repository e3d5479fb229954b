/**
 * The measurement core shared by `npm run bench` (bench/lib.mjs re-exports it) and `eif bench`: other-process
 * CPU accounting from /proc/stat, waiting for a quiet box, same-round ratio comparisons in a rotating order, and
 * medians (method: bench/README.md; performance.md §7 on why same-round ratios and medians).
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** MB/s means 10^6 bytes per second (the unit of `openssl speed`). */
export const MB = 1e6;
const NCPU = cpus().length || 1;
const CLK_TCK = 100; // USER_HZ on Linux; /proc/stat counts in these ticks
/** A sample is "noisy" when other processes used >= 15 % of the whole box during it. */
export const QUIET = 0.15;

/** Total busy and total ticks of the box from /proc/stat, or null where there is no /proc (macOS, Windows). */
function boxTicks(): { busy: number; total: number } | null {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0); // user nice system idle iowait irq softirq steal
    const idle = f[3]! + f[4]!;
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

/** A probe: call it later to learn what share of the box OTHER processes (and steal) used meanwhile (null: unknown). */
export function cpuProbe(): () => number | null {
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type Log = (message: string) => void;

/**
 * Wait until other processes use less than 15 % of the box (checked over 300 ms windows), at most `maxWaitMs`.
 * Without /proc it returns at once with others = null.
 */
export async function waitQuiet(maxWaitMs: number, log: Log = () => {}): Promise<{ quiet: boolean; others: number | null; waitedMs: number }> {
  const start = Date.now();
  for (;;) {
    const probe = cpuProbe();
    await sleep(300);
    const others = probe();
    if (others === null || others < QUIET) return { quiet: true, others, waitedMs: Date.now() - start };
    if (Date.now() - start >= maxWaitMs) {
      log(`box still busy after ${((Date.now() - start) / 1000).toFixed(1)} s (others ${(others * 100).toFixed(0)} %); measuring anyway`);
      return { quiet: false, others, waitedMs: Date.now() - start };
    }
  }
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = xs.slice().sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface Stats {
  median: number;
  min: number;
  max: number;
  n: number;
}
export const stats = (xs: number[]): Stats => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length });

/** Run `op` (which processes `bytes` bytes) repeatedly for at least `minTime` seconds; returns MB/s. */
export function timeOp(op: () => void, bytes: number, minTime: number): number {
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

export interface Impl {
  name: string;
  op: () => void;
}

export interface CompareOptions {
  title: string;
  param: string;
  bytes: number;
  impls: Impl[];
  /** Name of the native reference implementation. */
  reference: string;
  rounds: number;
  /** Seconds per sample. */
  minTime: number;
  /** Seconds of warm-up per implementation. */
  warmup: number;
  maxWaitMs: number;
  log?: Log;
  /** Called after each round (progress). */
  onRound?: (done: number, rounds: number) => void;
}

export interface Series {
  impl: string;
  param: string;
  mbps: Stats;
  ratio: Stats;
  samples: { mbps: number; ratio: number; noisy: boolean }[];
}

export interface Comparison {
  title: string;
  param: string;
  reference: string;
  rounds: number;
  cleanRounds: number;
  usedCleanOnly: boolean;
  series: Series[];
}

/**
 * Same-round comparison: each round waits for a quiet box, then runs every implementation once in a rotating
 * order and divides each by the reference's MB/s from the SAME round. Medians use clean rounds only when at least
 * 3 clean rounds remain (otherwise all rounds, and `usedCleanOnly` says so).
 */
export async function compare(o: CompareOptions): Promise<Comparison> {
  const log = o.log ?? (() => {});
  // Warm-up: get every implementation past V8's baseline tier (Liftoff / Sparkplug) before measuring.
  for (const im of o.impls) timeOp(im.op, o.bytes, o.warmup);
  const per: Record<string, { mbps: number; ratio: number; noisy: boolean }[]> = Object.fromEntries(o.impls.map((im) => [im.name, []]));
  let clean = 0;
  for (let r = 0; r < o.rounds; r++) {
    await waitQuiet(o.maxWaitMs, log);
    const mbps: Record<string, number> = {};
    const others: (number | null)[] = [];
    for (let k = 0; k < o.impls.length; k++) {
      const im = o.impls[(k + r) % o.impls.length]!;
      const probe = cpuProbe();
      mbps[im.name] = timeOp(im.op, o.bytes, o.minTime);
      others.push(probe());
    }
    const noisy = others.some((x) => x !== null && x >= QUIET);
    if (noisy) {
      const worst = Math.max(...others.map((x) => x ?? 0));
      log(`${o.title} ${o.param}: round ${r + 1} noisy (other processes up to ${(worst * 100).toFixed(0)} % of the box)`);
    } else clean++;
    for (const im of o.impls) per[im.name]!.push({ mbps: mbps[im.name]!, ratio: mbps[im.name]! / mbps[o.reference]!, noisy });
    o.onRound?.(r + 1, o.rounds);
  }
  const useClean = clean >= 3;
  const series = o.impls.map((im) => {
    const xs = per[im.name]!.filter((s) => !useClean || !s.noisy);
    return {
      impl: im.name,
      param: o.param,
      mbps: stats(xs.map((s) => s.mbps)),
      ratio: stats(xs.map((s) => s.ratio)),
      samples: per[im.name]!.map((s) => ({ mbps: +s.mbps.toFixed(1), ratio: +s.ratio.toFixed(4), noisy: s.noisy })),
    };
  });
  return { title: o.title, param: o.param, reference: o.reference, rounds: o.rounds, cleanRounds: clean, usedCleanOnly: useClean, series };
}
