#!/usr/bin/env node
// Web page suite (issue 13): the page built by `npm run build:web` (dist-web/), served by `eif web`'s server, in
// headless Chromium (playwright-core):
//  - PCRs of an EIF with a 1 GiB ramdisk, from the file being chosen to the PCRs on screen (the page's own timer:
//    data-ms), against `openssl dgst -sha384` of the same file in the same round; the heap of the page and of every
//    worker is sampled through the DevTools protocol while it runs (peak reported);
//  - attestation verdict after a document is chosen (the page's data-ms: change event → verdict on screen), over
//    the genuine documents of ../shared/test-vectors: the first document of a freshly loaded page (one page load
//    per sample), dropped --settle ms (default 1000: a person's pace) after the page says it is ready and, alternating
//    with it, the moment it is ready (the JS engine may still be compiling the warm-up's code then); a new chain in a
//    used page, a chain seen before; medians.
// Under bench/run.mjs, or alone: `node bench/web.mjs [--quick] [--json] [--threads 2|3] [--attestation] [--samples N]
// [--settle MS] [--pcr] [--rounds N] [--chunk MiB] [--read stream|slices] [--relay off|N]` (--attestation: only the verdict rows, no 1 GiB EIF; --pcr: only the
// PCR rows; --chunk: the workers' read size, the page's ?chunk=; --relay off: every worker reads the file, the page's ?relay=off; --relay N: the reader's pool of N buffers, ?relay-buffers=N; --samples: page loads for the first-document row, default
// 15). The first-document row is broken down by the page's performance marks (file read, verification, verdict
// into the DOM); the load average is printed with the table (latencies on a busy box are not comparable).
//
// Targets (issue 13): PCRs ≤ 2.5x openssl's time; verdict ≤ 10 ms.

export const meta = {
  name: 'web',
  order: 60,
  description: 'the web page in headless Chromium: PCRs of a 1 GiB EIF vs openssl dgst -sha384 of it; attestation verdict latency',
  processes: 1,
};
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { MiB, formatTable, median, waitQuiet } from './lib.mjs';
import { CHROMIUM, choose, heapSampler, launch, openPage } from './web-harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

function makeRandomFile(path, bytes) {
  const fd = openSync(path, 'w');
  const buf = Buffer.alloc(8 * MiB);
  for (let done = 0; done < bytes; done += buf.length) {
    randomFillSync(buf);
    writeSync(fd, buf, 0, Math.min(buf.length, bytes - done));
  }
  closeSync(fd);
}

