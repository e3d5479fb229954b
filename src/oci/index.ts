/**
 * The container-image → ramdisks stages that the CLI and the web page call (shared oci-build.md §1.3–§1.4).
 * Browser-safe.
 */
import { dockerExport } from './docker-export.js';
import { customerRamdiskWithWarnings } from './linuxkit.js';
import type { ExportEntry, ImageSelection, LayerIndex, RamdiskSource } from './types.js';

export { flattenLayers, type FlatTree, type FlattenOptions } from './overlay.js';
export { dockerExport, type DockerExportOptions, type DockerExportResult } from './docker-export.js';
export {
  bootstrapRamdisk,
  customerRamdisk,
  customerRamdiskWithWarnings,
  linuxkitCustomerTar,
  cpioEntriesOfTar,
  goRel,
  LINUXKIT_HOSTS,
  RESOLV_CONF_TARGET,
  type LinuxkitEntry,
  type CustomerRamdisk,
} from './linuxkit.js';

export interface ImageRamdisks {
  /** nitro-cli's `customer-initrd.img`, as a virtual file of known size. */
  customer: RamdiskSource;
  /** What does not stop the build: the selection's, the flattening's, and the ramdisk writer's warnings. */
  warnings: string[];
  /** The `docker export` entries, before linuxkit's rules (for `eif ramdisk` tools and differential tests). */
  exportEntries: ExportEntry[];
}

/** The image config's WorkingDir (`config.config.WorkingDir` of the image JSON), if any. */
function workingDir(config: Record<string, unknown>): string | undefined {
  const c = config['config'];
  if (c && typeof c === 'object' && !Array.isArray(c)) {
    const w = (c as Record<string, unknown>)['WorkingDir'];
    if (typeof w === 'string' && w !== '') return w;
  }
  return undefined;
}

/**
 * The customer ramdisk of an image, as nitro-cli's linuxkit `--docker` path makes it: `docker export` of a container
 * created from the image (created at `createdAt`, default now), then linuxkit's rules and gocpio. `layers` are the
 * selection's layers indexed, bottom first.
 *
 * @example
 * import { imageRamdisks, bootstrapRamdisk } from 'eifkit/browser';
 * const { customer, warnings } = imageRamdisks(selection, layerIndexes);
 * const bootstrap = await bootstrapRamdisk({ init, nsm });
 */
export function imageRamdisks(selection: ImageSelection, layers: readonly LayerIndex[], opts: { createdAt?: number } = {}): ImageRamdisks {
  const createdAt = opts.createdAt ?? Math.floor(Date.now() / 1000);
  const workdir = workingDir(selection.config);
  const exported = dockerExport(layers, { createdAt, ...(workdir ? { workdir } : {}) });
  const ramdisk = customerRamdiskWithWarnings(exported.entries, layers, { cmd: selection.cmd, env: selection.env });
  return { customer: ramdisk.source, warnings: [...selection.warnings, ...exported.warnings, ...ramdisk.warnings], exportEntries: exported.entries };
}
