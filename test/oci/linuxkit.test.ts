/**
 * linuxkit's rules on the export stream and nitro-cli's YAML files (shared oci-build.md §1.1 YAML, §1.3 ImageTar
 * steps 1–6, "Observed in linuxkit's own output"), Go's filepath.Rel, and the bootstrap ramdisk against bytes
 * written by hand.
 */
import { describe, expect, it } from 'vitest';
import { dockerExport } from '../../src/oci/docker-export.js';
import { bootstrapRamdisk, cpioEntriesOfTar, customerRamdiskWithWarnings, goClean, goDir, goRel, linuxkitCustomerTar, LINUXKIT_HOSTS } from '../../src/oci/linuxkit.js';
import { imageRamdisks } from '../../src/oci/index.js';
import { readCpio } from '../../src/eif/cpio.js';
import { bytesSource, type ByteSource } from '../../src/eif/layout.js';
import { EifError } from '../../src/errors.js';
import type { ExportEntry, ImageSelection } from '../../src/oci/types.js';
import { fakeLayers, T } from './helpers/fake-layers.js';

const LK = 1492533000;
const C = 1_800_000_000;
const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
async function all(src: ByteSource): Promise<Uint8Array> {
  return new Uint8Array(await src.read(0, src.size));
}
const exp = (e: Partial<ExportEntry> & { name: string }): ExportEntry => ({ type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: T, size: 0, linkname: '', devmajor: 0, devminor: 0, ...e });

describe('Go filepath (Unix) ports', () => {
  it('Clean and Dir', () => {
    expect(goClean('')).toBe('.');
    expect(goClean('a//b/./c/..')).toBe('a/b');
    expect(goClean('/../x')).toBe('/x');
    expect(goClean('../../x')).toBe('../../x');
    expect(goDir('rootfs/app/server')).toBe('rootfs/app');
    expect(goDir('server')).toBe('.');
    expect(goDir('/x')).toBe('/');
  });
  it('Rel as Go answers', () => {
    expect(goRel('rootfs/app', 'rootfs/app/bin/server')).toBe('bin/server');
    expect(goRel('rootfs/usr/bin', 'rootfs/lib/x')).toBe('../../lib/x');
    expect(goRel('rootfs/bin', 'rootfs/lib/x')).toBe('../lib/x');
    expect(goRel('rootfs/a/b/c', 'rootfs/x')).toBe('../../../x');
    expect(goRel('a/b', 'a/b')).toBe('.');
    expect(goRel('.', 'a/b')).toBe('a/b');
    expect(goRel('a', 'ab/c')).toBe('../ab/c');
    expect(goRel('a/..', 'b')).toBe('b');
    expect(goRel('../a', 'b')).toBeUndefined();
    expect(goRel('/a', 'b')).toBeUndefined();
  });
});

