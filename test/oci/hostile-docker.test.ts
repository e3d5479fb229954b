/**
 * Hostile image archives against the real Docker daemon and against eifkit (issue 11 "Bad input"; shared
 * docs/oci-build.md "Real components"). The cases (test/helpers/hostile-cases.ts) each break one rule. With a private
 * Docker 20.10 the test asserts that `docker load` still does what the table records, and for archives Docker accepts,
 * that eifkit's export equals `docker export` of a container of the image. Without Docker, eifkit's side still runs:
 * reading the image refuses with the stable code where Docker (or nitro-cli) refuses, and `eif build --docker-archive`
 * exits 1 with one `eif: error CODE:` line, writes no output file and leaves no temp file, in bounded memory.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EifError } from '../../src/errors.js';
import { openImageSource } from '../../src/node/oci/image-source.js';
import { dockerExport } from '../../src/oci/docker-export.js';
import { describeDocker, inPool, startPrivateDocker, type PrivateDocker } from '../helpers/docker.js';
import { tempDir, eif } from '../helpers/eif.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { compareExports, daemonExport, listExport } from '../helpers/export-compare.js';
import { CASES, type HostileCase } from '../helpers/hostile-cases.js';
import { tarFiles, type ListedEntry } from '../helpers/tar-list.js';

const dk = await startPrivateDocker();
afterAll(() => dk.docker?.stop());

const dir = tempDir();
const archives = new Map<string, string>();
function archiveOf(c: HostileCase): string {
  let p = archives.get(c.id);
  if (!p) {
    p = join(dir, `${c.id}.docker-archive.tar`);
    writeFileSync(p, c.archive());
    archives.set(c.id, p);
  }
  return p;
}

/** eifkit's reading of the archive: its export (listed) and warnings, or the code it refuses with. */
async function eifkitRead(c: HostileCase, createdAt: number): Promise<{ code: string; listed?: ListedEntry[]; warnings: string[] }> {
  try {
    const src = await openImageSource('docker-archive', archiveOf(c));
    try {
      const layers = await src.indexLayers();
      const cfg = (src.selection.config.config ?? {}) as { WorkingDir?: string };
      const res = dockerExport(layers, { createdAt, workdir: cfg.WorkingDir || undefined });
      return { code: 'ok', listed: await listExport(res.entries, layers), warnings: [...src.selection.warnings, ...layers.flatMap((l) => l.warnings ?? []), ...res.warnings] };
    } finally {
      src.close();
    }
  } catch (e) {
    if (e instanceof EifError) return { code: e.code, warnings: [] };
    throw e;
  }
}

describe('hostile archives: eifkit reads them as the table says', () => {
  for (const c of CASES) {
    it(`${c.id}: ${c.what} — eifkit ${c.eifkit === 'ok' ? 'accepts' : `refuses (${c.eifkit})`}${c.why ? ` — ${c.why}` : ''}`, async () => {
      const r = await eifkitRead(c, 1_800_000_000);
      expect(r.code).toBe(c.eifkit);
      if (c.warns) expect(r.warnings.join('\n')).toMatch(c.warns);
    });
  }
});

const cliHasDockerArchive = /--docker-archive/.test(eif(['build', '--help']).stdout + eif(['build', '--help']).stderr);
const describeCli = cliHasDockerArchive ? describe : describe.skip;

