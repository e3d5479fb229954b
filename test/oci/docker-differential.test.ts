/**
 * eifkit's `docker export` emulation against a real Docker daemon (issue 11 "Exactness, tested against nitro-cli's
 * own output and real Docker"; shared docs/oci-build.md §1.3 and §1.4). Test images are built inside a private
 * dockerd from a busybox-static base (test/helpers/docker-images.ts); for each one, `docker create` + `docker export`
 * is the ground truth, and eifkit's dockerExport() of the same image read from its `docker save` tar must give the
 * same entries in the same order with the same name, type, mode, uid/gid, mtime, link target and contents.
 *
 * What depends on the daemon, not on the image (compared on everything else, with the reason asserted):
 * - the init layer's entries carry the container's creation time: eifkit is given the daemon's (.dockerenv's mtime);
 * - a parent directory that no layer lists is made at load time (§1.4 item 2), a missing WorkingDir at create time
 *   (§1.4 item 3): eifkit cannot know these times, and warns that the image is not reproducible.
 *
 * Then: the same image as docker-archive, OCI layout (uncompressed, gzip, zstd) and OCI archive — converted by
 * skopeo — gives the same ramdisks and PCRs from `eif build`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openImageSource, type ImageSourceKind } from '../../src/node/oci/image-source.js';
import { dockerExport } from '../../src/oci/docker-export.js';
import { displayName } from '../../src/oci/types.js';
import { describeDocker, inPool, startPrivateDocker, type PrivateDocker, type StartResult } from '../helpers/docker.js';
import { buildImages, convertWithSkopeo, haveSkopeo, imagesUnavailableReason, LONG, UTF8_NAME, type BuiltImage, type Conversions } from '../helpers/docker-images.js';
import { compareExports, daemonExport, listExport } from '../helpers/export-compare.js';
import { eif } from '../helpers/eif.js';
import { HAVE_SHARED, REPO_ROOT, sharedPath } from '../helpers/shared.js';
import { listTar, tarFiles, type ListedEntry } from '../helpers/tar-list.js';

const noImages = imagesUnavailableReason();
const dk: StartResult = noImages ? { reason: noImages } : await startPrivateDocker();
afterAll(() => dk.docker?.stop());

/** eifkit's export of an image read from an archive / layout, with the creation time the daemon used. */
async function eifkitExport(kind: ImageSourceKind, path: string, image: string | undefined, createdAt: number) {
  const src = await openImageSource(kind, path, image ? { image } : {});
  try {
    const layers = await src.indexLayers();
    const cfg = (src.selection.config.config ?? {}) as { WorkingDir?: string };
    const res = dockerExport(layers, { createdAt, workdir: cfg.WorkingDir || undefined });
    const layerWarnings = layers.flatMap((l) => l.warnings ?? []);
    return { listed: await listExport(res.entries, layers), warnings: [...src.selection.warnings, ...layerWarnings, ...res.warnings], selection: src.selection };
  } finally {
    src.close();
  }
}

/** Stand-in blobs (never AWS's): the file names nitro-cli uses, random-looking bytes. */
function standInBlobs(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 131 + seed * 17 + (i >> 7)) & 0xff);
  writeFileSync(join(dir, 'bzImage'), bytes(65536, 1));
  writeFileSync(join(dir, 'bzImage.config'), '#\n# Automatically generated file; DO NOT EDIT.\n# Linux/x86 4.14.256 Kernel Configuration\n');
  writeFileSync(join(dir, 'cmdline'), 'reboot=k panic=30 pci=off nomodules console=ttyS0\n');
  writeFileSync(join(dir, 'init'), bytes(30000, 2));
  writeFileSync(join(dir, 'nsm.ko'), bytes(12000, 3));
  return dir;
}

