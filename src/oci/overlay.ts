/**
 * Flatten image layers bottom→top as Docker's overlay2 driver shows them in a container (shared oci-build.md §1.3
 * and §1.4 "flatten layers with overlay semantics"). Each layer is first applied on its own, entry by entry, the way
 * go-archive's Unpack fills a layer's diff directory; the diffs are then stacked like overlayfs stacks them:
 *
 * - in a layer, a later entry at a path replaces an earlier one (a directory over a directory only takes its
 *   attributes: mode, owner, time); `.wh.NAME` marks NAME deleted, `.wh..wh..opq` marks its directory opaque;
 * - a hard link (TypeLink) joins its target's inode, which must be a non-directory of the same layer (Docker
 *   refuses anything else). Unpack runs chrooted, so it chowns, chmods and re-times the shared inode with the
 *   LINK's header (no chmod/time when the target is a symlink): the last header of a group sets its attributes;
 * - a parent directory a layer does not list is created at pull time (0755, root, the extraction time) —
 *   recorded as `implied`, since no one can reproduce its time;
 * - across layers: a whiteout removes the path (and its subtree) below; an upper non-directory hides whatever is
 *   below; an upper directory over a lower directory merges with it unless opaque, the upper's attributes winning;
 * - file times before 1970 (or after 2262) become 0, as Docker's Chtimes sets them; symlinks keep theirs (lutimes).
 * The link, implied-directory and time rules were checked against Docker 20.10 overlay2 `docker export` (test/oci
 * docker-export.test.ts cites the observations). Names are byte strings (src/oci/types.ts). Browser-safe; metadata
 * only, no file data is read.
 */
import { EifError } from '../errors.js';
import type { EntryData, EntryHeader, EntryType, LayerIndex, TarEntry } from './types.js';
import { displayName } from './types.js';

/** The attributes of a non-directory, shared by all paths of a hard-link group. */
export interface Inode extends Omit<EntryHeader, 'name' | 'type'> {
  /** Unique per regular entry across all layers (the key of go-archive's hard-link map). */
  id: number;
  type: Exclude<EntryType, 'dir' | 'hardlink'>;
  data?: EntryData;
}

export interface DirNode {
  kind: 'dir';
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  children: Map<string, FsNode>;
  /** Set by `.wh..wh..opq` in this layer: lower layers' contents hidden. */
  opaque: boolean;
  /** Created because a layer put something under it without listing it (pull-time attributes). */
  implied: boolean;
}

export interface LeafNode {
  kind: 'leaf';
  inode: Inode;
}

export interface WhiteoutNode {
  kind: 'whiteout';
}

export type FsNode = DirNode | LeafNode | WhiteoutNode;

export interface FlattenOptions {
  /** The time given to implied directories (their real time is the daemon's extraction time). */
  impliedMtime: number;
}

export interface FlatTree {
  root: DirNode;
  /** Paths (byte strings, no trailing `/`) of implied directories visible in the result. */
  implied: string[];
  warnings: string[];
}

/** Docker's Chtimes: times before the epoch or after 2262 become the epoch (not for symlinks). */
const MAX_GO_TIME = 9223372036; // time.Unix(0, 1<<63-1) in seconds
function chtime(t: number): number {
  return t < 0 || t > MAX_GO_TIME ? 0 : t;
}

/** Split a byte-string name into clean components (Go filepath.Clean of "/" + name, root-relative). */
export function pathComponents(name: string): string[] {
  const out: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') out.pop();
    else out.push(c);
  }
  return out;
}

export function newDir(mode: number, uid: number, gid: number, mtime: number, implied = false): DirNode {
  return { kind: 'dir', mode, uid, gid, mtime, children: new Map(), opaque: false, implied };
}

const WH = '.wh.';
const PATH_MAX = 4096;
const NAME_MAX = 255;
const OPAQUE = '.wh..wh..opq';

class LayerDiff {
  readonly root = newDir(0o755, 0, 0, 0);

  constructor(
    readonly layerNo: number,
    readonly label: string,
    readonly opts: FlattenOptions,
    readonly nextInode: () => number,
  ) {}

