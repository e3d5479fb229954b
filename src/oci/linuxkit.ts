/**
 * From the `docker export` stream to nitro-cli's two ramdisks, as its linuxkit (v1.5.2 + AWS's patches) writes
 * them (shared oci-build.md §1.1 "YAML", §1.3 "linuxkit ImageTar" steps 1–6, "Bootstrap ramdisk", and
 * "Observed in linuxkit's own output").
 *
 * Customer ramdisk, in order:
 * 1. `rootfs` (dir 0755, mtime 1492533000, root) — tarPrefix of the YAML's `prefix: rootfs/`;
 * 2. each exported entry: dropped when its name is exactly `.dockerenv`, `Dockerfile`, `dev/console`, `dev/pts`,
 *    `dev/shm` or `etc/hostname` (export writes `dev/pts/`, so those two stay); `etc/hosts` gets the fixed
 *    160-byte localhost file, `etc/resolv.conf` becomes a symlink to `/run/resolvconf/resolv.conf` (size 0), both
 *    with mtime 1492533000 and their other header fields; the `touch` names get mtime 1492533000; every name (and
 *    a hard link's target) is prefixed `rootfs/`;
 * 3. touch names not seen, sorted (none after a docker export: its init layer makes them all);
 * 4. the YAML `files:`: `rootfs` again, `rootfs/dev`, `rootfs/run`, `rootfs/sys`, `rootfs/var`, `rootfs/proc`,
 *    `rootfs/tmp` (dir 0755), then `cmd` and `env` (0644: each line + "\n");
 * 5. tar → cpio (initrd.go): a hard link becomes a symlink to `filepath.Rel(dir(name), target)` with the link's
 *    own mode and owner, size = target length; files, symlinks, dirs, char/block devices (rdev) and FIFOs kept;
 *    then gocpio (src/eif/cpio-plan.ts).
 * Bootstrap ramdisk: `dev` (040755), `init` (0100755), `nsm.ko` (0100755), all mtime 1492533000, root.
 * Browser-safe; file data stays in the layer sources until the ramdisk is read.
 */
import { EifError } from '../errors.js';
import { type CpioPlanEntry, cpioPlanSource, planCpio } from '../eif/cpio-plan.js';
import { LINUXKIT_MTIME, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFLNK, S_IFREG } from '../eif/cpio.js';
import type { ByteSource } from '../eif/layout.js';
import type { EntryData, EntryType, ExportEntry, LayerIndex, RamdiskSource } from './types.js';
import { displayName } from './types.js';

/** linuxkit's fixed `/etc/hosts` (image.go `replace`), 160 bytes. */
export const LINUXKIT_HOSTS =
  '127.0.0.1       localhost\n::1     localhost ip6-localhost ip6-loopback\nfe00::0 ip6-localnet\nff00::0 ip6-mcastprefix\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n';
/** Where nitro-cli's linuxkit points `etc/resolv.conf` (build.go `resolvconfSymlink`). */
export const RESOLV_CONF_TARGET = '/run/resolvconf/resolv.conf';
const PREFIX = 'rootfs/';
const EXCLUDE = new Set(['.dockerenv', 'Dockerfile', 'dev/console', 'dev/pts', 'dev/shm', 'etc/hostname']);

/** A member of linuxkit's intermediate tar (an ExportEntry after its rules): the same fields. */
export type LinuxkitEntry = ExportEntry;

const dirEntry = (name: string): LinuxkitEntry => ({ name, type: 'dir', mode: 0o755, uid: 0, gid: 0, mtime: LINUXKIT_MTIME, size: 0, linkname: '', devmajor: 0, devminor: 0 });

/** image.go's `touch` map: the entry written when a name is missing from the export. */
function touchEntry(name: string): LinuxkitEntry {
  const base = { uid: 0, gid: 0, mtime: LINUXKIT_MTIME, size: 0, linkname: '', devmajor: 0, devminor: 0 };
  if (name.endsWith('/')) return { ...base, name: PREFIX + name.slice(0, -1), type: 'dir', mode: 0o755 };
  if (name === 'etc/mtab') return { ...base, name: PREFIX + name, type: 'symlink', mode: 0o755, linkname: '/proc/mounts' };
  if (name === 'etc/resolv.conf') return { ...base, name: PREFIX + name, type: 'symlink', mode: 0o644, linkname: RESOLV_CONF_TARGET };
  const hosts = latin1Bytes(LINUXKIT_HOSTS);
  return { ...base, name: PREFIX + name, type: 'file', mode: 0o644, size: hosts.length, data: { bytes: hosts } };
}
const TOUCH = ['dev/', 'dev/pts/', 'dev/shm/', 'etc/', 'etc/hosts', 'etc/mtab', 'etc/resolv.conf', 'proc/', 'sys/'];

