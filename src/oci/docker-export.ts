/**
 * What `docker export` of `docker create IMAGE` writes, computed from the image's layers (shared oci-build.md §1.3,
 * "docker export" and the init-layer correction). This list is "the entries before linuxkit's rules" that the
 * differential tests compare with a real daemon; it is a pure function of the layers and the creation time.
 *
 * 1. The layers flattened with overlay semantics (./overlay.ts).
 * 2. Docker's init layer (moby daemon/initlayer/setup_unix.go), set up on a mount that already shows the image:
 *    for each of `/dev/pts /dev/shm /proc /sys` (dirs), `/.dockerenv /etc/resolv.conf /etc/hosts /etc/hostname
 *    /dev/console` (empty files) and `/etc/mtab` (symlink → /proc/mounts), every path component that is not a
 *    directory is unlinked, then what is still missing is created: parents and dirs 0755, files 0755 (dockerd's
 *    umask 022), all root-owned with the creation time. An image DIRECTORY at one of these paths survives with its
 *    own attributes; a directory whose entries were unlinked or created gets the creation time.
 * 3. `docker create` makes a missing WorkingDir (and parents) 0755 root with the creation time (container
 *    SetupWorkingDirectory; symlinks followed inside the root); VOLUMEs are not created.
 * 4. go-archive's walk (TarWithOptions → filepath.WalkDir): depth first, each directory's entries in byte-wise
 *    sorted order, root skipped, directory names with a trailing `/`; headers as FileInfoHeader makes them (mode =
 *    permission + setuid/setgid/sticky, symlinks 0777, size 0 for everything but files); a non-directory seen again
 *    through another path (same inode) becomes a TypeLink to the first path met; sockets are skipped (a layer tar
 *    cannot hold one).
 * Browser-safe.
 */
import { EifError } from '../errors.js';
import { type DirNode, type FsNode, type Inode, flattenLayers, newDir, pathComponents } from './overlay.js';
import type { ExportEntry, LayerIndex } from './types.js';
import { displayName } from './types.js';

export interface DockerExportOptions {
  /** The container's creation time (seconds): times of what the init layer and `docker create` make. */
  createdAt: number;
  /** The image config's WorkingDir (`docker create` makes it when missing). */
  workdir?: string;
}

export interface DockerExportResult {
  entries: ExportEntry[];
  warnings: string[];
}

/** The init layer's paths and what it creates at each (order does not change the result). */
export const INIT_LAYER_PATHS: ReadonlyArray<readonly [string, 'dir' | 'file' | string]> = [
  ['/dev/pts', 'dir'],
  ['/dev/shm', 'dir'],
  ['/proc', 'dir'],
  ['/sys', 'dir'],
  ['/.dockerenv', 'file'],
  ['/etc/resolv.conf', 'file'],
  ['/etc/hosts', 'file'],
  ['/etc/hostname', 'file'],
  ['/dev/console', 'file'],
  ['/etc/mtab', '/proc/mounts'],
];

/** Inode ids of what Docker creates: negative, so they never meet the layers' (positive) ids. */
function createdLeaf(type: 'file' | 'symlink', createdAt: number, id: number, linkname = ''): FsNode {
  const inode: Inode = {
    id,
    type,
    mode: type === 'file' ? 0o755 : 0o777,
    uid: 0,
    gid: 0,
    mtime: createdAt,
    size: 0,
    linkname,
    devmajor: 0,
    devminor: 0,
  };
  return { kind: 'leaf', inode };
}

/** MkdirAll of `parts` under `root` (0755 root, createdAt); a directory that gains an entry gets createdAt. */
function mkdirAll(root: DirNode, parts: string[], createdAt: number): DirNode {
  let dir = root;
  for (const c of parts) {
    const child = dir.children.get(c);
    if (child?.kind === 'dir') {
      dir = child;
      continue;
    }
    const d = newDir(0o755, 0, 0, createdAt);
    dir.children.set(c, d);
    dir.mtime = createdAt;
    dir = d;
  }
  return dir;
}

/** Docker's init layer over the flattened image (moby initlayer.Setup, with the observed unlink-first rule). */
export function applyInitLayer(root: DirNode, createdAt: number): void {
  let ids = 0;
  for (const [path, what] of INIT_LAYER_PATHS) {
    const parts = pathComponents(path);
    // unlink every component that is not a directory (unlink fails on directories)
    let dir: DirNode | undefined = root;
    for (const c of parts) {
      if (!dir) break;
      const child: FsNode | undefined = dir.children.get(c);
      if (child && child.kind !== 'dir') {
        dir.children.delete(c);
        dir.mtime = createdAt;
      }
      const next: FsNode | undefined = dir.children.get(c);
      dir = next?.kind === 'dir' ? next : undefined;
    }
    const parent = mkdirAll(root, parts.slice(0, -1), createdAt);
    const base = parts[parts.length - 1]!;
    if (parent.children.has(base)) continue; // an image directory: kept as it is
    parent.mtime = createdAt;
    if (what === 'dir') parent.children.set(base, newDir(0o755, 0, 0, createdAt));
    else if (what === 'file') parent.children.set(base, createdLeaf('file', createdAt, --ids));
    else parent.children.set(base, createdLeaf('symlink', createdAt, --ids, what));
  }
}

