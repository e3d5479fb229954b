/**
 * The metadata section of an EIF built from a container image, shaped as nitro-cli writes it — oci-build.md §1.1
 * ("Metadata"), §7 step 7. None of it is measured (no PCR depends on it), but users read it with describe-eif.
 *
 * - ImageName: `--name`, else the image reference up to its first `:` (nitro-cli's rule, also for a registry
 *   with a port: `localhost:5000/app:1` → `localhost`); for an archive, the reference is the chosen tag, else
 *   the archive's file name.
 * - ImageVersion: `--version`, else the image Id (the config digest) without `sha256:`.
 * - DockerInfo: nitro-cli stores the daemon's whole `docker inspect` (bollard ImageInspect), which holds
 *   host-dependent fields (GraphDriver paths, Metadata.LastTagTime). We synthesise the fields that follow from
 *   the image alone: Id, RepoTags, RepoDigests, Parent, Comment, Created, DockerVersion, Author, Config,
 *   Architecture, Variant, Os, OsVersion, Size, RootFS.
 * Browser-safe.
 */
import { type JsonValue, fromPlain } from '../eif/serde-json.js';
import type { ImageSelection, LayerIndex } from './types.js';

/** Where the image came from, for the default ImageName. */
export interface ImageOrigin {
  /** The reference the user named (`--image`, a registry reference), if any. */
  reference?: string;
  /** The archive's or layout's base name (`app.tar`), the last resort. */
  fileName?: string;
}

/**
 * nitro-cli's default ImageName: the reference (or chosen tag, or file name) up to its first `:`.
 *
 * @example
 * import { nitroImageName } from 'eifkit/browser';
 * nitroImageName(selection, { reference: 'app:1.2' }); // "app"
 * nitroImageName({ ...selection, repoTags: [] }, { fileName: 'app.tar' }); // "app.tar"
 */
export function nitroImageName(sel: Pick<ImageSelection, 'repoTags'>, origin: ImageOrigin): string {
  const ref = origin.reference ?? sel.repoTags[0] ?? origin.fileName ?? 'image';
  const colon = ref.indexOf(':');
  return colon < 0 ? ref : ref.slice(0, colon);
}

/**
 * nitro-cli's default ImageVersion: the image Id (config digest) without its `sha256:` prefix.
 *
 * @example
 * import { nitroImageVersion } from 'eifkit/browser';
 * nitroImageVersion({ configDigest: 'sha256:ab12…' }); // "ab12…"
 */
export function nitroImageVersion(sel: Pick<ImageSelection, 'configDigest'>): string {
  return sel.configDigest.replace(/^sha256:/, '');
}

/**
 * Docker's `Size` of an image: the bytes of the files its layers hold (what the daemon counts in each layer's
 * diff directory; a hard link's data counted once, in the layer that has it).
 *
 * @example
 * import { imageContentSize } from 'eifkit/browser';
 * const size = imageContentSize(layerIndexes); // bytes of regular files in all layers
 */
export function imageContentSize(layers: readonly Pick<LayerIndex, 'entries'>[]): number {
  let n = 0;
  for (const l of layers) for (const e of l.entries) if (e.type === 'file') n += e.size;
  return n;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * DockerInfo synthesised from the image config and the store (see the module comment): what `docker inspect`
 * shows that does not depend on the host that ran it. Keys come out sorted, as serde_json writes a Value.
 *
 * @example
 * import { synthesizeDockerInfo } from 'eifkit/browser';
 * const info = synthesizeDockerInfo(selection, { size: 1234 });
 */
export function synthesizeDockerInfo(sel: ImageSelection, o: { size?: number } = {}): JsonValue {
  const c = sel.config;
  const rootfs = (c.rootfs ?? {}) as Record<string, unknown>;
  const info: Record<string, unknown> = {
    Id: sel.configDigest,
    RepoTags: [...sel.repoTags],
    RepoDigests: [],
    Parent: '',
    Comment: str(c.comment) ?? '',
    Created: str(c.created) ?? '',
    DockerVersion: str(c.docker_version) ?? '',
    Author: str(c.author) ?? '',
    Config: c.config ?? null,
    Architecture: sel.architecture,
    Os: sel.os,
    Size: o.size ?? 0,
    RootFS: { Type: str(rootfs.type) ?? 'layers', Layers: Array.isArray(rootfs.diff_ids) ? rootfs.diff_ids : [] },
  };
  if (str(c.variant)) info.Variant = c.variant;
  if (str(c['os.version'])) info.OsVersion = c['os.version'];
  return fromPlain(info);
}

/** The metadata fields an image build sets (the rest are eif build's: BuildTime, BuildTool, …). */
export interface ImageMetadataFields {
  name: string;
  version: string;
  dockerInfo: JsonValue;
}

/**
 * ImageName, ImageVersion and DockerInfo for an image build: the user's `--name` / `--version` win, else
 * nitro-cli's defaults.
 *
 * @example
 * import { imageMetadataFields } from 'eifkit/browser';
 * const m = imageMetadataFields(selection, layers, { fileName: 'app.tar' }, { name: undefined, version: undefined });
 * // { name: 'app', version: '<config digest hex>', dockerInfo: {...} }
 */
export function imageMetadataFields(
  sel: ImageSelection,
  layers: readonly Pick<LayerIndex, 'entries'>[],
  origin: ImageOrigin,
  user: { name?: string; version?: string },
): ImageMetadataFields {
  return {
    name: user.name ?? nitroImageName(sel, origin),
    version: user.version ?? nitroImageVersion(sel),
    dockerInfo: synthesizeDockerInfo(sel, { size: imageContentSize(layers) }),
  };
}