function latin1Bytes(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/**
 * nitro-cli's `cmd` / `env` file: each line + "\n" (UTF-8).
 *
 * @example
 * linesFile(['/bin/run', '--flag']); // bytes of "/bin/run\n--flag\n"
 */
export function linesFile(lines: readonly string[]): Uint8Array {
  return new TextEncoder().encode(lines.map((l) => l + '\n').join(''));
}

/**
 * linuxkit's intermediate tar for nitro-cli's customer YAML: steps 1–4 above.
 *
 * @example
 * import { linuxkitCustomerTar } from 'eifkit/browser';
 * const entries = linuxkitCustomerTar(exportEntries, { cmd: ['/app/server'], env: ['PATH=/usr/bin'] });
 */
export function linuxkitCustomerTar(exported: readonly ExportEntry[], files: { cmd: readonly string[]; env: readonly string[] }): LinuxkitEntry[] {
  return [...linuxkitCustomerEntries(exported, files)];
}

/** {@link linuxkitCustomerTar} one entry at a time (the ramdisk planner consumes it without holding a copy). */
function* linuxkitCustomerEntries(exported: readonly ExportEntry[], files: { cmd: readonly string[]; env: readonly string[] }): Generator<LinuxkitEntry> {
  yield dirEntry('rootfs');
  const touchFound = new Set<string>();
  for (const e of exported) {
    if (EXCLUDE.has(e.name)) continue;
    const entry: LinuxkitEntry = { ...e, name: PREFIX + e.name };
    if (e.name === 'etc/hosts') {
      const hosts = latin1Bytes(LINUXKIT_HOSTS);
      entry.size = hosts.length;
      entry.data = { bytes: hosts };
      entry.mtime = LINUXKIT_MTIME;
      touchFound.add(e.name); // patch 0003: a replaced name is not appended again
    } else if (e.name === 'etc/resolv.conf') {
      entry.type = 'symlink';
      entry.linkname = RESOLV_CONF_TARGET;
      entry.size = 0;
      delete entry.data;
      entry.mtime = LINUXKIT_MTIME;
      touchFound.add(e.name);
    } else {
      if (TOUCH.includes(e.name)) {
        entry.mtime = LINUXKIT_MTIME;
        touchFound.add(e.name);
      }
      if (e.type === 'hardlink') entry.linkname = PREFIX + e.linkname;
    }
    yield entry;
  }
  for (const name of TOUCH) if (!touchFound.has(name)) yield touchEntry(name);
  for (const d of ['rootfs', 'rootfs/dev', 'rootfs/run', 'rootfs/sys', 'rootfs/var', 'rootfs/proc', 'rootfs/tmp']) yield dirEntry(d);
  for (const [name, lines] of [['cmd', files.cmd], ['env', files.env]] as const) {
    const bytes = linesFile(lines);
    yield { name, type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: LINUXKIT_MTIME, size: bytes.length, linkname: '', devmajor: 0, devminor: 0, ...(bytes.length > 0 ? { data: { bytes } } : {}) };
  }
}

// ---- Go's path/filepath on Unix, for the hard link → relative symlink rule -----------------------------------

/**
 * Go `filepath.Clean` (Unix).
 *
 * @example
 * goClean('a//b/./c/..'); // 'a/b'
 */
export function goClean(path: string): string {
  if (path === '') return '.';
  const rooted = path.startsWith('/');
  const out: string[] = [];
  for (const c of path.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
    } else out.push(c);
  }
  const s = out.join('/');
  return rooted ? '/' + s : s === '' ? '.' : s;
}

/**
 * Go `filepath.Dir` (Unix).
 *
 * @example
 * goDir('rootfs/app/server'); // 'rootfs/app'
 */
export function goDir(path: string): string {
  const i = path.lastIndexOf('/');
  return goClean(path.slice(0, i + 1));
}

