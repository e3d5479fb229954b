#!/usr/bin/env node
// Registry suite (issue 12, "Speed"): pulling a 512 MiB image (4 gzip layers of incompressible data) from a local
// `docker-registry` into an empty cache, whole process (`bench/registry-pull.mjs`: pullImage, layers in parallel,
// SHA-256 while streaming, temp + rename), against `skopeo copy docker://… oci:DIR` of the same image in the same
// round. Also, for scale, a second pull into the warm cache (no blob request). Target: the cold pull ≤ 1.5×
// skopeo's time (medians of the same-round ratios).
// Second comparison (issue 12: "a cached build is as fast as `--docker-archive`"): two full `eif build` runs of the
// same image in the same round, `--docker-uri REF` with a warm cache (no blob request) and `--docker-archive` of the
// image's `docker save`-format tar (skopeo copy … docker-archive:, uncompressed layers as `docker save` writes
// them), same stand-in blobs, same build time; the two EIFs are checked byte-identical. Target ≤ 1.10×. For scale,
// a third build, `--docker-uri` into an empty cache (download, decompression while downloading, build).
// Needs docker-registry and skopeo; skips otherwise.
// Alone: `node bench/registry.mjs [--quick] [--rounds N]`, or `node bench/run.mjs --only registry --rounds N`.

export const meta = {
  name: 'registry',
  order: 40,
  description: 'pull a 512 MiB image from a local registry into an empty cache vs skopeo copy docker://… oci:DIR; cached eif build --docker-uri vs --docker-archive of the same image (whole commands)',
  processes: 1,
};
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomFillSync, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, existsSync, mkdirSync, mkdtempSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createGzip } from 'node:zlib';
import { MiB, formatTable, median, waitQuiet, cpuProbe } from './lib.mjs';

const here = dirname(fileURLToPath(import.meta.url));

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

async function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

async function waitUp(url, child) {
  for (let i = 0; i < 150; i++) {
    const ok = await new Promise((r) => http.get(url, (res) => (res.resume(), r(true))).on('error', () => r(false)));
    if (ok) return;
    if (child.exitCode !== null) throw new Error('docker-registry exited');
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('docker-registry did not start');
}

/** A gzip tar layer of `bytes` random bytes written to the layout; returns its descriptor and diff_id. */
async function writeLayer(blobs, bytes, i) {
  const tmpPath = join(blobs, `layer-${i}.tmp`);
  const out = createWriteStream(tmpPath);
  const gz = createGzip({ level: 1 });
  const blobHash = createHash('sha256');
  const diffHash = createHash('sha256');
  let size = 0;
  gz.on('data', (c) => {
    blobHash.update(c);
    size += c.length;
  });
  gz.pipe(out);
  const put = async (b) => {
    diffHash.update(b);
    if (!gz.write(b)) await new Promise((r) => gz.once('drain', r));
  };
  const h = Buffer.alloc(512);
  h.write(`data${i}.bin`, 0);
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${bytes.toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  await put(h);
  const buf = Buffer.alloc(4 * MiB);
  for (let done = 0; done < bytes; done += buf.length) {
    randomFillSync(buf);
    await put(buf.subarray(0, Math.min(buf.length, bytes - done)));
  }
  await put(Buffer.alloc(1024));
  await new Promise((r) => {
    out.on('finish', r);
    gz.end();
  });
  const digest = `sha256:${blobHash.digest('hex')}`;
  renameSync(tmpPath, join(blobs, digest.slice(7)));
  return { desc: { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest, size }, diffId: `sha256:${diffHash.digest('hex')}` };
}

async function fileSha256(path) {
  const h = createHash('sha256');
  for await (const c of createReadStream(path, { highWaterMark: 4 * MiB })) h.update(c);
  return h.digest('hex');
}

/** `timed` plus the command's CPU seconds (user + system, from the shell's `times`): steadier than wall time on a busy box. */
function timedCpu(cmd, args) {
  const r = timed('sh', ['-c', '"$@" >/dev/null; s=$?; times; exit $s', 'sh', cmd, ...args]);
  const m = /(\d+)m([\d.]+)s (\d+)m([\d.]+)s\s*$/.exec(r.stdout);
  if (!m) throw new Error(`no CPU times in ${JSON.stringify(r.stdout.slice(-200))}`);
  return { secs: r.secs, cpu: Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]) };
}

