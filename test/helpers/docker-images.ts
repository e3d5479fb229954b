/**
 * Test images built inside a private Docker daemon (test/helpers/docker.ts) from a busybox-static base, for the
 * differential tests of issue 11 ("Exactness, tested against … real Docker"; shared docs/oci-build.md §1.3, §1.4).
 * Each image exercises rules of the `docker export` emulation: deletions and opaque directories across layers, a file
 * re-added with another mode, hard links within one layer (busybox's applets; same and other directories), symlinks
 * (absolute, relative, dangling), setuid/setgid/sticky bits, empty directories, devices and a FIFO, names over 100
 * bytes and with non-ASCII / non-UTF-8 bytes, PAX headers (long names, uid over 2097151), WORKDIR / VOLUME / ENV /
 * ENTRYPOINT / CMD, and — loaded from hand-made layers — parents that no layer lists and files at the init layer's
 * paths. Times are fixed where a test wants them (`touch -d`), but the tests compare with the daemon's own export at
 * run time, so nothing depends on them.
 *
 * Each image is exported with `docker save` (legacy layout in 20.10) and, for the conversion tests, turned by skopeo
 * into an OCI layout (uncompressed, gzip, zstd) and an OCI archive.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PrivateDocker } from './docker.js';
import { dockerArchive, tarOf, type CraftEntry } from './tar-craft.js';

export const BUSYBOX = '/bin/busybox';
export const SKOPEO = '/usr/bin/skopeo';
export const BASE_TAG = 'eifkit-base:1';

/** A component of a name over 100 bytes (PAX path) and a 120-byte symlink target (PAX linkpath). */
export const LONG = 'long-' + 'n'.repeat(140);
export const DEEP = 'deep-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/cccccccccccccccccccccccccccccccc';
/** UTF-8 name, and a name that is not valid UTF-8 (bytes ff fe), written by the shell with printf. */
export const UTF8_NAME = 'ünïcödé-名前';

export interface TestImage {
  tag: string;
  what: string;
  /** Dockerfile text (built with the classic builder), or a function that makes the image another way. */
  dockerfile?: string;
  make?: (docker: PrivateDocker, base: Uint8Array) => void;
  /** Paths (export names) whose mtime the daemon sets at load / create time, and why. */
  daemonTimes?: { paths: RegExp; why: string }[];
}

const T0 = 1_600_000_000;

