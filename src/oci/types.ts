/**
 * The shapes that connect the stages of a container-image build (docs/architecture.md "Where a new feature goes";
 * the rules: shared docs/oci-build.md). Browser-safe: bytes and ByteSources in, no `fs`.
 *
 *   BlobStore (docker-archive / OCI archive / OCI layout / registry cache)
 *     → selectImage()   ImageSelection: config, cmd/env/arch, LayerRef[]            (src/oci/image.ts)
 *     → indexLayer()    LayerIndex per layer: uncompressed tar source + TarEntry[]  (src/oci/layer.ts, tar.ts)
 *     → dockerExport()  ExportEntry[]: what `docker export` of `docker create` gives (src/oci/docker-export.ts)
 *     → customerRamdisk() / bootstrapRamdisk(): RamdiskSource, a virtual newc file  (src/oci/linuxkit.ts, src/eif/cpio*.ts)
 *     → the EIF builder reads the ramdisks as any ByteSource (src/eif/walk.ts).
 *
 * Names are **byte strings**: each char is one byte of the name as stored (latin1 decoding), so that sorting by
 * code unit is Go's byte-wise sort and non-UTF-8 names survive unchanged. Convert with `bytesOfName` / `displayName`.
 */
import type { ByteSource } from '../eif/layout.js';

/** Where the blobs of an image are: an archive's members, a layout folder, a registry cache. */
export interface BlobStore {
  /** For messages: "docker archive app.tar", "OCI layout ./app-oci". */
  readonly label: string;
  /** A named file at the root of the store (`manifest.json`, `index.json`, `oci-layout`, `<hex>/layer.tar`), or undefined. */
  file(path: string): Promise<ByteSource | undefined>;
  /** A blob by digest (`sha256:<64 hex>`), or undefined. The digest is checked by the reader, not the store. */
  blob(digest: string): Promise<ByteSource | undefined>;
}

export type Compression = 'none' | 'gzip' | 'zstd';

/** One layer of the chosen image, as the manifest lists it (bottom first). */
export interface LayerRef {
  index: number;
  mediaType: string;
  /** Digest of the stored blob (compressed or not). */
  digest: string;
  /** The config's rootfs.diff_ids entry: digest of the uncompressed tar. */
  diffId?: string;
  size: number;
  compression: Compression;
  /** The stored blob's bytes (still compressed). */
  source: ByteSource;
}

/** The image chosen from a store by `--image` / `--platform`, with what nitro-cli takes from its config. */
export interface ImageSelection {
  /** `amd64` → EIF arch x86_64, `arm64` → aarch64 (nitro-cli: any other is an error). */
  architecture: 'amd64' | 'arm64';
  os: string;
  /** nitro-cli's `cmd` file lines: Config.Cmd when present (even empty), else Config.Entrypoint. */
  cmd: string[];
  /** nitro-cli's `env` file lines: Config.Env (none → empty). */
  env: string[];
  /** The config JSON as parsed (for DockerInfo metadata), and its digest (= Docker's image Id). */
  config: Record<string, unknown>;
  configDigest: string;
  manifestDigest?: string;
  /** Tags the store gives this image (`RepoTags` of manifest.json, `org.opencontainers.image.ref.name`). */
  repoTags: string[];
  layers: LayerRef[];
  /** Things the user should know that do not stop the build (e.g. ENTRYPOINT dropped because CMD is set). */
  warnings: string[];
}

export type EntryType = 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

/** The header fields every stage's entries share (tar member, docker export member, linuxkit member, inode). */
export interface EntryHeader {
  /** Byte string (see the module comment). */
  name: string;
  type: EntryType;
  /** Permission bits with setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch (integer; may be negative: the builder warns). */
  mtime: number;
  /** Data size (0 for everything but regular files). */
  size: number;
  /** Byte string: symlink target, or the hard link's target name. */
  linkname: string;
  devmajor: number;
  devminor: number;
}

/**
 * One member of a layer tar, headers (PAX, GNU long names) applied. `name` and a hard link's `linkname` are
 * normalised: no leading `./` or `/`, no trailing `/` (directories are `type: 'dir'`).
 */
export interface TarEntry extends EntryHeader {
  /** Offset of the data in the layer's uncompressed tar (`LayerIndex.source`). */
  dataOffset: number;
}

/** A layer after one sequential pass: the uncompressed tar (random access) and its entries in archive order. */
export interface LayerIndex {
  ref: LayerRef;
  /** Uncompressed tar bytes: the blob itself, or a spilled copy (temp file in Node, memory/OPFS in browsers). */
  source: ByteSource;
  entries: TarEntry[];
  /** What Docker accepts silently but the user may want to know (e.g. member names above the root, mapped inside). */
  warnings?: string[];
}

/** Where a file's bytes come from in the flattened image. */
export type EntryData = { layer: number; offset: number } | { bytes: Uint8Array };

/**
 * One member of the `docker export` stream that eifkit emulates (before linuxkit's rules). Directory names end
 * in `/`, as go-archive's canonicalTarName writes them; a hard link (`type: 'hardlink'`) names its first path.
 */
export interface ExportEntry extends EntryHeader {
  data?: EntryData;
}

/** A ramdisk whose size is known before its bytes are produced: a ByteSource the builder streams like a file. */
export interface RamdiskSource extends ByteSource {
  /** Entries written (trailer excluded), for `--emit-ramdisks` messages and tests. */
  readonly entryCount: number;
}

/** A name as bytes (the inverse of the latin1 decoding that made the byte string). */
export function bytesOfName(name: string): Uint8Array {
  const out = new Uint8Array(name.length);
  for (let i = 0; i < name.length; i++) out[i] = name.charCodeAt(i) & 0xff;
  return out;
}

/** A byte-string name for people: UTF-8 when it is valid UTF-8, else with `\xNN` escapes. */
export function displayName(name: string): string {
  const bytes = bytesOfName(name);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return Array.from(bytes, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
  }
}