function timed(cmd, args) {
  const probe = cpuProbe();
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 16 * MiB });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  probe();
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
  return { secs, stdout: r.stdout };
}

export async function run(ctx = {}) {
  const quick = ctx.quick ?? false;
  const log = ctx.log ?? ((s) => process.stderr.write(s + '\n'));
  for (const t of ['docker-registry', 'skopeo']) {
    if (!have(t)) {
      log(`registry suite skipped: ${t} not installed (scripts/install-test-deps.sh)`);
      return { comparisons: [] };
    }
  }
  const totalMiB = quick ? 128 : 512;
  const rounds = ctx.rounds ?? (quick ? 3 : 5);
  if (!existsSync(join(here, '..', 'dist', 'cli', 'main.js'))) throw new Error('build first: node scripts/build.mjs');
  const work = mkdtempSync(join(tmpdir(), 'eifkit-bench-registry-'));
  let child;
  try {
    // the image, as an OCI layout
    const layout = join(work, 'layout');
    const blobs = join(layout, 'blobs', 'sha256');
    mkdirSync(blobs, { recursive: true });
    log(`registry suite: making a ${totalMiB} MiB image (4 gzip layers) in ${work}`);
    const layers = [];
    for (let i = 0; i < 4; i++) layers.push(await writeLayer(blobs, (totalMiB / 4) * MiB, i));
    const putJson = (o) => {
      const b = Buffer.from(JSON.stringify(o));
      const d = `sha256:${createHash('sha256').update(b).digest('hex')}`;
      writeFileSync(join(blobs, d.slice(7)), b);
      return { digest: d, size: b.length };
    };
    const cfg = putJson({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) } });
    const man = putJson({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...cfg },
      layers: layers.map((l) => l.desc),
    });
    writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', ...man, annotations: { 'org.opencontainers.image.ref.name': 'bench' } }] }));

    // the registry, and the image pushed to it
    const port = await freePort();
    const regDir = join(work, 'registry');
    mkdirSync(regDir);
    writeFileSync(join(regDir, 'config.yml'), `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(regDir, 'data')}\nhttp:\n  addr: 127.0.0.1:${port}\n  secret: ${randomBytes(8).toString('hex')}\n`);
    const logFd = openSync(join(regDir, 'log'), 'a');
    child = spawn('docker-registry', ['serve', join(regDir, 'config.yml')], { stdio: ['ignore', logFd, logFd] });
    closeSync(logFd);
    await waitUp(`http://127.0.0.1:${port}/v2/`, child);
    const ref = `127.0.0.1:${port}/bench/big:1`;
    timed('skopeo', ['--insecure-policy', 'copy', '--quiet', `oci:${layout}:bench`, `docker://${ref}`, '--dest-tls-verify=false']);
    rmSync(layout, { recursive: true, force: true });
    // the same image as `docker save` writes it (uncompressed layers, RepoTags = the reference), from the registry
    const archive = join(work, 'image.tar');
    timed('skopeo', ['--insecure-policy', 'copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `docker-archive:${archive}:${ref}`]);

    const pull = join(here, 'registry-pull.mjs');
    const warm = join(work, 'warm-cache');
    timed(process.execPath, [pull, ref, warm]); // fills the warm cache; also warms the registry's page cache

    // full builds: the same stand-in blobs and build time for both inputs; the warm cache above already holds the image
    const eif = [join(here, '..', 'bin', 'eif.js')];
    const nitroBlobs = join(work, 'nitro-blobs');
    timed(process.execPath, [...eif, 'blobs', '--standin', nitroBlobs]);
    const buildCache = join(work, 'build-cache');
    const build = (input, out) => [...eif, 'build', '--quiet', ...input, '--blobs', nitroBlobs, '--output', out, '--build-time', '2024-01-01T00:00:00+00:00'];
    const fromArchive = (out) => build(['--docker-archive', archive], out);
    const fromRegistry = (out) => build(['--docker-uri', ref, '--cache', buildCache], out);
    const eifA = join(work, 'archive.eif');
    const eifR = join(work, 'registry.eif');
    timed(process.execPath, fromRegistry(eifR)); // fills the build's cache (cold build, not timed)
    const identical = async () => {
      const [a, b] = [await fileSha256(eifA), await fileSha256(eifR)];
      if (a !== b) throw new Error(`eif build --docker-uri and --docker-archive of the same image gave different EIFs (sha256 ${b} vs ${a})`);
      return a;
    };
    const ops = [
      { name: 'skopeo copy docker://… oci:DIR', run: () => { const d = join(work, 'oci-out'); const r = timed('skopeo', ['--insecure-policy', 'copy', '--quiet', '--src-tls-verify=false', `docker://${ref}`, `oci:${d}:x`]); rmSync(d, { recursive: true, force: true }); return r; } },
      { name: 'eifkit pull, empty cache', run: () => { const d = join(work, 'cold-cache'); const r = timed(process.execPath, [pull, ref, d]); rmSync(d, { recursive: true, force: true }); if (JSON.parse(r.stdout).downloaded.blobs !== 5) throw new Error('cold pull did not download'); return r; } },
      { name: 'eifkit pull, warm cache (for scale)', run: () => { const r = timed(process.execPath, [pull, ref, warm]); if (JSON.parse(r.stdout).downloaded.blobs !== 0) throw new Error('warm pull downloaded'); return r; } },
      { name: 'eif build --docker-archive', build: true, run: () => timedCpu(process.execPath, fromArchive(eifA)) },
      { name: 'eif build --docker-uri, warm cache', build: true, run: () => timedCpu(process.execPath, fromRegistry(eifR)) },
      {
        name: 'eif build --docker-uri, empty cache (for scale)',
        build: true,
        run: () => {
          const d = join(work, 'cold-build-cache');
          const out = join(work, 'cold.eif');
          const r = timedCpu(process.execPath, build(['--docker-uri', ref, '--cache', d], out));
          rmSync(d, { recursive: true, force: true });
          rmSync(out, { force: true });
          return r;
        },
      },
    ];
    const pullOps = ops.filter((o) => !o.build);
    const buildOps = ops.filter((o) => o.build);
    const per = Object.fromEntries(ops.map((o) => [o.name, []]));
    let clean = 0;
    for (let r = 0; r < rounds; r++) {
      if ((await waitQuiet(ctx.maxWaitMs ?? 20_000, log)).quiet) clean++;
      const res = {};
      // the pulls in rotating order; then the two compared builds next to each other, in alternating order (so that
      // neither always follows the other's 512 MiB EIF write), then the cold build, whose writes follow both
      const pulls = pullOps.map((_, k) => pullOps[(k + r) % pullOps.length]);
      const pair = r % 2 === 0 ? [buildOps[0], buildOps[1]] : [buildOps[1], buildOps[0]];
      for (const o of [...pulls, ...pair, ...buildOps.slice(2)]) res[o.name] = o.run();
      // both EIFs of this round are on disk: byte-identical, every round (not timed)
      const digest = await identical();
      if (r === 0) log(`registry suite: both builds give the EIF sha256:${digest}`);
      for (const group of [pullOps, buildOps]) {
        const refSecs = res[group[0].name].secs;
        const refCpu = res[group[0].name].cpu;
        for (const o of group) {
          per[o.name].push({ secs: res[o.name].secs, ratio: res[o.name].secs / refSecs, ...(refCpu ? { cpu: res[o.name].cpu, cpuRatio: res[o.name].cpu / refCpu } : {}) });
        }
      }
      log(`round ${r + 1}/${rounds}: ` + ops.map((o) => `${o.name} ${res[o.name].secs.toFixed(2)} s${res[o.name].cpu !== undefined ? ` (CPU ${res[o.name].cpu.toFixed(2)} s)` : ''}`).join(', '));
    }
    const bytes = layers.reduce((n, l) => n + l.desc.size, 0);
    const stat = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length });
    const comparison = (title, group) => ({
      title,
      param: `${totalMiB} MiB image`,
      reference: group[0].name,
      rounds,
      cleanRounds: clean,
      series: group.map((o) => ({
        impl: o.name,
        param: `${totalMiB} MiB image`,
        mbps: stat(per[o.name].map((x) => bytes / x.secs / 1e6)),
        ratio: stat(per[o.name].map((x) => x.ratio)),
        secs: stat(per[o.name].map((x) => x.secs)),
        ...(per[o.name][0].cpu !== undefined ? { cpuSecs: stat(per[o.name].map((x) => x.cpu)), cpuRatio: stat(per[o.name].map((x) => x.cpuRatio)) } : {}),
      })),
    });
    const med = (name, k) => median(per[name].map((x) => x[k]));
    const [a, u, c] = buildOps.map((o) => o.name);
    log(
      `registry suite, builds (medians of ${rounds} rounds): --docker-archive ${med(a, 'secs').toFixed(2)} s wall, ${med(a, 'cpu').toFixed(2)} s CPU; ` +
        `--docker-uri warm ${med(u, 'secs').toFixed(2)} s wall, ${med(u, 'cpu').toFixed(2)} s CPU; ratio ${med(u, 'ratio').toFixed(3)} wall, ${med(u, 'cpuRatio').toFixed(3)} CPU; EIFs byte-identical in every round; ` +
        `for scale, --docker-uri with an empty cache (download included) ${med(c, 'secs').toFixed(2)} s wall, ${med(c, 'cpu').toFixed(2)} s CPU`,
    );
    return { comparisons: [comparison('registry', pullOps), comparison('registry-build', buildOps)] };
  } finally {
    if (child && child.exitCode === null) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('close', r));
    }
    rmSync(work, { recursive: true, force: true });
  }
}

