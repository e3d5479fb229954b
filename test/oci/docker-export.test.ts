/**
 * dockerExport: overlay flattening, Docker's init layer, `docker create`'s WorkingDir and go-archive's walk
 * (shared oci-build.md §1.3, §1.4). Expected lists are written from the rules, entry by entry.
 */
import { describe, expect, it } from 'vitest';
import { dockerExport } from '../../src/oci/docker-export.js';
import { EifError } from '../../src/errors.js';
import type { ExportEntry } from '../../src/oci/types.js';
import { type FakeEntry, T, fakeLayers } from './helpers/fake-layers.js';

const C = 1_800_000_000; // creation time
const INIT = ['.dockerenv', 'dev/', 'dev/console', 'dev/pts/', 'dev/shm/', 'etc/', 'etc/hostname', 'etc/hosts', 'etc/mtab', 'etc/resolv.conf', 'proc/', 'sys/'];

function exportOf(...layers: FakeEntry[][]): ExportEntry[] {
  return dockerExport(fakeLayers(...layers), { createdAt: C }).entries;
}
/** Names without the init layer's own entries (when the image has none of those paths). */
function imageNames(entries: ExportEntry[]): string[] {
  return entries.map((e) => e.name).filter((n) => !INIT.includes(n));
}
const byName = (entries: ExportEntry[], name: string) => {
  const e = entries.find((x) => x.name === name);
  if (!e) throw new Error(`no ${name} in ${entries.map((x) => x.name).join(' ')}`);
  return e;
};
function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return e instanceof EifError ? e.code : String(e);
  }
  return undefined;
}