/**
 * Go `filepath.Rel` (Unix): `undefined` where Go returns an error. linuxkit turns a hard link into a symlink to
 * `Rel(Dir(name), target)`.
 *
 * @example
 * import { goRel } from 'eifkit/browser';
 * goRel('rootfs/usr/bin', 'rootfs/lib/x'); // '../../lib/x'
 */
export function goRel(basepath: string, targpath: string): string | undefined {
  let base = goClean(basepath);
  const targ = goClean(targpath);
  if (targ === base) return '.';
  if (base === '.') base = '';
  const baseSlashed = base.startsWith('/');
  const targSlashed = targ.startsWith('/');
  if (baseSlashed !== targSlashed) return undefined;
  const bl = base.length;
  const tl = targ.length;
  let b0 = 0;
  let bi = 0;
  let t0 = 0;
  let ti = 0;
  for (;;) {
    while (bi < bl && base[bi] !== '/') bi++;
    while (ti < tl && targ[ti] !== '/') ti++;
    if (targ.slice(t0, ti) !== base.slice(b0, bi)) break;
    if (bi < bl) bi++;
    if (ti < tl) ti++;
    b0 = bi;
    t0 = ti;
  }
  if (base.slice(b0, bi) === '..') return undefined;
  if (b0 !== bl) {
    const seps = base.slice(b0, bl).split('/').length - 1;
    let s = '..' + '/..'.repeat(seps);
    if (t0 !== tl) s += '/' + targ.slice(t0);
    return s;
  }
  return targ.slice(t0);
}

// ---- tar → cpio ------------------------------------------------------------------------------------------------

const TYPE_BITS: Record<Exclude<EntryType, 'hardlink'>, number> = {
  file: S_IFREG,
  symlink: S_IFLNK,
  dir: S_IFDIR,
  char: S_IFCHR,
  block: S_IFBLK,
  fifo: S_IFIFO,
};

const CPIO_MAX = 0xffffffff;
const GO_NEG_MIN = -0xfffffff; // "%08x" of -0xfffffff is "-fffffff": still 8 characters

function resolveData(data: EntryData, layers: readonly LayerIndex[], name: string): { bytes: Uint8Array } | { source: ByteSource; offset: number } {
  if ('bytes' in data) return data;
  const layer = layers[data.layer];
  if (!layer) throw new EifError('OCI_LAYER_MISSING', `${displayName(name)} has its data in layer ${data.layer + 1}, which was not given (${layers.length} layers)`);
  return { source: layer.source, offset: data.offset };
}

/** initrd.go's conversion of one tar entry (see {@link cpioEntriesOfTar}); negative times are noted in `negative`. */
function cpioEntryOfTar(e: LinuxkitEntry, layers: readonly LayerIndex[], negative: string[]): CpioPlanEntry {
  let type: Exclude<EntryType, 'hardlink'>;
  let linkname = e.linkname;
  if (e.type === 'hardlink') {
    type = 'symlink';
    linkname = goRel(goDir(e.name), e.linkname) ?? '/' + e.linkname;
  } else type = e.type;
  if (type === 'file' && e.size > CPIO_MAX) {
    throw new EifError('OCI_FILE_TOO_LARGE', `${displayName(e.name)} is ${e.size} bytes: a newc cpio holds files under 4 GiB (nitro-cli's linuxkit would write a broken ramdisk); eifkit refuses the image`);
  }
  if (e.mtime > CPIO_MAX || e.mtime < GO_NEG_MIN) {
    throw new EifError('OCI_MTIME_OUT_OF_RANGE', `${displayName(e.name)} has the time ${e.mtime}, which a newc header cannot hold in 8 characters (nitro-cli's linuxkit would write a broken ramdisk); eifkit refuses the image`);
  }
  if (e.mtime < 0) negative.push(e.name);
  const size = type === 'symlink' ? linkname.length : e.size;
  const base = {
    name: e.name,
    mode: (e.mode & 0o7777) | TYPE_BITS[type],
    uid: e.uid,
    gid: e.gid,
    mtime: e.mtime,
    size,
    rdevmajor: e.devmajor,
    rdevminor: e.devminor,
  };
  if (type === 'symlink') return { ...base, ...(size > 0 ? { data: { bytes: latin1Bytes(linkname) } } : {}) };
  if (size > 0) {
    if (!e.data) throw new EifError('OCI_LAYER_MISSING', `${displayName(e.name)} has ${size} bytes but no data source`);
    return { ...base, data: resolveData(e.data, layers, e.name) };
  }
  return base;
}

