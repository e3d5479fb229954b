/**
 * Hostile image archives checked against the real Docker daemon (issue 11 "Bad input"; shared docs/oci-build.md
 * "Real components"). Each case is a hand-made `docker save` archive (test/helpers/tar-craft.ts) that breaks one
 * rule. The test first asks a private Docker 20.10 (`docker load`) what it does with the archive and asserts that
 * this is what the table records (so a daemon that behaves differently shows up here), then asserts eifkit's side.
 */
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeDocker, startPrivateDocker, type PrivateDocker } from '../helpers/docker.js';
import { bytes, concat, dockerArchive, sha256hex, tarOf, type CraftEntry } from '../helpers/tar-craft.js';

const dk = await startPrivateDocker();
afterAll(() => dk.docker?.stop());

const file = (name: string | Uint8Array, data = 'x', extra: Partial<CraftEntry> = {}): CraftEntry => ({ name, data, ...extra });
const dir = (name: string, extra: Partial<CraftEntry> = {}): CraftEntry => ({ name, type: '5', mode: 0o755, ...extra });
const one = (entries: CraftEntry[], opts: { end?: boolean } = {}) => dockerArchive({ layers: [tarOf(entries, opts)] });

/** What `docker load` does: 'accepts' (and the image loads) or 'refuses' (exit ≠ 0). */
type DockerVerdict = 'accepts' | 'refuses';

export interface HostileCase {
  id: string;
  what: string;
  archive: () => Uint8Array;
  docker: DockerVerdict;
  /** Words of Docker's refusal, to be sure it refused for this reason. */
  dockerSays?: RegExp;
}

const zeros = new Uint8Array(64 << 20);

