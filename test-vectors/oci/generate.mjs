#!/usr/bin/env node
// Generator for eifkit's own container-image vectors. Run: node test-vectors/oci/generate.mjs
//
// Writes a deterministic `docker save` archive (legacy layout: manifest.json, <id>.json, <sha>/layer.tar) whose
// three layers exercise the overlay, init-layer, hard-link and naming rules of shared oci-build.md §1.3, and
// rootfs-cases.expected.json: the `docker export` listing of a container created from it (at CREATED), typed BY
// HAND below from the rules — not computed by eifkit — plus the nitro-cli cmd/env files. Its own naive tar writer
// (ustar + PAX `path`), node:crypto only; file bytes are SHA-256 in counter mode over a label.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const T = 1700000000; // layer times
const CREATED = 1800000000; // container creation time the expected listing assumes

function prng(label, n) {
  const out = Buffer.alloc(n);
  for (let i = 0, block = 0; i < n; block++, i += 32) createHash('sha256').update(`${label}:${block}`).digest().copy(out, i, 0, Math.min(32, n - i));
  return out;
}
const sha256 = (b) => createHash('sha256').update(b).digest('hex');

// ---- naive tar writer -------------------------------------------------------------------------------------------
const TYPE = { file: '0', hard: '1', sym: '2', char: '3', dir: '5', fifo: '6', pax: 'x' };
function octal(n, width) {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}
function header(name, { type = 'file', mode = 0o644, uid = 0, gid = 0, size = 0, mtime = T, link = '', major = 0, minor = 0 }) {
  const h = Buffer.alloc(512);
  Buffer.from(name, 'latin1').copy(h, 0, 0, 100);
  h.write(octal(mode, 8), 100, 'latin1');
  h.write(octal(uid, 8), 108, 'latin1');
  h.write(octal(gid, 8), 116, 'latin1');
  h.write(octal(size, 12), 124, 'latin1');
  h.write(octal(mtime, 12), 136, 'latin1');
  h.write('        ', 148, 'latin1');
  h.write(TYPE[type], 156, 'latin1');
  Buffer.from(link, 'latin1').copy(h, 157, 0, 100);
  h.write('ustar\0' + '00', 257, 'latin1');
  h.write(octal(major, 8), 329, 'latin1');
  h.write(octal(minor, 8), 337, 'latin1');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return h;
}
const pad512 = (b) => Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
function paxRecord(key, value) {
  const body = ` ${key}=${value}\n`;
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.from(len + body, 'latin1');
}
/** entries: [name, {type, mode, uid, gid, data, link, ...}] */
function tar(entries) {
  const parts = [];
  for (const [name, o] of entries) {
    const data = o.data ?? Buffer.alloc(0);
    let short = name;
    if (Buffer.byteLength(name, 'latin1') > 100) {
      const pax = paxRecord('path', name);
      parts.push(header('PaxHeaders/long', { type: 'pax', size: pax.length }), pad512(pax));
      short = name.slice(0, 99);
    }
    parts.push(header(short, { ...o, size: data.length }), pad512(data));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

// ---- the image ----------------------------------------------------------------------------------------------------
const D = {
  busybox: prng('busybox', 5000), passwd: Buffer.from('root:x:0:0:root:/root:/bin/sh\n'), hosts: Buffer.from('10.0.0.1 image\n'),
  libc: prng('libc', 3000), old: Buffer.from('old'), conf1: Buffer.from('v1\n'), gone: Buffer.from('gone'), inner: Buffer.from('inner'),
  cache: Buffer.from('cache file'), conf3: Buffer.from('v3\n'), server: prng('server', 7000), su: prng('su', 100), wall: prng('wall', 90),
  deep: Buffer.from('deep file'), latin: Buffer.from('latin-1 name'), utf8: Buffer.from('utf-8 name'), ab: Buffer.from('ab'), ac: Buffer.from('a-c'), a0: Buffer.from('a0'),
  data: Buffer.from('srv data file'), c: Buffer.from('opaque c'),
};
const LONG_DIR = 'deep/' + 'd'.repeat(60);
const LONG = LONG_DIR + '/' + 'f'.repeat(80); // 146 bytes: a PAX path
const dir = (mode = 0o755, o = {}) => ({ type: 'dir', mode, ...o });

const L1 = [
  ['a/', dir()], ['a/b', { data: D.ab }], ['a-c', { data: D.ac }], ['a0', { data: D.a0 }],
  ['bin/', dir()], ['bin/busybox', { mode: 0o755, data: D.busybox }],
  ['bin/sh', { type: 'hard', link: 'bin/busybox', mode: 0o755 }], ['bin/ash', { type: 'hard', link: 'bin/busybox', mode: 0o755 }],
  ['caf\xe9', { data: D.latin }], ['caf\xc3\xa9', { data: D.utf8 }],
  ['deep/', dir()], [LONG_DIR + '/', dir()], [LONG, { data: D.deep }],
  ['dev/', dir()], ['dev/null', { type: 'char', mode: 0o666, major: 1, minor: 3 }],
  ['etc/', dir()], ['etc/hosts', { data: D.hosts }], ['etc/mtab', { type: 'sym', mode: 0o777, link: '../proc/self/mounts' }], ['etc/passwd', { data: D.passwd }],
  ['lib/', dir()], ['lib/libc.so.6', { mode: 0o755, data: D.libc }], ['lib/libc.so', { type: 'sym', mode: 0o777, link: 'libc.so.6' }],
  ['lib/abs', { type: 'sym', mode: 0o777, link: '/lib/libc.so.6' }], ['lib/dangling', { type: 'sym', mode: 0o777, link: '/nowhere' }],
  ['opt/', dir()], ['opt/old/', dir()], ['opt/old/a', { data: D.old }], ['opt/old/b', { data: D.old }], ['opt/gone', { data: D.gone }], ['opt/conf', { data: D.conf1 }],
  ['proc/', dir(0o555, { mtime: T - 100 })],
  ['run/', dir()], ['run/ctl', { type: 'fifo', mode: 0o600 }],
  ['srv/', dir()], ['srv/data', { data: D.data }],
  ['tmp/', dir(0o1777)],
  ['usr/', dir()], ['usr/bin/', dir()], ['usr/bin/su', { mode: 0o4755, data: D.su }], ['usr/bin/wall', { mode: 0o2755, gid: 5, data: D.wall }],
  ['usr/sbin/', dir()], ['usr/sbin/busybox-link', { type: 'hard', link: 'bin/busybox', mode: 0o755 }],
  ['var/', dir()], ['var/cache/', dir()], ['var/cache/x', { data: D.old }],
];
const L2 = [
  ['opt/', dir(0o700, { uid: 1, mtime: T + 10 })], ['opt/.wh.gone', {}], ['opt/.wh.conf', {}],
  ['opt/old/', dir(0o711, { mtime: T + 10 })], ['opt/old/.wh..wh..opq', {}], ['opt/old/c', { data: D.c }],
  ['srv/', dir()], ['srv/data/', dir(0o750)], ['srv/data/inner', { data: D.inner }],
  ['var/', dir()], ['var/cache', { data: D.cache }],
];
const L3 = [
  ['opt/', dir(0o750, { uid: 2, gid: 2, mtime: T + 20 })], ['opt/conf', { mode: 0o600, uid: 3, data: D.conf3 }],
  ['app/', dir(0o755, { uid: 10001, gid: 10001 })], ['app/server', { mode: 0o750, uid: 10001, gid: 10001, data: D.server }],
  ['app/bin/', dir()], ['app/bin/server', { type: 'hard', link: 'app/server', mode: 0o750, uid: 10001, gid: 10001 }],
];
const config = {
  Cmd: ['/app/server', '--port', '8000'], Entrypoint: ['/bin/sh', '-c'], Env: ['PATH=/usr/bin:/bin', 'GREETING=hello world', 'EQ=a=b'], WorkingDir: '/opt',
};

// ---- the expected `docker export`, by hand (walk order; see the rules in the header comment) --------------------
// [name, type, mode, uid, gid, mtime, data label | null, linkname, devmajor, devminor]
const E = (name, type, mode, uid, gid, mtime, data = null, link = '', major = 0, minor = 0) => ({ name, type, mode: mode.toString(8), uid, gid, mtime, data, linkname: link, devmajor: major, devminor: minor });
const C = CREATED;
const expected = [
  E('.dockerenv', 'file', 0o755, 0, 0, C, 'empty'),
  E('a/', 'dir', 0o755, 0, 0, T), E('a/b', 'file', 0o644, 0, 0, T, 'ab'),
  E('a-c', 'file', 0o644, 0, 0, T, 'ac'), E('a0', 'file', 0o644, 0, 0, T, 'a0'),
  E('app/', 'dir', 0o755, 10001, 10001, T), E('app/bin/', 'dir', 0o755, 0, 0, T),
  E('app/bin/server', 'file', 0o750, 10001, 10001, T, 'server'), E('app/server', 'hardlink', 0o750, 10001, 10001, T, null, 'app/bin/server'),
  E('bin/', 'dir', 0o755, 0, 0, T), E('bin/ash', 'file', 0o755, 0, 0, T, 'busybox'),
  E('bin/busybox', 'hardlink', 0o755, 0, 0, T, null, 'bin/ash'), E('bin/sh', 'hardlink', 0o755, 0, 0, T, null, 'bin/ash'),
  E('caf\xc3\xa9', 'file', 0o644, 0, 0, T, 'utf8'), E('caf\xe9', 'file', 0o644, 0, 0, T, 'latin'),
  E('deep/', 'dir', 0o755, 0, 0, T), E(LONG_DIR + '/', 'dir', 0o755, 0, 0, T), E(LONG, 'file', 0o644, 0, 0, T, 'deep'),
  E('dev/', 'dir', 0o755, 0, 0, C), E('dev/console', 'file', 0o755, 0, 0, C, 'empty'), E('dev/null', 'char', 0o666, 0, 0, T, null, '', 1, 3),
  E('dev/pts/', 'dir', 0o755, 0, 0, C), E('dev/shm/', 'dir', 0o755, 0, 0, C),
  E('etc/', 'dir', 0o755, 0, 0, C), E('etc/hostname', 'file', 0o755, 0, 0, C, 'empty'), E('etc/hosts', 'file', 0o755, 0, 0, C, 'empty'),
  E('etc/mtab', 'symlink', 0o777, 0, 0, C, null, '/proc/mounts'), E('etc/passwd', 'file', 0o644, 0, 0, T, 'passwd'),
  E('etc/resolv.conf', 'file', 0o755, 0, 0, C, 'empty'),
  E('lib/', 'dir', 0o755, 0, 0, T), E('lib/abs', 'symlink', 0o777, 0, 0, T, null, '/lib/libc.so.6'),
  E('lib/dangling', 'symlink', 0o777, 0, 0, T, null, '/nowhere'), E('lib/libc.so', 'symlink', 0o777, 0, 0, T, null, 'libc.so.6'),
  E('lib/libc.so.6', 'file', 0o755, 0, 0, T, 'libc'),
  E('opt/', 'dir', 0o750, 2, 2, T + 20), E('opt/conf', 'file', 0o600, 3, 0, T, 'conf3'),
  E('opt/old/', 'dir', 0o711, 0, 0, T + 10), E('opt/old/c', 'file', 0o644, 0, 0, T, 'c'),
  E('proc/', 'dir', 0o555, 0, 0, T - 100),
  E('run/', 'dir', 0o755, 0, 0, T), E('run/ctl', 'fifo', 0o600, 0, 0, T),
  E('srv/', 'dir', 0o755, 0, 0, T), E('srv/data/', 'dir', 0o750, 0, 0, T), E('srv/data/inner', 'file', 0o644, 0, 0, T, 'inner'),
  E('sys/', 'dir', 0o755, 0, 0, C),
  E('tmp/', 'dir', 0o1777, 0, 0, T),
  E('usr/', 'dir', 0o755, 0, 0, T), E('usr/bin/', 'dir', 0o755, 0, 0, T), E('usr/bin/su', 'file', 0o4755, 0, 0, T, 'su'),
  E('usr/bin/wall', 'file', 0o2755, 0, 5, T, 'wall'), E('usr/sbin/', 'dir', 0o755, 0, 0, T),
  E('usr/sbin/busybox-link', 'hardlink', 0o755, 0, 0, T, null, 'bin/ash'),
  E('var/', 'dir', 0o755, 0, 0, T), E('var/cache', 'file', 0o644, 0, 0, T, 'cache'),
];
const dataOf = (label) => (label === 'empty' ? Buffer.alloc(0) : D[label]);
for (const e of expected) {
  if (e.data === null) continue;
  const b = dataOf(e.data);
  e.size = b.length;
  e.sha256 = sha256(b);
  delete e.data;
}
for (const e of expected) if ('data' in e) { delete e.data; e.size = 0; }

// ---- docker save -------------------------------------------------------------------------------------------------
const layers = [L1, L2, L3].map(tar);
const diffIds = layers.map((l) => 'sha256:' + sha256(l));
const configJson = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', created: '2023-11-14T22:13:20Z', config, rootfs: { type: 'layers', diff_ids: diffIds } }));
const configName = sha256(configJson) + '.json';
const members = [[configName, configJson]];
const layerNames = layers.map((l) => sha256(l) + '/layer.tar');
layers.forEach((l, i) => members.push([layerNames[i], l]));
members.push(['manifest.json', Buffer.from(JSON.stringify([{ Config: configName, RepoTags: ['rootfs-cases:1'], Layers: layerNames }]))]);
const archive = tar(members.map(([n, b]) => [n, { data: b }]));

writeFileSync(join(here, 'rootfs-cases.docker-archive.tar'), archive);
const toJsonName = (s) => Buffer.from(s, 'latin1').toString('base64');
writeFileSync(
  join(here, 'rootfs-cases.expected.json'),
  JSON.stringify(
    {
      _about: 'docker export of `docker create rootfs-cases:1` at createdAt, typed by hand from shared oci-build.md §1.3 (names as base64 of their bytes); cmd/env as nitro-cli writes them',
      createdAt: CREATED,
      workdir: config.WorkingDir,
      cmd: config.Cmd.map((l) => l + '\n').join(''),
      env: config.Env.map((l) => l + '\n').join(''),
      export: expected.map((e) => ({ ...e, name: toJsonName(e.name), linkname: toJsonName(e.linkname) })),
    },
    null,
    1,
  ) + '\n',
);
console.log(`wrote rootfs-cases.docker-archive.tar (${archive.length} bytes) and rootfs-cases.expected.json (${expected.length} entries)`);