/**
 * Resolve `path` inside the root as moby's FollowSymlinkInScope does (absolute links from the root, `..` never
 * above it), returning the clean component list.
 */
function resolveInScope(root: DirNode, path: string): string[] {
  let pending = pathComponents(path);
  const done: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const c = pending.shift()!;
    if (c === '..') {
      done.pop();
      continue;
    }
    let dir: FsNode | undefined = root;
    for (const d of done) dir = dir?.kind === 'dir' ? dir.children.get(d) : undefined;
    const node = dir?.kind === 'dir' ? dir.children.get(c) : undefined;
    if (node?.kind === 'leaf' && node.inode.type === 'symlink') {
      if (++hops > 255) return [...done, c, ...pending];
      const target = node.inode.linkname;
      if (target.startsWith('/')) done.length = 0;
      pending = [...target.split('/').filter((x) => x !== '' && x !== '.'), ...pending];
      continue;
    }
    done.push(c);
  }
  return done;
}

/** `docker create`'s WorkingDir: made (0755, root, createdAt) when missing. Returns the paths created. */
export function applyWorkdir(root: DirNode, workdir: string, createdAt: number): string[] {
  const parts = resolveInScope(root, workdir);
  const created: string[] = [];
  let dir = root;
  for (let i = 0; i < parts.length; i++) {
    const child = dir.children.get(parts[i]!);
    if (child?.kind === 'dir') {
      dir = child;
      continue;
    }
    if (child) {
      throw new EifError(
        'OCI_WORKDIR_NOT_DIR',
        `the image's WorkingDir ${displayName(workdir)} is not a directory (${displayName(parts.slice(0, i + 1).join('/'))} is a file): docker create, and so nitro-cli, fails with "Cannot mkdir"`,
      );
    }
    const d = newDir(0o755, 0, 0, createdAt);
    dir.children.set(parts[i]!, d);
    dir.mtime = createdAt;
    dir = d;
    created.push(parts.slice(0, i + 1).join('/'));
  }
  return created;
}

/** go-archive's walk of a tree: sorted per directory, dirs with `/`, first path of an inode = file, others links. */
export function walkExport(root: DirNode): ExportEntry[] {
  const out: ExportEntry[] = [];
  const seen = new Map<number, string>();
  const visit = (dir: DirNode, prefix: string) => {
    const names = [...dir.children.keys()].sort(); // code-unit order of byte strings = byte-wise order
    for (const name of names) {
      const node = dir.children.get(name)!;
      const path = prefix + name;
      if (node.kind === 'dir') {
        out.push({ name: path + '/', type: 'dir', mode: node.mode, uid: node.uid, gid: node.gid, mtime: node.mtime, size: 0, linkname: '', devmajor: 0, devminor: 0 });
        visit(node, path + '/');
        continue;
      }
      if (node.kind !== 'leaf') continue;
      const ino = node.inode;
      const mode = ino.type === 'symlink' ? 0o777 : ino.mode;
      const first = seen.get(ino.id);
      const base = { mode, uid: ino.uid, gid: ino.gid, mtime: ino.mtime, devmajor: ino.devmajor, devminor: ino.devminor };
      if (first !== undefined) {
        out.push({ name: path, type: 'hardlink', ...base, size: 0, linkname: first });
        continue;
      }
      seen.set(ino.id, path);
      if (ino.type === 'file') {
        out.push({ name: path, type: 'file', ...base, size: ino.size, linkname: '', ...(ino.data ? { data: ino.data } : {}) });
      } else {
        out.push({ name: path, type: ino.type, ...base, size: 0, linkname: ino.linkname });
      }
    }
  };
  visit(root, '');
  return out;
}

/**
 * The `docker export` stream of a container created from an image with these layers (bottom first), before
 * linuxkit's rules. `EntryData.layer` is the position in `layers`.
 *
 * @example
 * import { dockerExport } from 'eifkit/browser';
 * const { entries, warnings } = dockerExport(layerIndexes, { createdAt: Math.floor(Date.now() / 1000) });
 * for (const e of entries) console.log(e.type, e.name);
 */
export function dockerExport(layers: readonly LayerIndex[], opts: DockerExportOptions): DockerExportResult {
  const flat = flattenLayers(layers, { impliedMtime: opts.createdAt });
  const warnings = [...flat.warnings];
  applyInitLayer(flat.root, opts.createdAt);
  if (opts.workdir) {
    const created = applyWorkdir(flat.root, opts.workdir, opts.createdAt);
    if (created.length > 0) {
      warnings.push(
        `not reproducible: the image's WorkingDir ${displayName(opts.workdir)} is missing from its layers; docker create makes ${created.map((p) => displayName(p) + '/').join(', ')} with the time of creation, so nitro-cli's PCR2 changes with every build (add the directory to the image)`,
      );
    }
  }
  return { entries: walkExport(flat.root), warnings };
}