function negativeWarning(negative: string[]): string[] {
  if (negative.length === 0) return [];
  return [
    `${negative.length} entr${negative.length === 1 ? 'y has' : 'ies have'} a time before 1970 (${negative.slice(0, 5).map(displayName).join(', ')}${negative.length > 5 ? ', …' : ''}): written as nitro-cli's gocpio writes it ("-" and 7 hex digits, which the kernel reads as 0), so the PCRs match, but the cpio header is not standard`,
  ];
}

/**
 * initrd.go's tar → cpio conversion of linuxkit's tar (step 5 above), with the checks gocpio lacks: a file of
 * 4 GiB or more, or a time that does not fit 8 characters, is refused (nitro-cli would write a broken cpio);
 * a negative time that fits (a symlink before 1970) is written as Go writes it, with a warning.
 *
 * @example
 * import { linuxkitCustomerTar, cpioEntriesOfTar } from 'eifkit/browser';
 * const { entries, warnings } = cpioEntriesOfTar(linuxkitCustomerTar(exported, { cmd, env }), layerIndexes);
 */
export function cpioEntriesOfTar(tar: readonly LinuxkitEntry[], layers: readonly LayerIndex[]): { entries: CpioPlanEntry[]; warnings: string[] } {
  const negative: string[] = [];
  const entries = tar.map((e) => cpioEntryOfTar(e, layers, negative));
  return { entries, warnings: negativeWarning(negative) };
}

/** The customer ramdisk and what the user should know about it. */
export interface CustomerRamdisk {
  source: RamdiskSource;
  warnings: string[];
}

/**
 * The customer ramdisk with its warnings (see {@link customerRamdisk}).
 *
 * @example
 * import { customerRamdiskWithWarnings } from 'eifkit/browser';
 * const { source, warnings } = customerRamdiskWithWarnings(exported, layerIndexes, { cmd, env });
 */
export function customerRamdiskWithWarnings(exported: readonly ExportEntry[], layers: readonly LayerIndex[], files: { cmd: readonly string[]; env: readonly string[] }): CustomerRamdisk {
  const negative: string[] = [];
  function* entries(): Generator<CpioPlanEntry> {
    for (const e of linuxkitCustomerEntries(exported, files)) yield cpioEntryOfTar(e, layers, negative);
  }
  const plan = planCpio(entries());
  return { source: cpioPlanSource(plan), warnings: negativeWarning(negative) };
}

/**
 * nitro-cli's customer ramdisk (`customer-initrd.img`) from the `docker export` entries: a virtual newc file of
 * known size whose file bytes are read from the layer sources when the ramdisk is read.
 *
 * @example
 * import { dockerExport, customerRamdisk } from 'eifkit/browser';
 * const { entries } = dockerExport(layerIndexes, { createdAt: 0 });
 * const ramdisk = customerRamdisk(entries, layerIndexes, { cmd: ['/bin/run'], env: [] });
 * const firstHeader = await ramdisk.read(0, 110);
 */
export function customerRamdisk(exported: readonly ExportEntry[], layers: readonly LayerIndex[], files: { cmd: readonly string[]; env: readonly string[] }): RamdiskSource {
  return customerRamdiskWithWarnings(exported, layers, files).source;
}

/**
 * nitro-cli's bootstrap ramdisk (`bootstrap-initrd.img`) from the `init` and `nsm.ko` blobs.
 *
 * @example
 * import { bootstrapRamdisk, bytesSource } from 'eifkit/browser';
 * const ramdisk = await bootstrapRamdisk({ init: bytesSource(initBytes), nsm: bytesSource(nsmBytes) });
 */
export async function bootstrapRamdisk(blobs: { init: ByteSource; nsm: ByteSource }): Promise<RamdiskSource> {
  const base = { uid: 0, gid: 0, mtime: LINUXKIT_MTIME, rdevmajor: 0, rdevminor: 0 };
  const file = (name: string, source: ByteSource): CpioPlanEntry => ({
    ...base,
    name,
    mode: S_IFREG | 0o755,
    size: source.size,
    ...(source.size > 0 ? { data: { source, offset: 0 } } : {}),
  });
  const plan = planCpio([{ ...base, name: 'dev', mode: S_IFDIR | 0o755, size: 0 }, file('init', blobs.init), file('nsm.ko', blobs.nsm)]);
  return cpioPlanSource(plan);
}