  /** The directory holding `parts[0..n-1]`, creating implied ones (Unpack's MkdirAll 0755). */
  parentDir(parts: string[], entryName: string): DirNode {
    let dir = this.root;
    for (let i = 0; i < parts.length - 1; i++) {
      const c = parts[i]!;
      const child = dir.children.get(c);
      if (!child) {
        const d = newDir(0o755, 0, 0, this.opts.impliedMtime, true);
        dir.children.set(c, d);
        dir = d;
      } else if (child.kind === 'dir') {
        dir = child;
      } else {
        const what = child.kind === 'whiteout' ? 'a whiteout' : child.inode.type === 'symlink' ? 'a symlink' : `a ${child.inode.type}`;
        throw new EifError(
          'OCI_LAYER_PATH',
          `${this.label}: ${displayName(entryName)} lies under ${displayName(parts.slice(0, i + 1).join('/'))}, which this layer made ${what}; ${
            what === 'a symlink'
              ? 'Docker would write through the symlink inside the layer, which eifkit does not emulate (list the real path in the layer)'
              : 'Docker cannot extract that layer (not a directory)'
          }`,
        );
      }
    }
    return dir;
  }

  lookup(parts: string[]): FsNode | undefined {
    let node: FsNode | undefined = this.root;
    for (const c of parts) {
      if (!node || node.kind !== 'dir') return undefined;
      node = node.children.get(c);
    }
    return node;
  }

  apply(e: TarEntry): void {
    const parts = pathComponents(e.name);
    // Linux limits (ENAMETOOLONG): Docker's extraction fails on these, so the image cannot be loaded.
    let pathLength = parts.length;
    for (const c of parts) pathLength += c.length;
    const long = pathLength >= PATH_MAX ? 'its path' : parts.find((c) => c.length > NAME_MAX) ? 'a component of its path' : e.type === 'symlink' && e.linkname.length >= PATH_MAX ? 'its symlink target' : undefined;
    if (long) {
      throw new EifError('OCI_NAME_TOO_LONG', `${this.label}: ${displayName(e.name.slice(0, 120))}${e.name.length > 120 ? '…' : ''}: ${long} is longer than Linux allows (4095 bytes for a path, 255 for a name); docker load fails on it`);
    }
    if (parts.length === 0) {
      // The layer's root (`./`): Docker applies its attributes to the root, which export never lists.
      return;
    }
    const base = parts[parts.length - 1]!;
    const dir = this.parentDir(parts, e.name);
    if (base.startsWith(WH)) {
      if (base === OPAQUE) dir.opaque = true;
      else {
        // Docker's overlay2 unpacker turns `.wh.X` into a 0/0 character device named X (mknod): if this layer
        // already listed X (file, link, directory, or a parent made for one), mknod fails with EEXIST and
        // `docker load` refuses the layer (observed with Docker 20.10; test/helpers/hostile-cases.ts).
        const target = base.slice(WH.length);
        const existing = dir.children.get(target);
        if (existing && existing.kind !== 'whiteout') {
          throw new EifError(
            'OCI_WHITEOUT_CONFLICT',
            `${this.label}: ${displayName(e.name)} deletes ${displayName([...parts.slice(0, -1), target].join('/'))}, which the same layer lists before it; docker load refuses such a layer (mknod: file exists)`,
          );
        }
        dir.children.set(target, { kind: 'whiteout' });
      }
      return;
    }
    const existing = dir.children.get(base);
    if (e.type === 'dir') {
      if (existing?.kind === 'dir') {
        existing.mode = e.mode & 0o7777;
        existing.uid = e.uid;
        existing.gid = e.gid;
        existing.mtime = chtime(e.mtime);
        existing.implied = false;
      } else {
        dir.children.set(base, newDir(e.mode & 0o7777, e.uid, e.gid, chtime(e.mtime)));
      }
      return;
    }
    if (e.type === 'hardlink') {
      const targetParts = pathComponents(e.linkname);
      const target = this.lookup(targetParts);
      if (!target || target.kind !== 'leaf' || targetParts.join('/') === parts.join('/')) {
        const what = !target ? 'nothing in this layer' : target.kind === 'dir' ? 'a directory' : target.kind === 'whiteout' ? 'a deleted path' : 'itself';
        throw new EifError(
          'OCI_HARDLINK_TARGET',
          `${this.label}: hard link ${displayName(e.name)} → ${displayName(e.linkname)} points to ${what} (a link may only name a file listed earlier in the same layer; docker load refuses it)`,
        );
      }
      const inode = target.inode;
      inode.uid = e.uid;
      inode.gid = e.gid;
      if (inode.type !== 'symlink') {
        inode.mode = e.mode & 0o7777;
        inode.mtime = chtime(e.mtime);
      }
      dir.children.set(base, { kind: 'leaf', inode });
      return;
    }
    const inode: Inode = {
      id: this.nextInode(),
      type: e.type,
      mode: e.mode & 0o7777,
      uid: e.uid,
      gid: e.gid,
      mtime: e.type === 'symlink' ? e.mtime : chtime(e.mtime),
      size: e.type === 'file' ? e.size : 0,
      linkname: e.type === 'symlink' ? e.linkname : '',
      devmajor: e.type === 'char' || e.type === 'block' ? e.devmajor : 0,
      devminor: e.type === 'char' || e.type === 'block' ? e.devminor : 0,
      ...(e.type === 'file' && e.size > 0 ? { data: { layer: this.layerNo, offset: e.dataOffset } } : {}),
    };
    dir.children.set(base, { kind: 'leaf', inode });
  }
}