function openssl(file) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('openssl', ['dgst', '-sha384', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl failed: ${r.stderr}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

export async function run(ctx = {}) {
  const quick = ctx.quick ?? false;
  const log = ctx.log ?? ((s) => process.stderr.write(s + '\n'));
  if (!CHROMIUM) throw new Error('the web suite needs Chromium (scripts/install-test-deps.sh)');
  if (!existsSync(join(root, 'dist-web', 'index.html'))) throw new Error('build the page first: npm run build:web');
  if (spawnSync('openssl', ['version']).status !== 0) throw new Error('the web suite needs the openssl CLI');
  const { startWebServer } = await import(pathToFileURL(join(root, 'dist', 'node', 'web-server.js')).href);
  const rounds = ctx.rounds ?? (quick ? 2 : 5);
  const bigMiB = quick ? 256 : 1024;
  const threads = ctx.threads;
  const attOnly = ctx.attestationOnly ?? false; // --attestation: only the verdict latency rows
  const work = mkdtempSync(join(tmpdir(), 'eifkit-bench-web-'));
  const server = await startWebServer({ port: 0 });
  const browser = await launch();
  try {
    const per = [];
    if (!attOnly) {
      log(`web suite: making an EIF with a ${bigMiB} MiB ramdisk in ${work}`);
      const kernel = join(work, 'bzImage');
      const rd0 = join(work, 'rd0.cpio');
      const big = join(work, 'big.img');
      makeRandomFile(kernel, 8 * MiB);
      makeRandomFile(rd0, 1 * MiB);
      makeRandomFile(big, bigMiB * MiB);
      const image = join(work, 'image.eif');
      const b = spawnSync(process.execPath, [join(root, 'bin', 'eif.js'), 'build', '--quiet', '--kernel', kernel, '--cmdline', 'console=ttyS0', '--ramdisk', rd0, '--ramdisk', big, '--output', image, '--build-time', '2024-01-01T00:00:00+00:00'], { encoding: 'utf8' });
      if (b.status !== 0) throw new Error(`eif build failed: ${b.stderr}`);
      rmSync(big);
      const expected = JSON.parse(spawnSync(process.execPath, [join(root, 'bin', 'eif.js'), 'describe', image], { encoding: 'utf8' }).stdout).Measurements;
      openssl(image); // page cache
      const q = [threads && `threads=${threads}`, ctx.chunk && `chunk=${ctx.chunk}`, ctx.read && `read=${ctx.read}`, ctx.relay && (/^\d+$/.test(ctx.relay) ? `relay-buffers=${ctx.relay}` : `relay=${ctx.relay}`)].filter(Boolean).join('&');
      const url = q ? `${server.url}?${q}` : server.url;
      for (let r = 0; r < rounds; r++) {
        await waitQuiet(20_000, log);
        const { page, requests } = await openPage(browser, url);
        const heap = await heapSampler(browser, page);
        const sslFirst = r % 2 === 0;
        const ssl1 = sslFirst ? openssl(image) : 0;
        heap.start();
        await choose(page, 'eif-input', image);
        const peak = await heap.stop();
        const ssl2 = sslFirst ? 0 : openssl(image);
        const ssl = ssl1 || ssl2;
        const ms = Number(await page.getByTestId('eif-input').evaluate(() => document.getElementById('eif-rate').dataset.ms));
        const timing = JSON.parse((await page.getByTestId('eif-input').evaluate(() => document.getElementById('eif-rate').dataset.timing)) ?? '[]');
        const err = await page.getByTestId('error').allTextContents();
        if (err.length) throw new Error(`the page failed: ${err.join('; ')}`);
        const pcr0 = await page.getByTestId('pcr0').textContent();
        if (pcr0 !== expected.PCR0) throw new Error(`PCR0 in the page ${pcr0} differs from the CLI's ${expected.PCR0}`);
        if (requests.length) throw new Error(`requests after load: ${requests.join(', ')}`);
        await page.close();
        per.push({ pageSecs: ms / 1000, opensslSecs: ssl, ratio: ms / 1000 / ssl, heap: peak, workers: heap.workers, timing });
        // each worker: total = waiting for reads + SHA-384 + CRC-32 + the rest (progress, walk), in seconds; [relay wait]:
        // a receiver's wait for pieces (part of its read wait), the reader's wait for buffers (its read ahead: mostly
        // while it hashes)
        const s1 = (x) => (x / 1000).toFixed(2);
        log(`  workers: ${timing.map((t, i) => t ? `#${i} total ${s1(t.totalMs)} = read ${s1(t.readMs)} + sha ${s1(t.shaMs)} + crc ${s1(t.crcMs)} + other ${s1(t.totalMs - t.readMs - t.shaMs - t.crcMs)}${t.relayWaitMs === undefined ? '' : ` [relay wait ${s1(t.relayWaitMs)}]`}` : `#${i} -`).join('; ')}; load ${loadavg()[0].toFixed(2)}`);
        log(`round ${r + 1}/${rounds}: page ${(ms / 1000).toFixed(2)} s, openssl ${ssl.toFixed(2)} s, ratio ${(ms / 1000 / ssl).toFixed(2)}x; peak heap page ${(peak.page / MiB).toFixed(1)} MiB, workers (${heap.workers}) ${(peak.workers / MiB).toFixed(1)} MiB`);
      }

    }

    // attestation verdict latency. First document of a page: a fresh page load per sample (the page warms the
    // verifier at load, before data-state=done), each choosing one document, cycling through them. Then in a page,
    // each document once (new chain: cold) and all again (seen chain: warm).
    const realDir = join(root, '..', 'shared', 'test-vectors', 'attestation', 'real');
    const att = { cold: [], warm: [], firstInPage: [], firstInstant: [], parts: [] };
    const settleMs = ctx.settleMs ?? 1000;
    const load0 = loadavg()[0];
    if (existsSync(realDir) && !ctx.pcrOnly) {
      const docs = readdirSync(realDir).filter((f) => f.endsWith('.cose')).map((f) => join(realDir, f));
      for (let r = 0; r < 2 * (ctx.samples ?? (quick ? 3 : 15)); r++) {
        const settled = r % 2 === 0;
        const { page } = await openPage(browser, server.url);
        if (settled) await new Promise((res) => setTimeout(res, settleMs));
        await choose(page, 'attestation-input', docs[(r >> 1) % docs.length], 30_000);
        const ms = Number(await page.getByTestId('attestation-verdict').getAttribute('data-ms'));
        if (!settled) {
          att.firstInstant.push(ms);
          await page.close();
          continue;
        }
        att.firstInPage.push(ms);
        // where the time went: the page's marks (web/src/main.ts, attestation-view.ts), ms after the change event
        att.parts.push(await page.evaluate(() => {
          const at = (n) => performance.getEntriesByName(n, 'mark')[0]?.startTime ?? NaN;
          const s = at('att:start');
          return { read: at('att:read') - s, verify: at('att:verified') - at('att:read'), verdict: at('att:verdict') - at('att:verified'), details: at('att:details') - s, warmUp: performance.getEntriesByName('att:warm-up', 'measure')[0]?.duration ?? NaN };
        }));
        await page.close();
      }
      for (let r = 0; r < (quick ? 1 : 3); r++) {
        const { page } = await openPage(browser, server.url);
        for (const [i, d] of docs.entries()) {
          await choose(page, 'attestation-input', d, 30_000);
          if (i > 0) att.cold.push(Number(await page.getByTestId('attestation-verdict').getAttribute('data-ms')));
        }
        for (const d of docs) {
          await choose(page, 'attestation-input', d, 30_000);
          att.warm.push(Number(await page.getByTestId('attestation-verdict').getAttribute('data-ms')));
        }
        await page.close();
      }
    }
    const stat = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length });
    const bytes = bigMiB * MiB;
    const rows = !per.length ? [] : [
      { measure: 'openssl dgst -sha384 (the EIF)', 'median': `${median(per.map((x) => x.opensslSecs)).toFixed(2)} s`, ratio: '1 (ref)', 'min–max': '' },
      {
        measure: `page PCRs (${per[0].workers - 1} measuring workers)`,
        median: `${median(per.map((x) => x.pageSecs)).toFixed(2)} s`,
        ratio: `${median(per.map((x) => x.ratio)).toFixed(2)}x`,
        'min–max': `${Math.min(...per.map((x) => x.ratio)).toFixed(2)}–${Math.max(...per.map((x) => x.ratio)).toFixed(2)}x`,
      },
      { measure: 'peak heap: page', median: `${median(per.map((x) => x.heap.page / MiB)).toFixed(1)} MiB`, ratio: '', 'min–max': '' },
      { measure: 'peak heap: all workers', median: `${median(per.map((x) => x.heap.workers / MiB)).toFixed(1)} MiB`, ratio: '', 'min–max': '' },
    ];
    if (att.cold.length) {
      rows.push({ measure: `verdict after drop, first document of a fresh page, dropped ${settleMs} ms after ready (${att.firstInPage.length} loads)`, median: `${median(att.firstInPage).toFixed(1)} ms`, ratio: '', 'min–max': `${Math.min(...att.firstInPage).toFixed(1)}–${Math.max(...att.firstInPage).toFixed(1)} ms` });
      const part = (k) => median(att.parts.map((p) => p[k])).toFixed(1);
      rows.push({ measure: `  of which: file read ${part('read')} ms, verification ${part('verify')} ms, verdict into the DOM ${part('verdict')} ms`, median: '', ratio: '', 'min–max': '' });
      rows.push({ measure: '  details (fields, chain, tables) a frame later, done at', median: `${part('details')} ms`, ratio: '', 'min–max': '' });
      rows.push({ measure: '  warm-up at page load (not in the verdict time)', median: `${part('warmUp')} ms`, ratio: '', 'min–max': '' });
      rows.push({ measure: `verdict after drop, first document, dropped the moment the page is ready (${att.firstInstant.length} loads)`, median: `${median(att.firstInstant).toFixed(1)} ms`, ratio: '', 'min–max': `${Math.min(...att.firstInstant).toFixed(1)}–${Math.max(...att.firstInstant).toFixed(1)} ms` });
      rows.push({ measure: 'verdict after drop, new chain (cold)', median: `${median(att.cold).toFixed(1)} ms`, ratio: '', 'min–max': `${Math.min(...att.cold).toFixed(1)}–${Math.max(...att.cold).toFixed(1)} ms` });
      rows.push({ measure: 'verdict after drop, seen chain (warm)', median: `${median(att.warm).toFixed(1)} ms`, ratio: '', 'min–max': `${Math.min(...att.warm).toFixed(1)}–${Math.max(...att.warm).toFixed(1)} ms` });
    }
    const comparison = !per.length ? undefined : {
      title: 'web',
      param: `${bigMiB} MiB EIF`,
      reference: 'openssl dgst -sha384',
      rounds,
      cleanRounds: rounds,
      series: [
        { impl: 'openssl dgst -sha384', param: `${bigMiB} MiB EIF`, mbps: stat(per.map((x) => bytes / x.opensslSecs / 1e6)), ratio: stat(per.map(() => 1)), timeRatio: stat(per.map(() => 1)) },
        { impl: 'page PCRs', param: `${bigMiB} MiB EIF`, mbps: stat(per.map((x) => bytes / x.pageSecs / 1e6)), ratio: stat(per.map((x) => 1 / x.ratio)), timeRatio: stat(per.map((x) => x.ratio)) },
      ],
    };
    const comparisons = per.length ? [comparison] : [undefined];
    if (att.cold.length) {
      // MB/s column = verdicts per second; ratio = 10 ms (the target) ÷ the time: ≥ 1 meets it
      const series = (impl, xs) => ({ impl, param: 'verdict after drop', mbps: stat(xs.map((x) => 1000 / x)), ratio: stat(xs.map((x) => 10 / x)), ms: stat(xs) });
      comparisons.push({
        title: 'web attestation',
        param: 'verdict after drop',
        reference: 'target 10 ms',
        rounds: att.warm.length,
        cleanRounds: att.warm.length,
        series: [series('first document of a page', att.firstInPage), series('first document, dropped at ready', att.firstInstant), series('new chain (cold)', att.cold), series('seen chain (warm)', att.warm)],
      });
    }
    rows.push({ measure: `load average (1 min) at start / end of the run, ${cpus().length} cores`, median: `${load0.toFixed(2)} / ${loadavg()[0].toFixed(2)}`, ratio: '', 'min–max': '' });
    return { comparisons, extra: { rows, per, attestationMs: att }, table: formatTable(rows), rounds, bigMiB };
  } finally {
    await browser.close();
    await server.close();
    rmSync(work, { recursive: true, force: true });
  }
}

/** Targets of issue 13. */
export function checks(comparisons) {
  const c = comparisons[0];
  const out = [];
  const t = c?.series.find((s) => s.impl === 'page PCRs').timeRatio.median;
  if (t !== undefined) out.push({ name: 'page PCRs of a 1 GiB EIF ≤ 2.5x openssl dgst -sha384 time', value: `${t.toFixed(2)}x`, ok: t <= 2.5 });
  const a = comparisons[1];
  for (const impl of ['first document of a page', 'new chain (cold)', 'seen chain (warm)']) {
    const ms = a?.series.find((s) => s.impl === impl)?.ms.median;
    if (ms !== undefined) out.push({ name: `attestation verdict ≤ 10 ms after the drop (median, ${impl})`, value: `${ms.toFixed(1)} ms`, ok: ms <= 10 });
  }
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  const json = process.argv.includes('--json');
  const ti = process.argv.indexOf('--threads');
  const ci = process.argv.indexOf('--chunk');
  const ri = process.argv.indexOf('--rounds');
  const si = process.argv.indexOf('--samples');
  const st = process.argv.indexOf('--settle');
  const r = await run({ settleMs: st > 0 ? Number(process.argv[st + 1]) : undefined, quick, attestationOnly: process.argv.includes('--attestation'), threads: ti > 0 ? process.argv[ti + 1] : undefined, chunk: ci > 0 ? process.argv[ci + 1] : undefined, pcrOnly: process.argv.includes('--pcr'),  read: process.argv.includes('--read') ? process.argv[process.argv.indexOf('--read') + 1] : undefined, relay: process.argv.includes('--relay') ? process.argv[process.argv.indexOf('--relay') + 1] : undefined, rounds: ri > 0 ? Number(process.argv[ri + 1]) : undefined, samples: si > 0 ? Number(process.argv[si + 1]) : undefined });
  if (json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  else process.stdout.write(`\nweb page, ${r.extra.per.length ? `${r.bigMiB} MiB EIF, ${r.rounds} rounds (median of same-round ratios)` : 'attestation verdict only'}\n${r.table}\n${checks(r.comparisons).map((c) => `${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.value}`).join('\n')}\n`);
}