export const IMAGES: TestImage[] = [
  {
    tag: 'eifkit-t/layers:1',
    what: 'several layers: busybox applet hard links, deletions, opaque dirs, mode changes, links, special bits, devices, long and non-ASCII names',
    dockerfile: `FROM ${BASE_TAG}
RUN mkdir -p /usr/bin /sbin /usr/sbin && /bin/busybox --install
RUN mkdir -p /data/gone/sub /data/opq/sub /data/keep /data/other /data/empty /data/dir2file \\
 && echo gone > /data/gone/sub/f && echo old > /data/opq/old && echo x > /data/opq/sub/x \\
 && echo keep > /data/keep/k && echo del > /data/del.txt && echo m > /data/mode.txt && chmod 0644 /data/mode.txt \\
 && echo c > /data/chmod.txt && chmod 0644 /data/chmod.txt && echo in > /data/dir2file/in && echo f > /data/file2dir \\
 && touch -d @${T0} /data/keep/k /data/del.txt /data/mode.txt /data/chmod.txt /data/opq/old /data/keep /data/empty
RUN rm -rf /data/gone /data/del.txt /data/opq /data/dir2file /data/file2dir \\
 && mkdir -p /data/opq /data/file2dir && echo new > /data/opq/new && echo now-a-file > /data/dir2file && echo in > /data/file2dir/in \\
 && rm /data/mode.txt && echo m2 > /data/mode.txt && chmod 0750 /data/mode.txt && chmod 0600 /data/chmod.txt \\
 && ln /data/keep/k /data/keep/k-same && ln /data/keep/k /data/other/k-other \\
 && ln -s /bin/busybox /data/abs-link && ln -s ../keep/k /data/other/rel-link && ln -s ../keep/k-same /data/other/rel-kept \\
 && ln -s /nowhere/at/all /data/dangling \\
 && echo s > /data/suid && chmod 4755 /data/suid && echo g > /data/sgid && chmod 2711 /data/sgid \\
 && echo sg > /data/sugid && chmod 6750 /data/sugid && mkdir /data/sticky && chmod 1777 /data/sticky \\
 && mkdir /data/sgid-dir && chmod 2775 /data/sgid-dir \\
 && mkfifo /data/fifo && mknod /data/null c 1 3 && mknod /data/blk b 7 200 \\
 && echo o > /data/owned && chown 10001:10002 /data/owned && mkdir /data/owned-dir && chown 65534:65534 /data/owned-dir \\
 && chmod 0700 /data/owned-dir && echo big > /data/biguid && chown 3000000:3000001 /data/biguid \\
 && echo long > /data/${LONG} && mkdir -p /data/${DEEP} && echo deep > /data/${DEEP}/file.txt \\
 && ln -s /data/${DEEP}/file.txt /data/long-target-link && ln /data/${LONG} /data/${DEEP}/hardlink-to-long \\
 && echo u > "/data/${UTF8_NAME}" && echo b > "$(printf '/data/bad-\\377\\376-name')" \\
 && touch -d @${T0} /data/keep /data/empty /data/mode.txt
RUN rm -f /data/other/rel-link && touch -d @${T0 + 1} /data/keep/k
CMD ["/bin/sh"]
`,
  },
  {
    tag: 'eifkit-t/config:1',
    what: 'WORKDIR (made by the build), VOLUME (missing and existing), ENV with = and spaces, ENTRYPOINT + CMD, USER',
    dockerfile: `FROM ${BASE_TAG}
WORKDIR /srv/app
RUN mkdir -p /srv/app/state && echo cfg > /srv/app/config.txt
VOLUME ["/data/vol", "/srv/app/state"]
ENV GREETING="hello world" EQ="a=b=c" EMPTY="" PATH=/usr/bin:/bin
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo $GREETING"]
USER 1000:1000
`,
  },
  {
    tag: 'eifkit-t/entrypoint:1',
    what: 'ENTRYPOINT only (no CMD), empty ENV list beyond PATH',
    dockerfile: `FROM ${BASE_TAG}
ENTRYPOINT ["/bin/busybox", "echo", "only entrypoint"]
`,
  },
  {
    tag: 'eifkit-t/workdir-missing:1',
    what: 'a WorkingDir no layer has (docker create makes it with the creation time)',
    make: (docker, base) => {
      docker.ok(['import', '--change', 'WORKDIR /srv/missing/dir', '--change', 'CMD ["/bin/sh"]', '-', 'eifkit-t/workdir-missing:1'], { input: base });
    },
    daemonTimes: [{ paths: /^srv\/(missing\/(dir\/)?)?$/, why: 'docker create makes a missing WorkingDir (and its parents) with the creation time' }],
  },
  {
    tag: 'eifkit-t/orphans:1',
    what: "parents that no layer lists (made at load time), a directory listed after its children",
    make: (docker, base) => {
      const layer: CraftEntry[] = [
        { name: 'deep/a/b/file', data: 'orphan', mtime: T0 },
        { name: 'late/f', data: 'late', mtime: T0 },
        { name: 'late/', type: '5', mode: 0o700, mtime: T0 - 100 },
        { name: 'listed/', type: '5', mode: 0o750, mtime: T0 },
        { name: 'listed/child/x', data: 'x', mtime: T0 },
      ];
      const top: CraftEntry[] = [{ name: 'deep/a/b/other', data: 'upper', mtime: T0 }];
      docker.ok(['load', '-q'], { input: dockerArchive({ layers: [base, tarOf(layer), tarOf(top)], tag: 'eifkit-t/orphans:1' }) });
    },
    daemonTimes: [
      { paths: /^(deep\/|deep\/a\/|deep\/a\/b\/|listed\/child\/)$/, why: 'a parent no layer lists is made by the daemon at load time (oci-build.md §1.4 item 2)' },
    ],
  },
  {
    tag: 'eifkit-t/initlayer:1',
    what: "image files and directories at the init layer's paths (replaced files, kept directories)",
    make: (docker, base) => {
      const layer: CraftEntry[] = [
        { name: '.dockerenv', data: 'image dockerenv', mtime: T0 },
        { name: 'dev/', type: '5', mode: 0o700, mtime: T0 },
        { name: 'dev/console', type: '3', mode: 0o600, devmajor: 5, devminor: 1, mtime: T0 },
        { name: 'dev/null', type: '3', mode: 0o666, devmajor: 1, devminor: 3, mtime: T0 },
        { name: 'dev/pts/', type: '5', mode: 0o711, mtime: T0 },
        { name: 'etc/', type: '5', mode: 0o755, mtime: T0 },
        { name: 'etc/hosts', data: '10.0.0.1 image-host\n', mode: 0o644, mtime: T0 },
        { name: 'etc/resolv.conf', data: 'nameserver 10.0.0.2\n', mode: 0o644, mtime: T0 },
        { name: 'etc/hostname/', type: '5', mode: 0o700, mtime: T0 },
        { name: 'etc/hostname/inner', data: 'a dir where docker wants a file', mtime: T0 },
        { name: 'etc/mtab', data: 'image mtab\n', mode: 0o644, mtime: T0 },
        { name: 'etc/passwd', data: 'root:x:0:0:root:/root:/bin/sh\n', mode: 0o644, mtime: T0 },
        { name: 'proc/', type: '5', mode: 0o555, mtime: T0 },
        { name: 'sys', type: '2', linkname: 'proc', mtime: T0 },
      ];
      docker.ok(['load', '-q'], { input: dockerArchive({ layers: [base, tarOf(layer)], tag: 'eifkit-t/initlayer:1' }) });
    },
  },
];