describe('go-archive walk', () => {
  it('depth first, each directory sorted byte-wise: a/b before a-c, dirs with a trailing slash', () => {
    const names = imageNames(exportOf([{ name: 'a-c' }, { name: 'a/' }, { name: 'a/b' }, { name: 'B' }, { name: 'a0' }]));
    expect(names).toEqual(['B', 'a/', 'a/b', 'a-c', 'a0']);
  });

  it('names as bytes: non-UTF-8 bytes sort after ASCII, names over 100 bytes kept whole', () => {
    const long = 'd/' + 'n'.repeat(120);
    const names = imageNames(exportOf([{ name: 'z' }, { name: 'caf\xe9' }, { name: 'cafe' }, { name: 'd/' }, { name: long }]));
    expect(names).toEqual(['cafe', 'caf\xe9', 'd/', long, 'z']);
  });

  it('the init layer alone: what `docker export` of an empty image holds', () => {
    const all = exportOf([]);
    expect(all.map((e) => [e.name, e.type, e.mode.toString(8), e.mtime, e.linkname])).toEqual([
      ['.dockerenv', 'file', '755', C, ''],
      ['dev/', 'dir', '755', C, ''],
      ['dev/console', 'file', '755', C, ''],
      ['dev/pts/', 'dir', '755', C, ''],
      ['dev/shm/', 'dir', '755', C, ''],
      ['etc/', 'dir', '755', C, ''],
      ['etc/hostname', 'file', '755', C, ''],
      ['etc/hosts', 'file', '755', C, ''],
      ['etc/mtab', 'symlink', '777', C, '/proc/mounts'],
      ['etc/resolv.conf', 'file', '755', C, ''],
      ['proc/', 'dir', '755', C, ''],
      ['sys/', 'dir', '755', C, ''],
    ]);
    expect(all.every((e) => e.uid === 0 && e.gid === 0 && e.size === 0)).toBe(true);
  });

  it('header fields: setuid/setgid/sticky kept, symlinks 0777, FIFO and char device with rdev', () => {
    const all = exportOf([
      { name: 'bin/' }, { name: 'bin/su', mode: 0o4755, data: 'su' }, { name: 'bin/g', mode: 0o2711 },
      { name: 'tmp/', mode: 0o1777 }, { name: 'l', type: 'symlink', mode: 0o755, linkname: '/nowhere' },
      { name: 'p', type: 'fifo', mode: 0o600 }, { name: 'null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 },
      { name: 'sda', type: 'block', mode: 0o660, devmajor: 8, devminor: 0, gid: 6 },
    ]);
    expect(byName(all, 'bin/su')).toMatchObject({ type: 'file', mode: 0o4755, size: 2 });
    expect(byName(all, 'bin/g').mode).toBe(0o2711);
    expect(byName(all, 'tmp/').mode).toBe(0o1777);
    expect(byName(all, 'l')).toMatchObject({ type: 'symlink', mode: 0o777, linkname: '/nowhere', size: 0 });
    expect(byName(all, 'p')).toMatchObject({ type: 'fifo', mode: 0o600, devmajor: 0, devminor: 0 });
    expect(byName(all, 'null')).toMatchObject({ type: 'char', mode: 0o666, devmajor: 1, devminor: 3 });
    expect(byName(all, 'sda')).toMatchObject({ type: 'block', devmajor: 8, devminor: 0, gid: 6 });
  });

  it('times before 1970 become 0 (Docker Chtimes), except on symlinks (lutimes)', () => {
    const all = exportOf([{ name: 'old', mtime: -5 }, { name: 'd/', mtime: -5 }, { name: 'sl', type: 'symlink', linkname: 'old', mtime: -5 }]);
    expect(byName(all, 'old').mtime).toBe(0);
    expect(byName(all, 'd/').mtime).toBe(0);
    expect(byName(all, 'sl').mtime).toBe(-5);
  });
});

describe('overlay flattening', () => {
  const base: FakeEntry[] = [{ name: 'x/' }, { name: 'x/keep', data: 'k' }, { name: 'x/gone', data: 'g' }, { name: 'x/sub/' }, { name: 'x/sub/deep', data: 'd' }];

  it('a whiteout removes the file; a whiteout of a directory removes its subtree', () => {
    const names = imageNames(exportOf(base, [{ name: 'x/' }, { name: 'x/.wh.gone' }, { name: 'x/.wh.sub' }]));
    expect(names).toEqual(['x/', 'x/keep']);
  });

  it('an opaque directory hides the lower contents but keeps its own layer\'s', () => {
    const names = imageNames(exportOf(base, [{ name: 'x/' }, { name: 'x/.wh..wh..opq' }, { name: 'x/new', data: 'n' }]));
    expect(names).toEqual(['x/', 'x/new']);
  });

  it('a file deleted then re-added with another mode: the top layer\'s header and data', () => {
    const layers = fakeLayers(base, [{ name: 'x/' }, { name: 'x/.wh.keep' }], [{ name: 'x/' }, { name: 'x/keep', mode: 0o700, uid: 5, data: 'again' }]);
    const e = byName(dockerExport(layers, { createdAt: C }).entries, 'x/keep');
    expect(e).toMatchObject({ type: 'file', mode: 0o700, uid: 5, size: 5, data: { layer: 2, offset: 0 } });
  });

  it('a directory in several layers takes the topmost header (mode, owner, time); contents merge', () => {
    const all = exportOf(base, [{ name: 'x/', mode: 0o750, uid: 7, gid: 8, mtime: T + 9 }, { name: 'x/more', data: 'm' }]);
    expect(byName(all, 'x/')).toMatchObject({ mode: 0o750, uid: 7, gid: 8, mtime: T + 9 });
    expect(imageNames(all)).toEqual(['x/', 'x/gone', 'x/keep', 'x/more', 'x/sub/', 'x/sub/deep']);
  });

  it('a directory replacing a file, and a file replacing a directory (its subtree gone)', () => {
    const all = exportOf(base.concat([{ name: 'f', data: 'file' }]), [{ name: 'f/' }, { name: 'f/inside', data: 'i' }, { name: 'x/' }, { name: 'x/sub', data: 'now a file' }]);
    expect(imageNames(all)).toEqual(['f/', 'f/inside', 'x/', 'x/gone', 'x/keep', 'x/sub']);
    expect(byName(all, 'x/sub')).toMatchObject({ type: 'file', size: 10 });
  });

  it('within one layer a later entry replaces an earlier one; a whiteout then a directory lets the lower contents through', () => {
    const all = exportOf(base, [{ name: 'x/' }, { name: 'x/.wh.sub' }, { name: 'x/sub/', mode: 0o711 }, { name: 'x/keep', data: 'one' }, { name: 'x/keep', data: 'three', mode: 0o600 }]);
    expect(byName(all, 'x/sub/').mode).toBe(0o711);
    expect(imageNames(all)).toContain('x/sub/deep');
    expect(byName(all, 'x/keep')).toMatchObject({ size: 5, mode: 0o600 });
  });

  it('a directory a layer fills but does not list: created at pull time (0755, root), with a warning naming it', () => {
    const r = dockerExport(fakeLayers([{ name: 'a/', mode: 0o700, uid: 3 }], [{ name: 'a/b/c', data: 'c' }]), { createdAt: C });
    expect(byName(r.entries, 'a/')).toMatchObject({ mode: 0o755, uid: 0, mtime: C });
    expect(byName(r.entries, 'a/b/')).toMatchObject({ mode: 0o755, uid: 0, mtime: C });
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/not reproducible: 2 directories .*a\/, a\/b\//);
  });

  it('an implied directory in an upper layer takes over a listed lower one (overlayfs shows the upper directory)', () => {
    const r = dockerExport(fakeLayers([{ name: 'y/', mode: 0o700, mtime: T - 10 }], [{ name: 'y/z', data: 'z' }]), { createdAt: C });
    expect(byName(r.entries, 'y/')).toMatchObject({ mode: 0o755, uid: 0, mtime: C });
    expect(r.warnings[0]).toMatch(/1 directory is not listed .*\(y\/\)/);
  });

  it('a layer that lists its directories gives no warning', () => {
    expect(dockerExport(fakeLayers(base), { createdAt: C }).warnings).toEqual([]);
  });

  it('names Linux refuses are refused (OCI_NAME_TOO_LONG): a path of 4096 bytes, a 256-byte component, a 4096-byte symlink target', () => {
    const deep = Array.from({ length: 2048 }, () => 'a').join('/'); // 4095 bytes: "/" + it = 4096 → too long
    expect(codeOf(() => exportOf([{ name: deep }]))).toBe('OCI_NAME_TOO_LONG');
    expect(codeOf(() => exportOf([{ name: deep.slice(2) }]))).toBeUndefined();
    expect(codeOf(() => exportOf([{ name: 'n'.repeat(256) }]))).toBe('OCI_NAME_TOO_LONG');
    expect(codeOf(() => exportOf([{ name: 'n'.repeat(255) }]))).toBeUndefined();
    expect(codeOf(() => exportOf([{ name: 'l', type: 'symlink', linkname: 'x'.repeat(4096) }]))).toBe('OCI_NAME_TOO_LONG');
  });

  it('an entry under a path the same layer made a symlink or whiteout is refused (OCI_LAYER_PATH)', () => {
    expect(codeOf(() => exportOf([{ name: 'l', type: 'symlink', linkname: 'x' }, { name: 'l/f' }]))).toBe('OCI_LAYER_PATH');
    expect(codeOf(() => exportOf(base, [{ name: 'x/' }, { name: 'x/.wh.sub' }, { name: 'x/sub/f' }]))).toBe('OCI_LAYER_PATH');
  });
});

describe('hard links', () => {
  it('in one directory: the first path of the walk is the file, later ones link to it', () => {
    const all = exportOf([{ name: 'bin/' }, { name: 'bin/z', data: 'busybox' }, { name: 'bin/a', type: 'hardlink', linkname: 'bin/z' }]);
    expect(byName(all, 'bin/a')).toMatchObject({ type: 'file', size: 7, data: { layer: 0, offset: 0 } });
    expect(byName(all, 'bin/z')).toMatchObject({ type: 'hardlink', size: 0, linkname: 'bin/a' });
  });

  it('across directories, with the attributes of the group\'s last header (Docker chmods/chowns the shared inode)', () => {
    const all = exportOf([
      { name: 'lib/' }, { name: 'lib/x', data: 'lib', mode: 0o644 }, { name: 'usr/' }, { name: 'usr/bin/' },
      { name: 'usr/bin/x', type: 'hardlink', linkname: 'lib/x', mode: 0o750, uid: 10001, gid: 10002, mtime: T + 1 },
    ]);
    expect(byName(all, 'lib/x')).toMatchObject({ type: 'file', mode: 0o750, uid: 10001, gid: 10002, mtime: T + 1, size: 3 });
    expect(byName(all, 'usr/bin/x')).toMatchObject({ type: 'hardlink', linkname: 'lib/x', mode: 0o750, uid: 10001 });
  });

  it('a hard link to a symlink: the link\'s owner reaches the shared inode, not its mode or time (no chmod/utimes on symlinks)', () => {
    // Observed with Docker 20.10 overlay2: hl -> h1 (symlink, uid 0, T), hl2 hard link to hl with uid 7, 0600, T+9
    // gave both paths uid 7, mode 0777, time T.
    const all = exportOf([{ name: 'hl', type: 'symlink', linkname: 'h1' }, { name: 'hl2', type: 'hardlink', linkname: 'hl', uid: 7, mode: 0o600, mtime: T + 9 }]);
    expect(byName(all, 'hl')).toMatchObject({ type: 'symlink', uid: 7, mode: 0o777, mtime: T, linkname: 'h1' });
    expect(byName(all, 'hl2')).toMatchObject({ type: 'hardlink', uid: 7, mode: 0o777, mtime: T, linkname: 'hl' });
  });

  it('setuid survives a hard link\'s chown (Docker chmods after chowning)', () => {
    const all = exportOf([{ name: 's', mode: 0o4755, data: 's' }, { name: 's2', type: 'hardlink', linkname: 's', mode: 0o4755, uid: 3 }]);
    expect(byName(all, 's')).toMatchObject({ type: 'file', mode: 0o4755, uid: 3 });
  });

  it('a link whose first path is deleted above: the remaining path is a plain file', () => {
    const all = exportOf([{ name: 'a', data: 'A' }, { name: 'b', type: 'hardlink', linkname: 'a' }], [{ name: '.wh.a' }]);
    expect(byName(all, 'b')).toMatchObject({ type: 'file', size: 1 });
  });

  it('a file replaced after it was linked: the link keeps the old data', () => {
    const all = exportOf([{ name: 'a', data: 'old' }, { name: 'b', type: 'hardlink', linkname: 'a' }, { name: 'a', data: 'newer' }]);
    expect(byName(all, 'a')).toMatchObject({ type: 'file', size: 5 });
    expect(byName(all, 'b')).toMatchObject({ type: 'file', size: 3 });
  });

  it('a link to nothing, to a directory, or to a lower layer\'s file is refused (OCI_HARDLINK_TARGET)', () => {
    expect(codeOf(() => exportOf([{ name: 'b', type: 'hardlink', linkname: 'missing' }]))).toBe('OCI_HARDLINK_TARGET');
    expect(codeOf(() => exportOf([{ name: 'd/' }, { name: 'b', type: 'hardlink', linkname: 'd' }]))).toBe('OCI_HARDLINK_TARGET');
    expect(codeOf(() => exportOf([{ name: 'a', data: 'A' }], [{ name: 'b', type: 'hardlink', linkname: 'a' }]))).toBe('OCI_HARDLINK_TARGET');
  });
});

describe('Docker\'s init layer over the image', () => {
  it('an image proc/ 0555 is kept with its mode and time; image files at init paths become empty 0755 files', () => {
    const all = exportOf([
      { name: 'proc/', mode: 0o555, mtime: T - 100 }, { name: 'etc/', mtime: T - 50 }, { name: 'etc/hosts', data: '10.0.0.1 me\n', uid: 4 },
      { name: 'etc/passwd', data: 'root:x:0:0::/:/bin/sh\n' }, { name: 'etc/mtab', type: 'symlink', linkname: '../proc/self/mounts' },
    ]);
    expect(byName(all, 'proc/')).toMatchObject({ mode: 0o555, mtime: T - 100 });
    expect(byName(all, 'etc/hosts')).toMatchObject({ type: 'file', mode: 0o755, uid: 0, size: 0, mtime: C });
    expect(byName(all, 'etc/hosts').data).toBeUndefined();
    expect(byName(all, 'etc/mtab')).toMatchObject({ type: 'symlink', linkname: '/proc/mounts', mtime: C });
    expect(byName(all, 'etc/')).toMatchObject({ mtime: C }); // its entries were replaced
    expect(byName(all, 'etc/passwd').size).toBe(22);
    expect(byName(all, 'sys/')).toMatchObject({ mode: 0o755, mtime: C });
  });

  it('an image directory at a file path (etc/hosts/) survives; a file at a directory path (dev/shm) is replaced', () => {
    const all = exportOf([{ name: 'etc/' }, { name: 'etc/hosts/', mode: 0o700 }, { name: 'etc/hosts/a', data: 'a' }, { name: 'dev/' }, { name: 'dev/shm', data: 'f' }]);
    expect(byName(all, 'etc/hosts/')).toMatchObject({ type: 'dir', mode: 0o700 });
    expect(imageNames(all)).toContain('etc/hosts/a');
    expect(byName(all, 'dev/shm/')).toMatchObject({ type: 'dir', mode: 0o755, mtime: C });
  });

  it('an image directory untouched by the init layer keeps its time (dev/ with all its init paths present)', () => {
    const all = exportOf([{ name: 'dev/', mode: 0o755, mtime: T - 7 }, { name: 'dev/pts/' }, { name: 'dev/shm/' }, { name: 'dev/console/' }]);
    expect(byName(all, 'dev/').mtime).toBe(T - 7);
  });
});

describe('docker create: WorkingDir', () => {
  it('a missing WorkingDir is made 0755 root with the creation time, with a warning', () => {
    const r = dockerExport(fakeLayers([{ name: 'srv/', mtime: T }]), { createdAt: C, workdir: '/srv/app/data' });
    expect(byName(r.entries, 'srv/app/')).toMatchObject({ mode: 0o755, uid: 0, mtime: C });
    expect(byName(r.entries, 'srv/app/data/')).toMatchObject({ mode: 0o755, mtime: C });
    expect(byName(r.entries, 'srv/').mtime).toBe(C);
    expect(r.warnings.join('\n')).toMatch(/WorkingDir \/srv\/app\/data is missing/);
  });

  it('an existing WorkingDir (also through a symlink) changes nothing', () => {
    const r = dockerExport(fakeLayers([{ name: 'data/', mode: 0o700 }, { name: 'w', type: 'symlink', linkname: '/data' }]), { createdAt: C, workdir: '/w' });
    expect(r.warnings).toEqual([]);
    expect(byName(r.entries, 'data/').mode).toBe(0o700);
  });

  it('a WorkingDir that is a file fails as docker create does (OCI_WORKDIR_NOT_DIR)', () => {
    expect(codeOf(() => dockerExport(fakeLayers([{ name: 'w', data: 'x' }]), { createdAt: C, workdir: '/w/sub' }))).toBe('OCI_WORKDIR_NOT_DIR');
  });
});