describeCli(`hostile archives: eif build --docker-archive${cliHasDockerArchive ? '' : ' (skipped: this build of eif has no --docker-archive)'}`, () => {
  const blobs = join(dir, 'blobs');
  beforeAll(() => {
    mkdirSync(blobs, { recursive: true });
    const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 131 + seed * 17 + (i >> 7)) & 0xff);
    writeFileSync(join(blobs, 'bzImage'), bytes(65536, 1));
    writeFileSync(join(blobs, 'bzImage.config'), '#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86 4.14.256 Kernel Configuration\n');
    writeFileSync(join(blobs, 'cmdline'), 'reboot=k panic=30 pci=off nomodules console=ttyS0\n');
    writeFileSync(join(blobs, 'init'), bytes(30000, 2));
    writeFileSync(join(blobs, 'nsm.ko'), bytes(12000, 3));
  });
  // The builds run three at a time (one node process each) before the assertions, to keep the suite short.
  const timed = existsSync('/usr/bin/time');
  const results = new Map<string, { status: number | null; stderr: string; rss?: number }>();
  beforeAll(async () => {
    const run = (c: HostileCase) =>
      new Promise<void>((resolve) => {
        const out = join(dir, `out-${c.id}`);
        const tmp = join(dir, `tmp-${c.id}`);
        mkdirSync(out, { recursive: true });
        mkdirSync(tmp, { recursive: true });
        // /usr/bin/time writes the peak RSS (KiB) to a file: a bomb or a huge field must not be held in memory
        const rssFile = join(dir, `rss-${c.id}`);
        const cli = [join(REPO_ROOT, 'bin', 'eif.js'), 'build', '--docker-archive', archiveOf(c), '--blobs', blobs, '--output', join(out, 'app.eif')];
        const [cmd, args] = timed ? ['/usr/bin/time', ['-o', rssFile, '-f', '%M', process.execPath, ...cli]] : [process.execPath, cli];
        const child = spawn(cmd, args as string[], { env: { ...process.env, TMPDIR: tmp }, stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
        const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
        child.on('close', (status) => {
          clearTimeout(timer);
          const rss = timed && existsSync(rssFile) ? Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()) : undefined;
          results.set(c.id, { status, stderr, rss });
          resolve();
        });
      });
    const queue = [...CASES];
    await Promise.all([0, 1, 2].map(async () => {
      for (let c = queue.shift(); c; c = queue.shift()) await run(c);
    }));
  }, 300_000);
  for (const c of CASES) {
    const want = c.build ?? c.eifkit;
    it(`${c.id}: ${want === 'ok' ? 'builds' : `exit 1, ${want}, no output file, no temp file`}, peak RSS under 300 MiB`, () => {
      const r = results.get(c.id)!;
      const out = join(dir, `out-${c.id}`);
      if (timed) expect(r.rss, 'peak RSS (KiB)').toBeLessThan(300 * 1024);
      if (want === 'ok') {
        expect(r.status, r.stderr).toBe(0);
        expect(existsSync(join(out, 'app.eif'))).toBe(true);
        if (c.buildWarns) expect(r.stderr).toMatch(c.buildWarns);
      } else {
        expect(r.status, r.stderr).toBe(1);
        expect(r.stderr).toMatch(new RegExp(`^eif: error ${want}: [^\\n]+\\n?$`));
        expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
        expect(readdirSync(out)).toEqual([]);
      }
      expect(readdirSync(join(dir, `tmp-${c.id}`)), 'temp files left behind').toEqual([]);
    });
  }
});

describeDocker(dk, 'hostile archives: what docker load does (Docker 20.10, overlay2)', (docker: PrivateDocker) => {
  const seen = new Map<string, { status: number | null; stderr: string; image: string }>();
  const exports = new Map<string, Awaited<ReturnType<typeof daemonExport>>>();
  beforeAll(async () => {
    // loaded four at a time; every archive tags hostile:latest, so each image is named by its ID (the config digest)
    await inPool(CASES, 4, async (c) => {
      const bytes = readFileSync(archiveOf(c));
      const manifest = JSON.parse((await tarFiles(bytes)).get('manifest.json')!.toString())[0];
      const r = await docker.runAsync(['load', '-q'], { input: bytes });
      seen.set(c.id, { status: r.status, stderr: r.stderr.trim(), image: `sha256:${String(manifest.Config).replace(/\.json$/, '')}` });
    });
    // the exports of the accepted images, four at a time too
    const accepted = CASES.filter((c) => c.docker === 'accepts' && c.eifkit === 'ok' && seen.get(c.id)!.status === 0);
    await inPool(accepted, 4, async (c) => exports.set(c.id, await daemonExport(docker, seen.get(c.id)!.image)));
  }, 180_000);
  for (const c of CASES) {
    it(`${c.id}: ${c.what} — Docker ${c.docker}`, () => {
      const r = seen.get(c.id)!;
      expect(r.status === 0 ? 'accepts' : 'refuses', r.stderr).toBe(c.docker);
      if (c.dockerSays) expect(r.stderr).toMatch(c.dockerSays);
    });
    if (c.docker === 'accepts' && c.eifkit === 'ok') {
      it(`${c.id}: eifkit's export equals docker export of the loaded image`, async () => {
        const d = exports.get(c.id)!;
        const ours = await eifkitRead(c, d.createdAt);
        expect(ours.code).toBe('ok');
        const daemonTime = c.daemonTime ? (n: string) => c.daemonTime!.test(n) : undefined;
        expect(compareExports(d.entries, ours.listed!, { createdAt: d.createdAt, daemonTime })).toEqual([]);
      });
    }
  }
});
