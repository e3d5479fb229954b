/**
 * Hostile image archives against the real Docker daemon and against eifkit (issue 11 "Bad input"; shared
 * docs/oci-build.md "Real components"). The cases (test/helpers/hostile-cases.ts) each break one rule. With a private
 * Docker 20.10 the test asserts that `docker load` still does what the table records, and for archives Docker accepts,
 * that eifkit's export equals `docker export` of a container of the image. Without Docker, eifkit's side still runs:
 * reading the image refuses with the stable code where Docker (or nitro-cli) refuses, and `eif build --docker-archive`
 * exits 1 with one `eif: error CODE:` line, writes no output file and leaves no temp file, in bounded memory.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EifError } from '../../src/errors.js';
import { openImageSource } from '../../src/node/oci/image-source.js';
import { dockerExport } from '../../src/oci/docker-export.js';
import { describeDocker, startPrivateDocker, type PrivateDocker } from '../helpers/docker.js';
import { tempDir, eif } from '../helpers/eif.js';
import { compareExports, daemonExport, listExport } from '../helpers/export-compare.js';
import { CASES, type HostileCase } from '../helpers/hostile-cases.js';
import type { ListedEntry } from '../helpers/tar-list.js';

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
  for (const c of CASES) {
    const want = c.build ?? c.eifkit;
    it(`${c.id}: ${want === 'ok' ? 'builds' : `exit 1, ${want}, no output file, no temp file`}`, () => {
      const out = join(dir, `out-${c.id}`);
      const tmp = join(dir, `tmp-${c.id}`);
      mkdirSync(out, { recursive: true });
      mkdirSync(tmp, { recursive: true });
      // /usr/bin/time reports the peak RSS (KiB) of the build: a bomb or a huge field must not be held in memory
      const timed = existsSync('/usr/bin/time');
      const args = ['build', '--docker-archive', archiveOf(c), '--blobs', blobs, '--output', join(out, 'app.eif')];
      const r = timed
        ? spawnSync('/usr/bin/time', ['-f', 'maxrss=%M', process.execPath, join(__dirname, '..', '..', 'bin', 'eif.js'), ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, TMPDIR: tmp } })
        : (() => {
            const e = eif(args, { env: { TMPDIR: tmp } });
            return { status: e.status, stdout: e.stdout, stderr: e.stderr };
          })();
      const stderr = r.stderr.replace(/^maxrss=\d+\n?/m, '');
      if (timed) {
        const rss = Number(/maxrss=(\d+)/.exec(r.stderr)?.[1]);
        expect(rss, 'peak RSS (KiB)').toBeLessThan(300 * 1024);
      }
      if (want === 'ok') {
        expect(r.status, stderr).toBe(0);
        expect(existsSync(join(out, 'app.eif'))).toBe(true);
        if (c.buildWarns) expect(stderr).toMatch(c.buildWarns);
      } else {
        expect(r.status, stderr).toBe(1);
        expect(stderr).toMatch(new RegExp(`^eif: error ${want}: [^\\n]+\\n?$`));
        expect(stderr).not.toMatch(/\n\s+at /); // no stack trace
        expect(readdirSync(out)).toEqual([]);
      }
      expect(readdirSync(tmp), 'temp files left behind').toEqual([]);
    });
  }
});

describeDocker(dk, 'hostile archives: what docker load does (Docker 20.10, overlay2)', (docker: PrivateDocker) => {
  const seen = new Map<string, { status: number | null; stderr: string }>();
  beforeAll(() => {
    for (const c of CASES) {
      const r = docker.run(['load', '-q'], { input: c.archive() });
      seen.set(c.id, { status: r.status, stderr: r.stderr.trim() });
      // every archive is tagged hostile:latest: give each loaded image its own name
      if (r.status === 0) docker.ok(['tag', 'hostile:latest', `hostile/${c.id}:1`]);
    }
  }, 120_000);
  for (const c of CASES) {
    it(`${c.id}: ${c.what} — Docker ${c.docker}`, () => {
      const r = seen.get(c.id)!;
      expect(r.status === 0 ? 'accepts' : 'refuses', r.stderr).toBe(c.docker);
      if (c.dockerSays) expect(r.stderr).toMatch(c.dockerSays);
    });
    if (c.docker === 'accepts' && c.eifkit === 'ok') {
      it(`${c.id}: eifkit's export equals docker export of the loaded image`, async () => {
        const d = await daemonExport(docker, `hostile/${c.id}:1`);
        const ours = await eifkitRead(c, d.createdAt);
        expect(ours.code).toBe('ok');
        const daemonTime = c.daemonTime ? (n: string) => c.daemonTime!.test(n) : undefined;
        expect(compareExports(d.entries, ours.listed!, { createdAt: d.createdAt, daemonTime })).toEqual([]);
      });
    }
  }
});