/**
 * Targets (medians of same-round ratios): a cold pull ≤ 1.5× skopeo copy of the same image; a cached
 * `eif build --docker-uri` ≤ 1.10× `eif build --docker-archive` of the same image ("as fast").
 */
export function checks(comparisons) {
  const out = [];
  const c = comparisons.find((x) => x.title === 'registry');
  const s = c?.series.find((x) => x.impl === 'eifkit pull, empty cache');
  if (s) out.push({ name: 'pull (empty cache) ≤ 1.5× skopeo copy', value: s.ratio.median.toFixed(3), ok: s.ratio.median <= 1.5 });
  const b = comparisons.find((x) => x.title === 'registry-build');
  const w = b?.series.find((x) => x.impl === 'eif build --docker-uri, warm cache');
  if (w) out.push({ name: 'cached build --docker-uri ≤ 1.10× --docker-archive', value: w.ratio.median.toFixed(3), ok: w.ratio.median <= 1.1 });
  if (w?.cpuRatio) out.push({ name: 'same, CPU time (user + sys), for a busy box', value: w.cpuRatio.median.toFixed(3), ok: w.cpuRatio.median <= 1.1 });
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const quick = process.argv.includes('--quick');
  const i = process.argv.indexOf('--rounds');
  const rounds = i > 0 ? Number(process.argv[i + 1]) : undefined;
  const { formatComparisons } = await import('./lib.mjs');
  const res = await run({ quick, rounds });
  console.log(formatComparisons(res.comparisons));
  console.log(formatTable(checks(res.comparisons).map((c) => ({ target: c.name, value: c.value, result: c.ok ? 'PASS' : 'MISS' }))));
}
