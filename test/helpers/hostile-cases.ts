/**
 * Hostile `docker save` archives (issue 11 "Bad input"), each breaking one rule, with what Docker 20.10's
 * `docker load` does with it (observed on a private daemon, overlay2; test/oci/hostile-docker.test.ts re-checks
 * every verdict against the daemon) and what eifkit must do: refuse with a stable code where Docker (or nitro-cli)
 * refuses, do what Docker does — and say so — where Docker maps a name inside the root.
 */
import { createHash } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { bytes, concat, dockerArchive, tarOf, type CraftEntry } from './tar-craft.js';

const file = (name: string | Uint8Array, data = 'x', extra: Partial<CraftEntry> = {}): CraftEntry => ({ name, data, ...extra });
const dir = (name: string, extra: Partial<CraftEntry> = {}): CraftEntry => ({ name, type: '5', mode: 0o755, ...extra });
const one = (entries: CraftEntry[], opts: { end?: boolean } = {}) => dockerArchive({ layers: [tarOf(entries, opts)] });

/** What `docker load` does: 'accepts' (and the image loads) or 'refuses' (exit ≠ 0). */
export type DockerVerdict = 'accepts' | 'refuses';

export interface HostileCase {
  id: string;
  what: string;
  archive: () => Uint8Array;
  docker: DockerVerdict;
  /** Words of Docker's refusal, to be sure it refused for this reason. */
  dockerSays?: RegExp;
  /** eifkit reading the image (openImageSource + indexLayers + dockerExport): 'ok' or the code it refuses with. */
  eifkit: 'ok' | string;
  /** A warning eifkit must give when it accepts. */
  warns?: RegExp;
  /** `eif build --docker-archive`: 'ok' or the code (default: as `eifkit`); and a warning it must print. */
  build?: 'ok' | string;
  buildWarns?: RegExp;
  /** Export names whose mtime the daemon sets at load time (a parent no layer lists): compared on all but mtime. */
  daemonTime?: RegExp;
  /** Why eifkit's verdict differs from Docker's, when it does. */
  why?: string;
}

const T1 = 1_600_000_100;
const zeros = new Uint8Array(64 << 20);