export const CASES: HostileCase[] = [
  {
    id: 'link-missing',
    what: 'hard link to a name no layer has',
    archive: () => one([file('a'), { name: 'b', type: '1', linkname: 'nope' }]),
    docker: 'refuses',
    dockerSays: /no such file|not found/i,
  },
  {
    id: 'link-outside',
    what: 'hard link to ../../etc/passwd',
    archive: () => one([file('a'), { name: 'b', type: '1', linkname: '../../etc/passwd' }]),
    docker: 'refuses',
    dockerSays: /invalid hardlink|breakout|outside/i,
  },
  {
    id: 'link-lower-layer',
    what: "hard link to a lower layer's file",
    archive: () => dockerArchive({ layers: [tarOf([file('a')]), tarOf([{ name: 'b', type: '1', linkname: 'a' }])] }),
    docker: 'refuses',
  },
  {
    id: 'link-to-dir',
    what: 'hard link to a directory',
    archive: () => one([dir('d'), { name: 'b', type: '1', linkname: 'd' }]),
    docker: 'refuses',
  },
  {
    id: 'bad-checksum',
    what: 'a member header with a wrong checksum',
    archive: () => one([file('a'), file('b', 'y', { badChecksum: true })]),
    docker: 'refuses',
    dockerSays: /invalid tar header|checksum/i,
  },
  {
    id: 'dotdot-name',
    what: 'member named ../../x',
    archive: () => one([file('../../x', 'dotdot')]),
    docker: 'accepts',
  },
  {
    id: 'absolute-name',
    what: 'member named /x',
    archive: () => one([file('/x', 'abs')]),
    docker: 'accepts',
  },
  {
    id: 'duplicate',
    what: 'the same file twice in one layer (other content, other mode)',
    archive: () => one([file('a', 'first', { mode: 0o600 }), file('a', 'second', { mode: 0o640 })]),
    docker: 'accepts',
  },
  {
    id: 'truncated',
    what: 'layer cut in the middle of a member',
    archive: () => one([file('a', 'x'.repeat(1000), { writtenData: bytes('x'.repeat(300)), noPadding: true })], { end: false }),
    docker: 'refuses',
    dockerSays: /unexpected EOF/i,
  },
  {
    id: 'no-end-blocks',
    what: 'layer without the two zero blocks at the end',
    archive: () => one([file('a', 'complete')], { end: false }),
    docker: 'accepts',
  },
  {
    id: 'huge-size',
    what: 'a base-256 size field of 2^60 bytes (data absent)',
    archive: () => one([file('a', '', { declaredSize: 2 ** 60, writtenData: bytes('data') })]),
    docker: 'refuses',
  },
  {
    id: 'huge-pax',
    what: 'a 2 MiB PAX header',
    archive: () => one([file('a', 'x', { pax: { comment: 'c'.repeat(2 << 20) } })]),
    docker: 'refuses',
  },
  {
    id: 'pax-size-over-4gib',
    what: 'PAX size 5 GiB (a file over 4 GiB) with the data cut short',
    archive: () => one([file('big', '', { pax: { size: String(5 * 2 ** 30) }, writtenData: zeros.subarray(0, 1 << 20) })]),
    docker: 'refuses',
  },
  {
    id: 'size-under',
    what: 'declared size 10, 700 bytes of data follow',
    archive: () => one([file('a', 'A'.repeat(700), { declaredSize: 10 }), file('b')]),
    docker: 'refuses',
  },
  {
    id: 'size-over',
    what: 'declared size 100000, 20 bytes of data and the archive ends',
    archive: () => one([file('a', 'A'.repeat(20), { declaredSize: 100_000 })]),
    docker: 'refuses',
  },
  {
    id: 'not-tar',
    what: 'a layer of random-looking bytes',
    archive: () => dockerArchive({ layers: [bytes('this is not a tar archive\n'.repeat(100))] }),
    docker: 'refuses',
  },
  {
    id: 'gzip-not-tar',
    what: 'a gzip layer whose contents are not a tar',
    archive: () => {
      const l = gzipSync(bytes('not a tar '.repeat(100)));
      return dockerArchive({ layers: [l] });
    },
    docker: 'refuses',
  },
  {
    id: 'diff-id-mismatch',
    what: "a layer whose sha256 is not the config's diff_id",
    archive: () => dockerArchive({ layers: [tarOf([file('a')])], diffIds: [`sha256:${'0'.repeat(64)}`] }),
    docker: 'refuses',
  },
  {
    id: 'missing-config',
    what: 'manifest.json names a config the archive lacks',
    archive: () => dockerArchive({ layers: [tarOf([file('a')])], omitConfig: true }),
    docker: 'refuses',
  },
  {
    id: 'missing-layer',
    what: 'manifest.json names a layer the archive lacks',
    archive: () => dockerArchive({ layers: [tarOf([file('a')])], omitLayer: 0 }),
    docker: 'refuses',
  },
  {
    id: 'arch-s390x',
    what: 'architecture s390x',
    archive: () => dockerArchive({ layers: [tarOf([file('a')])], config: { architecture: 's390x' } }),
    docker: 'accepts',
  },
  {
    id: 'negative-mtime',
    what: 'a file with PAX mtime -86400 (1969)',
    archive: () => one([file('old', 'old', { mtime: -86400 })]),
    docker: 'accepts',
  },
  {
    id: 'gzip-bomb',
    what: 'a 512 MiB layer of zeros as a 0.5 MiB gzip stream (multi-member)',
    archive: () => {
      const member = gzipSync(zeros, { level: 9 });
      const layer = concat(Array.from({ length: 8 }, () => member));
      return dockerArchive({ layers: [layer], diffIds: [`sha256:${zerosDigest(8 * zeros.length)}`] });
    },
    docker: 'accepts',
  },
];

function zerosDigest(n: number): string {
  const { createHash } = require('node:crypto') as typeof import('node:crypto');
  const h = createHash('sha256');
  for (let left = n; left > 0; left -= zeros.length) h.update(zeros.subarray(0, Math.min(left, zeros.length)));
  return h.digest('hex');
}

describeDocker(dk, 'hostile archives: what docker load does (Docker 20.10, overlay2)', (docker: PrivateDocker) => {
  const seen = new Map<string, { status: number | null; stderr: string }>();
  beforeAll(() => {
    for (const c of CASES) {
      const r = docker.run(['load', '-q'], { input: c.archive() });
      seen.set(c.id, { status: r.status, stderr: r.stderr.trim() });
      console.log(`${c.id}: ${r.status === 0 ? 'accepts' : 'refuses'} ${r.stderr.trim().slice(0, 200)}`);
    }
  });
  for (const c of CASES) {
    it(`${c.id}: ${c.what} — Docker ${c.docker}`, () => {
      const r = seen.get(c.id)!;
      expect(r.status === 0 ? 'accepts' : 'refuses', r.stderr).toBe(c.docker);
      if (c.dockerSays) expect(r.stderr).toMatch(c.dockerSays);
    });
  }
});