/** The base rootfs: /bin/busybox (Debian busybox-static) and /bin/sh → busybox, fixed times. */
export function baseRootfs(): Uint8Array {
  const bb = new Uint8Array(readFileSync(BUSYBOX));
  return tarOf([
    { name: 'bin/', type: '5', mode: 0o755, mtime: T0 },
    { name: 'bin/busybox', data: bb, mode: 0o755, mtime: T0 },
    { name: 'bin/sh', type: '2', linkname: 'busybox', mode: 0o777, mtime: T0 },
  ]);
}

/** Why the image tests cannot run here (no busybox-static, no skopeo), or undefined. */
export function imagesUnavailableReason(): string | undefined {
  if (!existsSync(BUSYBOX)) return `no ${BUSYBOX} (Debian busybox-static)`;
  const r = spawnSync(BUSYBOX, ['--help'], { encoding: 'utf8' });
  if (r.status !== 0 || !/BusyBox/.test(r.stdout + r.stderr)) return `${BUSYBOX} is not a static busybox`;
  return undefined;
}

export function haveSkopeo(): boolean {
  return existsSync(SKOPEO);
}

export interface BuiltImage extends TestImage {
  /** `docker save` of the image (legacy layout). */
  archive: string;
}

/** Import the base, build/load every image, `docker save` each into `dir`. */
export function buildImages(docker: PrivateDocker, dir: string): BuiltImage[] {
  mkdirSync(dir, { recursive: true });
  const base = baseRootfs();
  docker.ok(['import', '-', BASE_TAG], { input: base });
  const out: BuiltImage[] = [];
  for (const img of IMAGES) {
    if (img.dockerfile) {
      const ctx = join(dir, `ctx-${out.length}`);
      mkdirSync(ctx, { recursive: true });
      writeFileSync(join(ctx, 'Dockerfile'), img.dockerfile);
      docker.ok(['build', '-q', '--network', 'none', '-t', img.tag, ctx], { env: { DOCKER_BUILDKIT: '0' } });
    } else img.make!(docker, base);
    const archive = join(dir, `${img.tag.replace(/[/:]/g, '_')}.docker-archive.tar`);
    docker.ok(['save', '-o', archive, img.tag]);
    out.push({ ...img, archive });
  }
  return out;
}