export const CASES: HostileCase[] = [
  {
    id: 'link-missing',
    what: 'hard link to a name no layer has',
    archive: () => one([file('a'), { name: 'b', type: '1', linkname: 'nope' }]),
    docker: 'refuses',
    dockerSays: /link \/nope \/b: no such file/,
    eifkit: 'OCI_HARDLINK_TARGET',
  },
  {
    id: 'link-outside',
    what: 'hard link to ../../etc/passwd (Docker maps it inside the root, where there is nothing)',
    archive: () => one([file('a'), { name: 'b', type: '1', linkname: '../../etc/passwd' }]),
    docker: 'refuses',
    dockerSays: /link \/etc\/passwd \/b: no such file/,
    eifkit: 'OCI_HARDLINK_TARGET',
  },
  {
    id: 'link-lower-layer',
    what: "hard link to a lower layer's file",
    archive: () => dockerArchive({ layers: [tarOf([file('a')]), tarOf([{ name: 'b', type: '1', linkname: 'a' }])] }),
    docker: 'refuses',
    eifkit: 'OCI_HARDLINK_TARGET',
  },
  {
    id: 'link-to-dir',
    what: 'hard link to a directory',
    archive: () => one([dir('d'), { name: 'b', type: '1', linkname: 'd' }]),
    docker: 'refuses',
    eifkit: 'OCI_HARDLINK_TARGET',
  },
  {
    id: 'bad-checksum',
    what: 'a member header with a wrong checksum',
    archive: () => one([file('a'), file('b', 'y', { badChecksum: true })]),
    docker: 'refuses',
    dockerSays: /invalid tar header|checksum/i,
    eifkit: 'OCI_TAR_CHECKSUM',
  },
  {
    id: 'dotdot-name',
    what: 'member named ../../x',
    archive: () => one([file('../../x', 'dotdot')]),
    docker: 'accepts',
    eifkit: 'ok',
    warns: /"\.\.\/\.\.\/x".*Docker maps it to "x"/,
  },
  {
    id: 'absolute-name',
    what: 'member named /x',
    archive: () => one([file('/x', 'abs')]),
    docker: 'accepts',
    eifkit: 'ok',
    warns: /"\/x".*Docker maps it to "x"/,
  },
  {
    id: 'duplicate',
    what: 'the same file twice in one layer (other content, other mode)',
    archive: () => one([file('a', 'first', { mode: 0o600 }), file('a', 'second', { mode: 0o640 })]),
    docker: 'refuses',
    dockerSays: /duplicates of file paths/,
    eifkit: 'OCI_TAR_DUPLICATE',
  },
  {
    id: 'truncated',
    what: 'layer cut in the middle of a member',
    archive: () => one([file('a', 'x'.repeat(1000), { writtenData: bytes('x'.repeat(300)), noPadding: true })], { end: false }),
    docker: 'refuses',
    dockerSays: /unexpected EOF/i,
    eifkit: 'OCI_TAR_TRUNCATED',
  },
  {
    id: 'no-end-blocks',
    what: 'layer without the two zero blocks at the end',
    archive: () => one([file('a', 'complete')], { end: false }),
    docker: 'accepts',
    eifkit: 'ok',
  },
  {
    id: 'huge-size',
    what: 'a base-256 size field of 2^60 bytes (data absent)',
    archive: () => one([file('a', '', { declaredSize: 2 ** 60, writtenData: bytes('data') })]),
    docker: 'refuses',
    eifkit: 'OCI_TAR_SIZE',
  },
  {
    id: 'huge-pax',
    what: 'a 2 MiB PAX header',
    archive: () => one([file('a', 'x', { pax: { comment: 'c'.repeat(2 << 20) } })]),
    docker: 'refuses',
    eifkit: 'OCI_TAR_META_TOO_LARGE',
  },
  {
    id: 'pax-size-over-4gib',
    what: 'PAX size 5 GiB (a file over 4 GiB) with the data cut short',
    archive: () => one([file('big', '', { pax: { size: String(5 * 2 ** 30) }, writtenData: zeros.subarray(0, 1 << 20) })]),
    docker: 'refuses',
    eifkit: 'OCI_TAR_TRUNCATED',
  },
  {
    id: 'size-under',
    what: 'declared size 10, 700 bytes of data follow',
    archive: () => one([file('a', 'A'.repeat(700), { declaredSize: 10 }), file('b')]),
    docker: 'refuses',
    eifkit: 'OCI_TAR_CHECKSUM',
  },
  {
    id: 'size-over',
    what: 'declared size 100000, 20 bytes of data and the archive ends',
    archive: () => one([file('a', 'A'.repeat(20), { declaredSize: 100_000 })]),
    docker: 'refuses',
    eifkit: 'OCI_TAR_TRUNCATED',
  },
  {
    id: 'not-tar',
    what: 'a layer of random-looking bytes',
    archive: () => dockerArchive({ layers: [bytes('this is not a tar archive\n'.repeat(100))] }),
    docker: 'refuses',
    eifkit: 'OCI_LAYER_NOT_TAR',
  },
  {
    id: 'gzip-not-tar',
    what: 'a gzip layer whose contents are not a tar',
    archive: () => {
      const l = gzipSync(bytes('not a tar '.repeat(100)));
      return dockerArchive({ layers: [l] });
    },
    docker: 'refuses',
    eifkit: 'OCI_LAYER_NOT_TAR',
  },
  {
    id: 'diff-id-mismatch',
    what: "a layer whose sha256 is not the config's diff_id",
    archive: () => dockerArchive({ layers: [tarOf([file('a')])], diffIds: [`sha256:${'0'.repeat(64)}`] }),
    docker: 'refuses',
    eifkit: 'OCI_DIGEST_MISMATCH',
  },
  {
    id: 'missing-config',
    what: 'manifest.json names a config the archive lacks',
    archive: () => dockerArchive({ layers: [tarOf([file('a')])], omitConfig: true }),
    docker: 'refuses',
    eifkit: 'OCI_BLOB_MISSING',
  },
  {
    id: 'missing-layer',
    what: 'manifest.json names a layer the archive lacks',
    archive: () => dockerArchive({ layers: [tarOf([file('a')])], omitLayer: 0 }),
    docker: 'refuses',
    eifkit: 'OCI_BLOB_MISSING',
  },
  {
    id: 'arch-s390x',
    what: 'architecture s390x',
    archive: () => dockerArchive({ layers: [tarOf([file('a')])], config: { architecture: 's390x' } }),
    docker: 'accepts',
    eifkit: 'OCI_ARCH_UNSUPPORTED',
    why: 'nitro-cli refuses any architecture but amd64/arm64 (UnsupportedArchError); Docker loads it',
  },
  {
    id: 'negative-mtime',
    what: 'a file with PAX mtime -86400 (1969)',
    archive: () => one([file('old', 'old', { mtime: -86400 })]),
    docker: 'accepts',
    eifkit: 'ok',
  },
  {
    id: 'duplicate-dotslash',
    what: 'a and ./a in one layer',
    archive: () => one([file('a', '1'), file('./a', '2')]),
    docker: 'refuses',
    dockerSays: /duplicates of file paths/,
    eifkit: 'OCI_TAR_DUPLICATE',
  },
  {
    id: 'duplicate-dir-slash',
    what: 'd and d/ in one layer',
    archive: () => one([dir('d'), dir('d/', { mode: 0o700 })]),
    docker: 'refuses',
    dockerSays: /duplicates of file paths/,
    eifkit: 'OCI_TAR_DUPLICATE',
  },
  {
    id: 'absolute-and-plain',
    what: '/x and x in one layer (tar-split compares cleaned raw names: not duplicates)',
    archive: () => one([file('/x', 'abs', { mode: 0o600 }), file('x', 'plain', { mode: 0o640 })]),
    docker: 'accepts',
    eifkit: 'ok',
    warns: /Docker maps it/,
  },
  {
    id: 'link-dotdot-inside',
    what: 'hard links ../../etc/passwd and /etc/passwd to a file of the same layer',
    archive: () => one([file('etc/passwd', 'root'), { name: 'b', type: '1', linkname: '../../etc/passwd' }, { name: 'c', type: '1', linkname: '/etc/passwd' }]),
    docker: 'accepts',
    eifkit: 'ok',
    warns: /hard link "b" targets "\.\.\/\.\.\/etc\/passwd".*Docker maps it to "etc\/passwd"/,
  },
  {
    id: 'symlink-negative-mtime',
    what: 'a symlink with PAX mtime -7 (lutimes keeps it)',
    archive: () => one([file('f'), { name: 'l', type: '2', linkname: 'f', mtime: -7 }]),
    docker: 'accepts',
    eifkit: 'ok',
    buildWarns: /before 1970|negative/i,
  },
  {
    id: 'mtime-after-2262',
    what: 'a file with mtime 2^40 (Chtimes maps it to 0) and one with 2^33 (kept)',
    archive: () => one([file('far', 'x', { mtime: 2 ** 40 }), file('near', 'y', { mtime: 2 ** 33 })]),
    docker: 'accepts',
    eifkit: 'ok',
    build: 'OCI_MTIME_OUT_OF_RANGE',
    why: 'the kept 2^33 time does not fit the cpio\'s 8 hex digits: nitro-cli would write a broken ramdisk, eifkit refuses',
  },
  {
    id: 'no-cmd',
    what: 'an image with neither CMD nor ENTRYPOINT',
    archive: () => dockerArchive({ layers: [tarOf([file('a')])], config: { config: { Env: ['A=1'] } } }),
    docker: 'accepts',
    eifkit: 'OCI_NO_ENTRYPOINT',
    why: 'nitro-cli refuses an image with neither Cmd nor Entrypoint (UnsupportedEntryPoint); Docker loads it',
  },
  {
    id: 'whiteouts',
    what: 'whiteouts of a file, a directory and nothing; an opaque directory with a new file; an opaque marker alone',
    archive: () =>
      dockerArchive({
        layers: [
          tarOf([dir('w/'), file('w/a'), file('w/b'), dir('w/d/'), file('w/d/x'), file('w/keep'), dir('o/'), file('o/1'), dir('o/sub/'), file('o/sub/2')]),
          tarOf([dir('w/', { mtime: T1 }), file('w/.wh.a'), file('w/.wh.d'), file('w/.wh.nothing'), dir('o/', { mode: 0o700 }), file('o/.wh..wh..opq'), file('o/3'), dir('n/'), file('n/.wh..wh..opq')]),
        ],
      }),
    docker: 'accepts',
    eifkit: 'ok',
  },
  {
    id: 'file-then-whiteout',
    what: 'a file and then its own whiteout in the same layer',
    archive: () => dockerArchive({ layers: [tarOf([dir('w/'), file('w/a')]), tarOf([dir('w/'), file('w/b'), file('w/.wh.b')])] }),
    docker: 'refuses',
    dockerSays: /failed to mknod\("\/w\/b", S_IFCHR, 0\): file exists/,
    eifkit: 'OCI_WHITEOUT_CONFLICT',
  },
  {
    id: 'dir-then-whiteout',
    what: 'a directory and then its own whiteout in the same layer',
    archive: () => dockerArchive({ layers: [tarOf([dir('w/'), file('w/a')]), tarOf([dir('w/'), dir('w/d/'), file('w/.wh.d')])] }),
    docker: 'refuses',
    dockerSays: /failed to mknod\("\/w\/d", S_IFCHR, 0\): file exists/,
    eifkit: 'OCI_WHITEOUT_CONFLICT',
  },
  {
    id: 'whiteout-then-file',
    what: 'a whiteout and then a file of that name in the same layer',
    archive: () => dockerArchive({ layers: [tarOf([dir('w/'), file('w/a')]), tarOf([dir('w/'), file('w/.wh.a'), file('w/a', 'readded', { mode: 0o600 })])] }),
    docker: 'accepts',
    eifkit: 'ok',
  },
  {
    id: 'whiteout-then-dir',
    what: "a directory's whiteout and then the directory in the same layer (the whiteout is replaced: lower contents show)",
    archive: () => dockerArchive({ layers: [tarOf([dir('w/'), dir('w/d/'), file('w/d/lower')]), tarOf([dir('w/'), file('w/.wh.d'), dir('w/d/', { mode: 0o700 }), file('w/d/upper')])] }),
    docker: 'accepts',
    eifkit: 'ok',
  },
  {
    id: 'opaque-after-files',
    what: "an opaque marker after the directory's new files in the same layer (hides only lower layers)",
    archive: () => dockerArchive({ layers: [tarOf([dir('o/'), file('o/1')]), tarOf([dir('o/'), file('o/2'), file('o/.wh..wh..opq')])] }),
    docker: 'accepts',
    eifkit: 'ok',
  },
  {
    id: 'whiteout-no-parent',
    what: 'a whiteout in a directory no layer has (Docker makes the directory at load time)',
    archive: () => dockerArchive({ layers: [tarOf([file('top')]), tarOf([file('ghost/.wh.x')])] }),
    docker: 'accepts',
    eifkit: 'ok',
    warns: /not reproducible.*ghost\//,
    daemonTime: /^ghost\/$/,
  },
  {
    id: 'whiteout-dir-readded',
    what: 'a directory whited out, then made again with other contents by a later layer',
    archive: () => dockerArchive({ layers: [tarOf([dir('a/'), dir('a/b/'), file('a/b/c')]), tarOf([dir('a/'), file('a/.wh.b')]), tarOf([dir('a/'), dir('a/b/'), file('a/b/new')])] }),
    docker: 'accepts',
    eifkit: 'ok',
  },
  {
    id: 'whiteout-in-lowest',
    what: 'a whiteout in the bottom layer (hides nothing)',
    archive: () => one([file('x'), file('.wh.y')]),
    docker: 'accepts',
    eifkit: 'ok',
  },
  {
    id: 'whiteout-as-dir-and-symlink',
    what: 'whiteouts written as a directory entry and as a symlink (Docker goes by the name alone)',
    archive: () => dockerArchive({ layers: [tarOf([dir('w/'), file('w/a'), file('w/b')]), tarOf([dir('w/'), dir('w/.wh.a'), { name: 'w/.wh.b', type: '2', linkname: 'zzz' }])] }),
    docker: 'accepts',
    eifkit: 'ok',
  },
  {
    id: 'whiteout-of-link-target',
    what: "a whiteout of a hard link group's first path (the other path keeps the data and the last header's attributes)",
    archive: () => dockerArchive({ layers: [tarOf([file('a', 'data', { mtime: T1 }), { name: 'b', type: '1', linkname: 'a', mode: 0o600 }]), tarOf([file('.wh.a')])] }),
    docker: 'accepts',
    eifkit: 'ok',
  },
  {
    id: 'gzip-bomb',
    what: 'a 128 MiB layer of zeros as a 128 KiB gzip stream (two members)',
    archive: () => {
      const member = gzipSync(zeros, { level: 9 });
      const layer = concat(Array.from({ length: 2 }, () => member));
      return dockerArchive({ layers: [layer], diffIds: [`sha256:${zerosDigest(2 * zeros.length)}`] });
    },
    docker: 'accepts',
    eifkit: 'ok',
  },
];

function zerosDigest(n: number): string {
  const h = createHash('sha256');
  for (let left = n; left > 0; left -= zeros.length) h.update(zeros.subarray(0, Math.min(left, zeros.length)));
  return h.digest('hex');
}