describe('linuxkit ImageTar + nitro-cli files', () => {
  const layers = fakeLayers([
    { name: 'Dockerfile', data: 'FROM x' }, { name: 'etc/' }, { name: 'etc/resolv.conf', data: 'nameserver 9.9.9.9\n', mode: 0o600 },
    { name: 'lib/' }, { name: 'lib/x', data: 'lib', mode: 0o750, uid: 10001 }, { name: 'usr/' }, { name: 'usr/bin/' },
    { name: 'usr/bin/x', type: 'hardlink', linkname: 'lib/x', mode: 0o750, uid: 10001 },
  ]);
  const exported = dockerExport(layers, { createdAt: C }).entries;
  const tar = linuxkitCustomerTar(exported, { cmd: ['/app/server', '--config', 'a b'], env: ['PATH=/usr/bin', 'MODE=x=y z'] });

  it('rootfs first, the export with excludes, then rootfs again, the YAML dirs, cmd and env', () => {
    expect(tar.map((e) => e.name)).toEqual([
      'rootfs',
      'rootfs/dev/', 'rootfs/dev/pts/', 'rootfs/dev/shm/', 'rootfs/etc/', 'rootfs/etc/hosts', 'rootfs/etc/mtab', 'rootfs/etc/resolv.conf',
      'rootfs/lib/', 'rootfs/lib/x', 'rootfs/proc/', 'rootfs/sys/', 'rootfs/usr/', 'rootfs/usr/bin/', 'rootfs/usr/bin/x',
      'rootfs', 'rootfs/dev', 'rootfs/run', 'rootfs/sys', 'rootfs/var', 'rootfs/proc', 'rootfs/tmp', 'cmd', 'env',
    ]);
  });

  it('touch names re-timed to 1492533000, dev/pts/ and dev/shm/ kept (the exclude list names them without /)', () => {
    for (const n of ['rootfs/dev/', 'rootfs/dev/pts/', 'rootfs/dev/shm/', 'rootfs/etc/', 'rootfs/etc/mtab', 'rootfs/proc/', 'rootfs/sys/']) {
      expect(tar.find((e) => e.name === n)!.mtime).toBe(LK);
    }
    expect(tar.find((e) => e.name === 'rootfs/lib/')!.mtime).toBe(T);
  });

  it('etc/hosts: the fixed 160-byte file, mode 0755 from the init layer; etc/resolv.conf: a symlink, mode kept', () => {
    expect(LINUXKIT_HOSTS.length).toBe(160);
    const hosts = tar.find((e) => e.name === 'rootfs/etc/hosts')!;
    expect(hosts).toMatchObject({ type: 'file', mode: 0o755, size: 160, mtime: LK });
    const resolv = tar.find((e) => e.name === 'rootfs/etc/resolv.conf')!;
    expect(resolv).toMatchObject({ type: 'symlink', linkname: '/run/resolvconf/resolv.conf', mode: 0o755, size: 0, mtime: LK });
  });

  it('hard link across directories → relative symlink ../../lib/x with the link\'s own mode and owner', () => {
    const { entries } = cpioEntriesOfTar(tar, layers);
    const link = entries.find((e) => e.name === 'rootfs/usr/bin/x')!;
    expect(link).toMatchObject({ mode: 0o120750, uid: 10001, size: 11, mtime: T }); // len('../../lib/x')
    expect(String.fromCharCode(...(link.data as { bytes: Uint8Array }).bytes)).toBe('../../lib/x');
  });

  it('cmd and env: one line each + "\\n", 0644, mtime 1492533000; an empty Env is an empty file', async () => {
    const layers = fakeLayers([{ name: 'bin/' }, { name: 'bin/run', data: '#!' }]);
    const { customer } = imageRamdisks(
      { architecture: 'amd64', os: 'linux', cmd: ['/bin/run', 'é'], env: [], config: {}, configDigest: '', repoTags: [], layers: [], warnings: [] } as ImageSelection,
      layers, { createdAt: C },
    );
    const entries = readCpio(await all(customer));
    const cmd = entries.find((e) => e.name === 'cmd')!;
    expect(new TextDecoder().decode(cmd.data)).toBe('/bin/run\né\n');
    expect(cmd).toMatchObject({ mode: 0o100644, mtime: LK, uid: 0 });
    expect(entries.find((e) => e.name === 'env')!.data!.length).toBe(0);
    expect(entries.at(-1)!.name).toBe('env');
  });

  it('touch entries the export lacks are appended in sorted order with image.go\'s headers', () => {
    const t = linuxkitCustomerTar([exp({ name: 'bin/', type: 'dir', mode: 0o755 })], { cmd: ['x'], env: [] });
    expect(t.slice(2, 11).map((e) => [e.name, e.type, e.mode.toString(8), e.linkname])).toEqual([
      ['rootfs/dev', 'dir', '755', ''], ['rootfs/dev/pts', 'dir', '755', ''], ['rootfs/dev/shm', 'dir', '755', ''], ['rootfs/etc', 'dir', '755', ''],
      ['rootfs/etc/hosts', 'file', '644', ''], ['rootfs/etc/mtab', 'symlink', '755', '/proc/mounts'],
      ['rootfs/etc/resolv.conf', 'symlink', '644', '/run/resolvconf/resolv.conf'], ['rootfs/proc', 'dir', '755', ''], ['rootfs/sys', 'dir', '755', ''],
    ]);
  });

  it('FIFO and devices keep their type and rdev; setuid and sticky bits reach the cpio mode', () => {
    const { entries } = cpioEntriesOfTar(linuxkitCustomerTar([
      exp({ name: 'p', type: 'fifo', mode: 0o600 }), exp({ name: 'null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 }),
      exp({ name: 'sda', type: 'block', mode: 0o660, devmajor: 8, devminor: 1 }), exp({ name: 'su', mode: 0o4755 }), exp({ name: 'tmp/', type: 'dir', mode: 0o1777 }),
    ], { cmd: [], env: [] }), []);
    const m = (n: string) => entries.find((e) => e.name === 'rootfs/' + n)!;
    expect(m('p')).toMatchObject({ mode: 0o010600, rdevmajor: 0 });
    expect(m('null')).toMatchObject({ mode: 0o020666, rdevmajor: 1, rdevminor: 3 });
    expect(m('sda')).toMatchObject({ mode: 0o060660, rdevmajor: 8, rdevminor: 1 });
    expect(m('su').mode).toBe(0o104755);
    expect(m('tmp/').mode).toBe(0o041777);
  });
});

describe('streaming', () => {
  it('planning reads no file data; reading the ramdisk reads each file from its layer source once, in the asked ranges', async () => {
    const layers = fakeLayers([{ name: 'big', data: 'x'.repeat(10_000) }, { name: 'small', data: 'abc' }]);
    const reads: Array<[number, number]> = [];
    const inner = layers[0]!.source;
    layers[0]!.source = { size: inner.size, read: (o: number, l: number) => (reads.push([o, l]), inner.read(o, l)) };
    const ramdisk = imageRamdisks({ architecture: 'amd64', os: 'linux', cmd: ['/big'], env: [], config: {}, configDigest: '', repoTags: [], layers: [], warnings: [] } as ImageSelection, layers, { createdAt: C }).customer;
    expect(reads).toEqual([]);
    expect(ramdisk.size % 512).toBe(0);
    const whole = new Uint8Array(ramdisk.size);
    for (let o = 0; o < ramdisk.size; o += 4096) whole.set(await ramdisk.read(o, Math.min(4096, ramdisk.size - o)), o);
    expect(reads.reduce((n, [, l]) => n + l, 0)).toBe(10_003);
    expect(Math.max(...reads.map(([, l]) => l))).toBeLessThanOrEqual(4096);
    expect(readCpio(whole).find((e) => e.name === 'rootfs/big')!.data!.length).toBe(10_000);
  });
});

describe('what gocpio cannot write', () => {
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (e) {
      return (e as EifError).code;
    }
    return undefined;
  };
  it('a file of 4 GiB or more is refused (OCI_FILE_TOO_LARGE), naming it', () => {
    const big = exp({ name: 'big', size: 2 ** 32, data: { layer: 0, offset: 0 } });
    expect(code(() => cpioEntriesOfTar(linuxkitCustomerTar([big], { cmd: [], env: [] }), fakeLayers([])))).toBe('OCI_FILE_TOO_LARGE');
    expect(() => cpioEntriesOfTar(linuxkitCustomerTar([big], { cmd: [], env: [] }), [])).toThrow(/rootfs\/big is 4294967296 bytes/);
  });
  it('times beyond 8 characters are refused (OCI_MTIME_OUT_OF_RANGE); a symlink before 1970 is written as Go does, with a warning', async () => {
    expect(code(() => cpioEntriesOfTar(linuxkitCustomerTar([exp({ name: 'f', mtime: 2 ** 32 })], { cmd: [], env: [] }), []))).toBe('OCI_MTIME_OUT_OF_RANGE');
    expect(code(() => cpioEntriesOfTar(linuxkitCustomerTar([exp({ name: 'l', type: 'symlink', linkname: 'x', mtime: -0x10000000 })], { cmd: [], env: [] }), []))).toBe('OCI_MTIME_OUT_OF_RANGE');
    const r = customerRamdiskWithWarnings([exp({ name: 'l', type: 'symlink', mode: 0o777, linkname: 'x', mtime: -1 })], [], { cmd: [], env: [] });
    expect(r.warnings.join()).toMatch(/before 1970 \(rootfs\/l\)/);
    const bytes = await all(r.source);
    const at = String.fromCharCode(...bytes).indexOf('rootfs/l\0');
    expect(String.fromCharCode(...bytes.subarray(at - 110 + 46, at - 110 + 54))).toBe('-0000001');
  });
  it('data in a layer that was not passed is an error (OCI_LAYER_MISSING)', () => {
    expect(code(() => cpioEntriesOfTar(linuxkitCustomerTar([exp({ name: 'f', size: 3, data: { layer: 2, offset: 0 } })], { cmd: [], env: [] }), fakeLayers([])))).toBe('OCI_LAYER_MISSING');
  });
});

describe('bootstrap ramdisk, by hand', () => {
  it('dev 040755, init and nsm.ko 0100755, mtime 1492533000, root, then the trailer and 512 padding', async () => {
    const r = await bootstrapRamdisk({ init: bytesSource(ascii('INIT')), nsm: bytesSource(ascii('NSM')) });
    const h = (ino: string, mode: string, nlink: string, size: string, namesize: string) =>
      '070701' + ino + mode + '00000000' + '00000000' + nlink + '58f63f08' + size + '00000003' + '00000001' + '00000000' + '00000000' + namesize + '00000000';
    const want =
      h('000002d1', '000041ed', '00000002', '00000000', '00000004') + 'dev\0' + '\0\0' + // 116
      h('000002d2', '000081ed', '00000001', '00000004', '00000005') + 'init\0' + '\0' + 'INIT' + // 116+115 = 231 → pad 1 → 232, data to 236
      h('000002d3', '000081ed', '00000001', '00000003', '00000007') + 'nsm.ko\0' + '\0\0\0' + 'NSM' + // 236+117 = 353 → pad 3 → 356, data to 359
      '\0' + '070701' + '000002d4' + '00000000'.repeat(3) + '00000001' + '00000000' + '00000000' + '00000003' + '00000001' + '00000000' + '00000000' + '0000000b' + '00000000' + 'TRAILER!!!\0';
    const got = String.fromCharCode(...(await all(r)));
    expect(got.length).toBe(512);
    expect(got).toBe(want + '\0'.repeat(512 - want.length));
  });
});