/** Drop whiteouts from a subtree that lands where nothing lies below it. */
function stripWhiteouts(dir: DirNode): DirNode {
  for (const [name, child] of dir.children) {
    if (child.kind === 'whiteout') dir.children.delete(name);
    else if (child.kind === 'dir') stripWhiteouts(child);
  }
  dir.opaque = false;
  return dir;
}

/** Stack `upper` (one layer's diff) onto `lower` (the merged tree so far), overlayfs style. */
function mergeDir(lower: DirNode, upper: DirNode): void {
  for (const [name, u] of upper.children) {
    const l = lower.children.get(name);
    if (u.kind === 'whiteout') {
      lower.children.delete(name);
    } else if (u.kind === 'leaf' || !l || l.kind !== 'dir' || u.opaque) {
      lower.children.set(name, u.kind === 'dir' ? stripWhiteouts(u) : u);
    } else {
      l.mode = u.mode;
      l.uid = u.uid;
      l.gid = u.gid;
      l.mtime = u.mtime;
      l.implied = u.implied;
      mergeDir(l, u);
    }
  }
}

function collectImplied(dir: DirNode, prefix: string, out: string[]): void {
  for (const [name, child] of dir.children) {
    if (child.kind !== 'dir') continue;
    const path = prefix + name;
    if (child.implied) out.push(path);
    collectImplied(child, path + '/', out);
  }
}

/**
 * Flatten `layers` (bottom first) into the tree a container of the image sees. `EntryData.layer` in the result
 * is the position in `layers`.
 *
 * @example
 * import { flattenLayers } from 'eifkit/browser';
 * const { root, implied, warnings } = flattenLayers(layerIndexes, { impliedMtime: Math.floor(Date.now() / 1000) });
 */
export function flattenLayers(layers: readonly LayerIndex[], opts: FlattenOptions): FlatTree {
  let inodes = 0;
  const nextInode = () => ++inodes;
  const root = newDir(0o755, 0, 0, 0);
  layers.forEach((layer, i) => {
    const label = `layer ${i + 1} (${layer.ref.digest || `#${layer.ref.index}`})`;
    const diff = new LayerDiff(i, label, opts, nextInode);
    for (const e of layer.entries) diff.apply(e);
    mergeDir(root, diff.root);
  });
  const implied: string[] = [];
  collectImplied(root, '', implied);
  const warnings: string[] = [];
  if (implied.length > 0) {
    const shown = implied.slice(0, 5).map((p) => displayName(p) + '/').join(', ');
    warnings.push(
      `not reproducible: ${implied.length} director${implied.length === 1 ? 'y is' : 'ies are'} not listed in the layer that fills ${implied.length === 1 ? 'it' : 'them'} (${shown}${implied.length > 5 ? ', …' : ''}); Docker creates such directories at pull time with the time of extraction, so nitro-cli's PCR2 differs from machine to machine (eifkit uses the creation time)`,
    );
  }
  return { root, implied, warnings };
}