/** skopeo copy SRC DEST (…flags), throwing with its message on failure. */
export function skopeo(args: string[]): void {
  const r = spawnSync(SKOPEO, ['--insecure-policy', 'copy', '-q', ...args], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`skopeo copy ${args.join(' ')} failed: ${r.stderr.trim()}`);
}

export interface Conversions {
  ociLayoutPlain: string;
  ociLayoutGzip: string;
  ociLayoutZstd: string;
  ociArchiveGzip: string;
  ref: string;
  /**
   * skopeo 1.9.3 (Debian bookworm) writes the layers of `--dest-oci-accept-uncompressed-layers` uncompressed but
   * labelled `…tar+gzip`; when it did, this is a copy of that layout as skopeo wrote it, and `ociLayoutPlain` has
   * the media types corrected (manifest rewritten, index updated).
   */
  mislabeled?: string;
}

const readJson = (p: string) => JSON.parse(readFileSync(p, 'utf8'));
const blobFile = (layout: string, digest: string) => join(layout, 'blobs', ...digest.split(':'));

/** If the layout's layers are labelled gzip but do not start with gzip's magic, copy the layout aside and say where. */
function mislabeledLayers(layout: string): string | undefined {
  const index = readJson(join(layout, 'index.json'));
  const manifest = readJson(blobFile(layout, index.manifests[0].digest));
  const bad = manifest.layers.some((l: { mediaType: string; digest: string }) => {
    const head = readFileSync(blobFile(layout, l.digest)).subarray(0, 2);
    return l.mediaType.endsWith('+gzip') && !(head[0] === 0x1f && head[1] === 0x8b);
  });
  if (!bad) return undefined;
  const copy = `${layout}-as-skopeo-wrote-it`;
  cpSync(layout, copy, { recursive: true });
  return copy;
}

/** Rewrite the manifest with `application/vnd.oci.image.layer.v1.tar` for uncompressed layers. */
function relabelUncompressed(layout: string): void {
  const indexPath = join(layout, 'index.json');
  const index = readJson(indexPath);
  const manifest = readJson(blobFile(layout, index.manifests[0].digest));
  for (const l of manifest.layers) {
    const head = readFileSync(blobFile(layout, l.digest)).subarray(0, 2);
    if (!(head[0] === 0x1f && head[1] === 0x8b)) l.mediaType = 'application/vnd.oci.image.layer.v1.tar';
  }
  const bytes = Buffer.from(JSON.stringify(manifest));
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  writeFileSync(blobFile(layout, digest), bytes);
  index.manifests[0] = { ...index.manifests[0], digest, size: bytes.length };
  writeFileSync(indexPath, JSON.stringify(index));
}

/** The same image as OCI layouts (uncompressed, gzip, zstd) and an OCI archive (gzip), converted by skopeo. */
export function convertWithSkopeo(archive: string, dir: string, ref = 'latest'): Conversions {
  const c: Conversions = {
    ociLayoutPlain: join(dir, 'layout-plain'),
    ociLayoutGzip: join(dir, 'layout-gzip'),
    ociLayoutZstd: join(dir, 'layout-zstd'),
    ociArchiveGzip: join(dir, 'oci-gzip.tar'),
    ref,
  };
  mkdirSync(dir, { recursive: true });
  const src = `docker-archive:${archive}`;
  skopeo(['--dest-oci-accept-uncompressed-layers', src, `oci:${c.ociLayoutPlain}:${ref}`]);
  c.mislabeled = mislabeledLayers(c.ociLayoutPlain);
  if (c.mislabeled) relabelUncompressed(c.ociLayoutPlain);
  skopeo([src, `oci:${c.ociLayoutGzip}:${ref}`]);
  skopeo(['--dest-compress-format', 'zstd', src, `oci:${c.ociLayoutZstd}:${ref}`]);
  skopeo([src, `oci-archive:${c.ociArchiveGzip}:${ref}`]);
  return c;
}