describeDocker(dk, 'docker export of docker create IMAGE vs eifkit dockerExport (Docker 20.10, overlay2)', (docker: PrivateDocker) => {
  let built: BuiltImage[] = [];
  const daemon = new Map<string, { entries: ListedEntry[]; createdAt: number }>();
  let loadedAt = 0;

  beforeAll(async () => {
    loadedAt = Math.floor(Date.now() / 1000);
    built = buildImages(docker, join(docker.work, 'images'));
    await inPool(built, 3, async (img) => daemon.set(img.tag, await daemonExport(docker, img.tag)));
  }, 240_000);

  it('the daemon is the one the rules were read from (overlay2, no userns remap)', () => {
    const info = JSON.parse(docker.ok(['info', '--format', '{{json .}}']).toString());
    expect(info.Driver).toBe('overlay2');
    expect(String(info.ServerVersion)).toMatch(/^20\.10\./);
    expect(info.SecurityOptions.join(' ')).not.toMatch(/userns/);
  });

  it('the images exercise what issue 11 lists (checked on the daemon side)', () => {
    const layers = daemon.get('eifkit-t/layers:1')!.entries;
    const get = (n: string) => layers.find((e) => e.name === n);
    // busybox --install: one file, the other applets hard links to it, in bin/, sbin/, usr/bin/, usr/sbin/ and /
    const links = layers.filter((e) => e.type === 'hardlink');
    expect(links.length).toBeGreaterThan(200);
    expect(new Set(links.map((e) => e.name.split('/')[0])).size).toBeGreaterThanOrEqual(3);
    // a hard link group whose first path was replaced by a later layer: the survivors link to each other
    expect(get('data/keep/k')).toMatchObject({ type: 'file', mtime: 1_600_000_001 });
    expect(get('data/keep/k-same')).toMatchObject({ type: 'file' });
    expect(get('data/other/k-other')).toMatchObject({ type: 'hardlink', linkname: 'data/keep/k-same' });
    expect(get('data/other/rel-link')).toBeUndefined();
    expect(get('data/other/rel-kept')).toMatchObject({ type: 'symlink', linkname: '../keep/k-same' });
    // deletions, opaque directory, re-added file with another mode, dir → file, file → dir
    expect(get('data/gone/')).toBeUndefined();
    expect(get('data/del.txt')).toBeUndefined();
    expect(layers.filter((e) => e.name.startsWith('data/opq/') && e.name !== 'data/opq/').map((e) => e.name)).toEqual(['data/opq/new']);
    expect(get('data/mode.txt')).toMatchObject({ type: 'file', mode: 0o750 });
    expect(get('data/dir2file')).toMatchObject({ type: 'file' });
    expect(get('data/file2dir/')).toMatchObject({ type: 'dir' });
    // links, special bits, devices, FIFO, owners, PAX
    expect(get('data/abs-link')).toMatchObject({ type: 'symlink', linkname: '/bin/busybox', mode: 0o777 });
    expect(get('data/dangling')).toMatchObject({ type: 'symlink', linkname: '/nowhere/at/all' });
    expect(get('data/suid')!.mode).toBe(0o4755);
    expect(get('data/sugid')!.mode).toBe(0o6750);
    expect(get('data/sticky/')!.mode).toBe(0o1777);
    expect(get('data/sgid-dir/')!.mode).toBe(0o2775);
    expect(get('data/fifo')!.type).toBe('fifo');
    expect(get('data/null')).toMatchObject({ type: 'char', devmajor: 1, devminor: 3 });
    expect(get('data/blk')).toMatchObject({ type: 'block', devmajor: 7, devminor: 200 });
    expect(get('data/biguid')).toMatchObject({ uid: 3_000_000, gid: 3_000_001 });
    expect(get('data/biguid')!.pax).toHaveProperty('uid');
    expect(get(`data/${LONG}`)!.pax).toHaveProperty('path');
    expect(get('data/long-target-link')!.pax).toHaveProperty('linkpath');
    expect(get('data/empty/')).toMatchObject({ type: 'dir', mtime: 1_600_000_000 });
    expect(get(Buffer.from(`data/${UTF8_NAME}`, 'utf8').toString('latin1'))).toBeDefined();
    expect(get('data/bad-\xff\xfe-name')).toBeDefined();
    // docker create makes a missing WORKDIR (oci-build.md §1.4 item 3, observed) but not a missing VOLUME
    const config = daemon.get('eifkit-t/config:1')!.entries;
    expect(config.find((e) => e.name.startsWith('data/'))).toBeUndefined();
    const wd = daemon.get('eifkit-t/workdir-missing:1')!;
    expect(wd.entries.find((e) => e.name === 'srv/missing/dir/')).toMatchObject({ type: 'dir', mode: 0o755, uid: 0, gid: 0 });
  });

  it('the layers docker build wrote hold whiteouts and an opaque marker (read from docker save, tar-stream)', async () => {
    const img = built.find((b) => b.tag === 'eifkit-t/layers:1')!;
    const members = await tarFiles(new Uint8Array(readFileSync(img.archive)));
    const manifest = JSON.parse(members.get('manifest.json')!.toString())[0];
    const names: string[] = [];
    for (const l of manifest.Layers as string[]) for (const e of await listTar(new Uint8Array(members.get(l)!))) names.push(e.name);
    expect(names).toContain('data/opq/.wh..wh..opq');
    expect(names).toContain('data/.wh.del.txt');
    expect(names).toContain('data/.wh.gone');
    expect(names).toContain('data/other/.wh.rel-link');
    expect(manifest.Layers.length).toBe(5);
  });

  it("init layer over image files and directories (observed): files replaced, directories kept", () => {
    const { entries, createdAt } = daemon.get('eifkit-t/initlayer:1')!;
    const get = (n: string) => entries.find((e) => e.name === n);
    expect(get('.dockerenv')).toMatchObject({ type: 'file', size: 0, mode: 0o755, mtime: createdAt });
    expect(get('etc/hosts')).toMatchObject({ type: 'file', size: 0, mode: 0o755 });
    expect(get('etc/mtab')).toMatchObject({ type: 'symlink', linkname: '/proc/mounts' });
    expect(get('dev/console')).toMatchObject({ type: 'file', size: 0 });
    expect(get('etc/hostname/')).toMatchObject({ type: 'dir', mode: 0o700, mtime: 1_600_000_000 });
    expect(get('proc/')).toMatchObject({ type: 'dir', mode: 0o555, mtime: 1_600_000_000 });
    expect(get('dev/')).toMatchObject({ type: 'dir', mode: 0o700 }); // mode kept, time of creation (console relinked)
    expect(get('dev/pts/')).toMatchObject({ type: 'dir', mode: 0o711, mtime: 1_600_000_000 });
    expect(get('sys/')).toMatchObject({ type: 'dir', mode: 0o755 }); // an image symlink `sys` is unlinked
  });

  const compareCase = (tag: string) => async () => {
    const img = built.find((b) => b.tag === tag)!;
    const d = daemon.get(tag)!;
    const daemonTimed = (name: string) => (img.daemonTimes ?? []).some((t) => t.paths.test(name));
    const ours = await eifkitExport('docker-archive', img.archive, img.tag, d.createdAt);
    const diffs = compareExports(d.entries, ours.listed, { createdAt: d.createdAt, daemonTime: daemonTimed });
    expect(diffs, `${tag}: eifkit vs the daemon's docker export`).toEqual([]);
    for (const t of img.daemonTimes ?? []) {
      // the daemon's time is its own (load or create time), not the image's: eifkit must say the image is not reproducible
      const hit = d.entries.filter((e) => t.paths.test(e.name));
      expect(hit.length, t.why).toBeGreaterThan(0);
      for (const e of hit) {
        expect(e.mtime, `${e.name}: ${t.why}`).toBeGreaterThanOrEqual(loadedAt);
        expect(e.mtime, `${e.name}: ${t.why}`).toBeLessThanOrEqual(d.createdAt + 1);
      }
      expect(ours.warnings.join('\n'), `${tag}: eifkit warns (${t.why})`).toMatch(/not reproducible/);
      for (const e of hit) expect(ours.warnings.join('\n')).toContain(displayName(e.name.replace(/\/$/, '')));
    }
    if (!img.daemonTimes) expect(ours.warnings.filter((w) => /not reproducible/.test(w))).toEqual([]);
  };

  for (const tag of ['eifkit-t/layers:1', 'eifkit-t/config:1', 'eifkit-t/entrypoint:1', 'eifkit-t/workdir-missing:1', 'eifkit-t/orphans:1', 'eifkit-t/initlayer:1']) {
    it(`${tag}: eifkit's export equals the daemon's, field by field`, compareCase(tag));
  }

  it('the golden docker archives of ../shared/test-vectors/oci, loaded into the daemon: same export', async (ctx) => {
    if (!HAVE_SHARED) return ctx.skip();
    for (const name of ['sample-app', 'sample-entrypoint']) {
      const archive = sharedPath('oci', `${name}.docker-archive.tar`);
      const loaded = docker.ok(['load', '-q', '-i', archive]).toString();
      const tag = /Loaded image: (\S+)/.exec(loaded)?.[1] ?? /Loaded image ID: (\S+)/.exec(loaded)![1]!;
      const d = await daemonExport(docker, tag);
      const ours = await eifkitExport('docker-archive', archive, undefined, d.createdAt);
      expect(compareExports(d.entries, ours.listed, { createdAt: d.createdAt }), name).toEqual([]);
      expect(d.entries.filter((e) => e.sha256 !== '').length, name).toBeGreaterThan(0);
    }
  });

  it("cmd / env / arch as nitro-cli takes them from docker inspect's Config", async () => {
    const cases: [string, string[], string[]][] = [
      ['eifkit-t/config:1', ['echo $GREETING'], ['PATH=/usr/bin:/bin', 'GREETING=hello world', 'EQ=a=b=c', 'EMPTY=']],
      ['eifkit-t/entrypoint:1', ['/bin/busybox', 'echo', 'only entrypoint'], []],
    ];
    for (const [tag, cmd, env] of cases) {
      const inspect = JSON.parse(docker.ok(['inspect', tag]).toString())[0];
      const daemonCmd: string[] = inspect.Config.Cmd ?? inspect.Config.Entrypoint; // nitro-cli: Cmd if Some, else Entrypoint
      expect(daemonCmd).toEqual(cmd);
      expect(inspect.Config.Env ?? []).toEqual(expect.arrayContaining(env));
      const src = await openImageSource('docker-archive', built.find((b) => b.tag === tag)!.archive);
      try {
        expect(src.selection.cmd).toEqual(daemonCmd);
        expect(src.selection.env).toEqual(inspect.Config.Env ?? []);
        expect(src.selection.architecture).toBe(inspect.Architecture);
        expect(src.selection.configDigest).toBe(inspect.Id);
        if (tag === 'eifkit-t/config:1') expect(src.selection.warnings.join('\n')).toMatch(/ENTRYPOINT|Entrypoint/);
      } finally {
        src.close();
      }
    }
  });

  describeCli('eif build warns at build time when the daemon, not the image, sets a time', () => {
    for (const tag of ['eifkit-t/workdir-missing:1', 'eifkit-t/orphans:1', 'eifkit-t/layers:1']) {
      it(`${tag}: ${tag === 'eifkit-t/layers:1' ? 'no warning of that kind' : '"not reproducible" on stderr, and the build succeeds'}`, () => {
        const img = built.find((b) => b.tag === tag)!;
        const out = join(docker.work, `warn-${tag.replace(/\W/g, '_')}`);
        mkdirSync(out, { recursive: true });
        const r = eif(['build', '--docker-archive', img.archive, '--blobs', standInBlobs(join(docker.work, 'blobs-warn')), '--output', join(out, 'app.eif')]);
        expect(r.status, r.stderr).toBe(0);
        if (tag === 'eifkit-t/layers:1') expect(r.stderr).not.toMatch(/not reproducible/);
        else expect(r.stderr).toMatch(/not reproducible/);
      });
    }
  });

  describeCli('scripts/compare-nitro-cli.sh, with a stand-in for nitro-cli (its plumbing; no nitro-cli here)', () => {
    // The stand-in makes what nitro-cli leaves behind (an EIF, its JSON, linuxkit's ramdisk names in
    // $NITRO_CLI_ARTIFACTS) with `docker save` + `eif build`; STANDIN_IMAGE makes it build another image.
    const standIn = `#!/usr/bin/env bash
set -euo pipefail
[ "$1" = build-enclave ] || exit 2; shift
while [ $# -gt 0 ]; do case "$1" in --docker-uri) IMG=$2; shift 2;; --output-file) OUT=$2; shift 2;; *) shift;; esac; done
T=$(mktemp -d)
$DOCKER save -o "$T/i.tar" "\${STANDIN_IMAGE:-$IMG}"
$EIF build --docker-archive "$T/i.tar" --blobs "$NITRO_CLI_BLOBS" --output "$OUT" --emit-ramdisks "$T/r"
mv "$T/r/bootstrap-initrd.img" "$NITRO_CLI_ARTIFACTS/bootstrap-initrd.img-initrd.img"
mv "$T/r/customer-initrd.img" "$NITRO_CLI_ARTIFACTS/customer-initrd.img-initrd.img"
rm -rf "$T"
`;
    const run = (work: string, extra: Record<string, string> = {}) => {
      const stub = join(docker.work, 'nitro-cli-stand-in');
      writeFileSync(stub, standIn, { mode: 0o755 });
      return spawnSync('bash', [join(REPO_ROOT, 'scripts', 'compare-nitro-cli.sh'), 'eifkit-t/config:1', work], {
        encoding: 'utf8',
        timeout: 120_000,
        env: {
          ...process.env,
          NITRO_CLI: stub,
          DOCKER: `/usr/bin/docker -H unix://${docker.socket}`,
          NITRO_CLI_BLOBS: standInBlobs(join(docker.work, 'blobs-script')),
          EIF: `${process.execPath} ${join(REPO_ROOT, 'bin', 'eif.js')}`,
          ...extra,
        },
      });
    };

    it('same image both ways: exit 0, PCRs and ramdisks the same', () => {
      const r = run(join(docker.work, 'compare-same'));
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^PCR0 same/m);
      expect(r.stdout).toMatch(/^PCR2 same/m);
      expect(r.stdout).toMatch(/^customer ramdisk: identical/m);
      expect(r.stdout).toMatch(/^bootstrap ramdisk: identical/m);
    });

    it('another image on the nitro-cli side: exit 1, PCR2 and the customer ramdisk reported different, with eif ramdisk diff', () => {
      const r = run(join(docker.work, 'compare-other'), { STANDIN_IMAGE: 'eifkit-t/entrypoint:1' });
      expect(r.status, r.stderr).toBe(1);
      expect(r.stdout).toMatch(/^PCR1 same/m);
      expect(r.stdout).toMatch(/^PCR2 DIFFERENT/m);
      expect(r.stdout).toMatch(/^customer ramdisk: DIFFERENT/m);
      expect(r.stdout).toMatch(/srv\/app/); // the diff names entries only one side has
    });
  });

  describeDockerSkopeo('the same image as docker-archive, OCI layout and OCI archive', () => {
    let conv: Conversions;
    let blobs: string;
    beforeAll(() => {
      const img = built.find((b) => b.tag === 'eifkit-t/layers:1')!;
      conv = convertWithSkopeo(img.archive, join(docker.work, 'conv'));
      blobs = standInBlobs(join(docker.work, 'blobs'));
    }, 120_000);

    it('gives the same export entries (uncompressed, gzip and zstd layers)', async () => {
      const img = built.find((b) => b.tag === 'eifkit-t/layers:1')!;
      const createdAt = daemon.get(img.tag)!.createdAt;
      const ref = await eifkitExport('docker-archive', img.archive, undefined, createdAt);
      for (const [kind, path] of [
        ['oci-layout', conv.ociLayoutPlain],
        ['oci-layout', conv.ociLayoutGzip],
        ['oci-layout', conv.ociLayoutZstd],
        ['oci-archive', conv.ociArchiveGzip],
      ] as const) {
        const other = await eifkitExport(kind, path, undefined, createdAt);
        expect(compareExports(ref.listed, other.listed, { createdAt }), `${kind} ${path}`).toEqual([]);
        expect(other.selection.cmd).toEqual(ref.selection.cmd);
        expect(other.selection.env).toEqual(ref.selection.env);
      }
      // the zstd layout really has zstd layers, the gzip one gzip
      const mediaTypes = (dir: string) => {
        const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'));
        const m = JSON.parse(readFileSync(join(dir, 'blobs', ...index.manifests[0].digest.split(':')), 'utf8'));
        return m.layers.map((l: { mediaType: string }) => l.mediaType);
      };
      expect(mediaTypes(conv.ociLayoutZstd).every((t: string) => t.endsWith('+zstd'))).toBe(true);
      expect(mediaTypes(conv.ociLayoutGzip).every((t: string) => t.endsWith('+gzip'))).toBe(true);
      expect(mediaTypes(conv.ociLayoutPlain).every((t: string) => t.endsWith('.tar'))).toBe(true);
    });

    it("skopeo's uncompressed layers labelled +gzip (skopeo 1.9.3) are refused with OCI_LAYER_DECOMPRESS (eifkit trusts the media type)", async () => {
      if (!conv.mislabeled) return expect(conv.mislabeled).toBeUndefined(); // a skopeo that labels them right
      const createdAt = daemon.get('eifkit-t/layers:1')!.createdAt;
      let code = 'ok';
      try {
        await eifkitExport('oci-layout', conv.mislabeled, undefined, createdAt);
      } catch (e) {
        code = (e as { code?: string }).code ?? String(e);
      }
      // containerd's DecompressStream goes by the magic bytes and would read this layout; oci-build.md §7 step 3
      // speaks of a magic-byte fallback. eifkit refuses with a clear code instead (reported; the lead decides).
      expect(code).toBe('OCI_LAYER_DECOMPRESS');
    });

    (cliBuildsImages() ? it : it.skip)('`eif build` gives the same ramdisks and PCRs from each form', () => {
      const img = built.find((b) => b.tag === 'eifkit-t/layers:1')!;
      const forms: [string, string][] = [
        ['--docker-archive', img.archive],
        ['--oci-layout', conv.ociLayoutPlain],
        ['--oci-layout', conv.ociLayoutGzip],
        ['--oci-layout', conv.ociLayoutZstd],
        ['--oci-archive', conv.ociArchiveGzip],
      ];
      const results = forms.map(([flag, path], i) => {
        const out = join(docker.work, `build-${i}`);
        mkdirSync(out, { recursive: true });
        const r = eif(['build', flag, path, '--blobs', blobs, '--output', join(out, 'app.eif'), '--emit-ramdisks', out, '--build-time', '2026-01-01T00:00:00Z'], { env: { NITRO_CLI_BLOBS: '' } });
        expect(r.status, `${flag} ${path}: ${r.stderr}`).toBe(0);
        const m = JSON.parse(r.stdout).Measurements;
        return {
          pcrs: [m.PCR0, m.PCR1, m.PCR2],
          customer: readFileSync(join(out, 'customer-initrd.img')),
          bootstrap: readFileSync(join(out, 'bootstrap-initrd.img')),
        };
      });
      for (const r of results.slice(1)) {
        expect(r.pcrs).toEqual(results[0]!.pcrs);
        expect(Buffer.compare(r.customer, results[0]!.customer)).toBe(0);
        expect(Buffer.compare(r.bootstrap, results[0]!.bootstrap)).toBe(0);
      }
      expect(existsSync(join(docker.work, 'build-0', 'app.eif'))).toBe(true);
    });
  });
});

/** `eif build --docker-archive` exists in this build of the CLI (it lands with the CLI side of issue 11). */
function cliBuildsImages(): boolean {
  const r = eif(['build', '--help']);
  return /--docker-archive/.test(r.stdout + r.stderr);
}

function describeCli(name: string, fn: () => void): void {
  if (cliBuildsImages()) describe(name, fn);
  else describe.skip(`${name} (skipped: this build of eif has no --docker-archive)`, fn);
}

function describeDockerSkopeo(name: string, fn: () => void): void {
  if (haveSkopeo()) describeDocker(dk, name, fn);
  else describeDocker({ reason: 'no /usr/bin/skopeo (Debian skopeo)' }, name, fn);
}
