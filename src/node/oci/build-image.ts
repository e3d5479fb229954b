/**
 * `eif build --docker-archive | --oci-layout | --oci-archive` for files — oci-build.md §1.1, §7: open the image
 * (src/node/oci/image-source.ts), find nitro-cli's blobs for the image's architecture (./blobs.ts), index the
 * layers once, make both ramdisks as virtual files of known size (src/oci: docker export emulation, linuxkit's
 * rules, gocpio), and stream them with the kernel and the trimmed cmdline through the one-pass builder
 * (src/node/builder.ts): the header goes first, every ramdisk byte is produced once, hashed and written. The
 * metadata is nitro-cli's (src/oci/nitro-metadata.ts). `--emit-ramdisks DIR` writes the two ramdisks under
 * nitro-cli's artifact names, each atomically.
 */
import { basename, join, resolve } from 'node:path';
import { closeSync, mkdirSync, statSync, writeSync } from 'node:fs';
import { EifError } from '../../errors.js';
import type { EifSigner } from '../../eif/builder.js';
import type { ByteSource } from '../../eif/layout.js';
import { kernelConfigInfo } from '../../eif/metadata.js';
import type { ImageSelection, LayerIndex, RamdiskSource } from '../../oci/types.js';
import { imageMetadataFields } from '../../oci/nitro-metadata.js';
import { buildEifFile, type BuildFileResult } from '../builder.js';
import { checkOutputPath, openAtomic } from '../atomic.js';
import { fileSource, openInput, readInputFile } from '../file-source.js';
import { type Blobs, resolveBlobs } from './blobs.js';
import { defaultImageStages } from './stages.js';
import type { RegistryFlags } from '../registry/index.js';

/** The pull flags of `--docker-uri` (all but the reference and the platform). */
export type RegistryPullFlags = Omit<RegistryFlags, 'docker-uri' | 'platform'>;

/** `docker-uri`: `path` is an image reference, pulled from its registry (src/node/registry, issue 12). */
export type ImageInputKind = 'docker-archive' | 'oci-archive' | 'oci-layout' | 'docker-uri';

/** The stages an image build runs (the real ones by default; tests may pass others). */
export interface ImageStages {
  open(kind: ImageInputKind, path: string, opts: { image?: string; platform?: string; tmpDir?: string; registry?: RegistryPullFlags }): Promise<{
    selection: ImageSelection;
    indexLayers(onLayer?: (done: number, total: number) => void): Promise<LayerIndex[]>;
    close(): void;
  }>;
  customer(selection: ImageSelection, layers: readonly LayerIndex[], opts: { createdAt: number }): { customer: RamdiskSource; warnings: string[] };
  bootstrap(blobs: { init: ByteSource; nsm: ByteSource }): Promise<RamdiskSource>;
}

export interface BuildImageEifOptions {
  kind: ImageInputKind;
  /** The archive file or layout folder. */
  path: string;
  /** `--image`: which tag / ref name when the input holds several. */
  image?: string;
  /** `--platform linux/amd64|linux/arm64`: which manifest of a multi-arch index. */
  platform?: string;
  /** With `kind: 'docker-uri'`: `--cache` / `--no-cache` / `--insecure-registry` / `--quiet` for the pull. */
  registry?: RegistryPullFlags;
  /** `--blobs DIR` (else $NITRO_CLI_BLOBS, else /usr/share/nitro_enclaves/blobs/). */
  blobsDir?: string;
  output: string;
  name?: string;
  version?: string;
  metadataFile?: string;
  buildTime?: string;
  buildTool?: string;
  buildToolVersion?: string;
  signer?: EifSigner;
  /** Defaults to process.env.SOURCE_DATE_EPOCH; also the time the emulated container is created at. */
  sourceDateEpoch?: string;
  /** Write `bootstrap-initrd.img` and `customer-initrd.img` here (nitro-cli's artifact names). */
  emitRamdisks?: string;
  /** Temp folder for uncompressed copies of compressed layers. */
  tmpDir?: string;
  env?: Record<string, string | undefined>;
  extraInputs?: string[];
  parallel?: boolean;
  /** Things the user should know (printed by the CLI as `eif: warning: …`). */
  onWarning?: (message: string) => void;
  /** Layers indexed (pass 1), then bytes of the EIF written (pass 2). */
  onLayers?: (done: number, total: number) => void;
  onProgress?: (done: number, total: number) => void;
  stages?: ImageStages;
}

export interface BuildImageEifResult extends BuildFileResult {
  image: { architecture: 'amd64' | 'arm64'; id: string; repoTags: string[]; layers: number };
  blobs: Blobs;
  ramdisks: { bootstrap: number; customer: number; customerEntries: number };
  /** Paths written by `emitRamdisks`. */
  emitted: string[];
  warnings: string[];
}

/** nitro-cli's artifact names for the two ramdisks (oci-build.md §1.1, "linuxkit commands"). */
export const RAMDISK_ARTIFACTS = { bootstrap: 'bootstrap-initrd.img', customer: 'customer-initrd.img' } as const;

/**
 * Copy a ByteSource into `path` atomically (temp file + rename), in 1 MiB reads.
 *
 * @example
 * import { writeSourceFile, bytesSource } from 'eifkit';
 * await writeSourceFile(bytesSource(new Uint8Array(512)), 'empty.img');
 */
export async function writeSourceFile(source: ByteSource, path: string): Promise<void> {
  checkOutputPath(path, []);
  const out = openAtomic(path);
  try {
    for (let off = 0; off < source.size; off += 1 << 20) {
      const piece = await source.read(off, Math.min(1 << 20, source.size - off));
      let done = 0;
      while (done < piece.length) done += writeSync(out.fd, piece, done, piece.length - done, off + done);
    }
    out.commit();
  } catch (e) {
    throw out.fail(e);
  }
}

/** The time the emulated `docker create` happens: SOURCE_DATE_EPOCH when set (reproducible), else now. */
function createdAt(sde: string | undefined): number {
  if (sde !== undefined && /^\d{1,12}$/.test(sde)) return Number(sde);
  return Math.floor(Date.now() / 1000);
}

/**
 * Build an EIF from a container image file or folder, with nitro-cli's PCRs (see the module comment). Throws
 * EifError; the output file is complete or absent.
 *
 * @example
 * import { buildEifFileFromImage } from 'eifkit';
 * const r = await buildEifFileFromImage({ kind: 'docker-archive', path: 'app.tar', blobsDir: './blobs', output: 'app.eif' });
 * console.log(r.measurements.PCR0, r.image.id);
 */
export async function buildEifFileFromImage(o: BuildImageEifOptions): Promise<BuildImageEifResult> {
  const stages = o.stages ?? (await defaultImageStages());
  const warnings: string[] = [];
  const warn = (m: string) => {
    warnings.push(m);
    o.onWarning?.(m);
  };
  const sde = o.sourceDateEpoch ?? (o.env ?? process.env).SOURCE_DATE_EPOCH;
  // Fail on a bad output before reading the image.
  checkOutputPath(o.output, o.kind === 'docker-uri' ? [] : [o.path]);
  if (o.emitRamdisks !== undefined) {
    const d = resolve(o.emitRamdisks);
    try {
      mkdirSync(d, { recursive: true });
    } catch (e) {
      throw new EifError('OUTPUT_DIR_MISSING', `--emit-ramdisks ${o.emitRamdisks}: cannot create the folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    if (!statSync(d).isDirectory()) throw new EifError('OUTPUT_NOT_FILE', `--emit-ramdisks ${o.emitRamdisks} is not a folder`);
  }
  const src = await stages.open(o.kind, o.path, { image: o.image, platform: o.platform, tmpDir: o.tmpDir, registry: o.registry });
  const opened: number[] = [];
  try {
    const sel = src.selection;
    for (const w of sel.warnings) warn(w);
    const blobs = resolveBlobs({ dir: o.blobsDir, arch: sel.architecture === 'arm64' ? 'aarch64' : 'x86_64', env: o.env });
    for (const w of blobs.warnings) warn(w);
    const layers = await src.indexLayers(o.onLayers);
    const { customer, warnings: rw } = stages.customer(sel, layers, { createdAt: createdAt(sde) });
    for (const w of rw) if (!sel.warnings.includes(w)) warn(w);
    const blobFile = (p: string, what: string): ByteSource => {
      const f = openInput(p, what);
      opened.push(f.fd);
      return fileSource(f.fd, f.size);
    };
    const bootstrap = await stages.bootstrap({ init: blobFile(blobs.init, 'init blob'), nsm: blobFile(blobs.nsmKo, 'nsm.ko blob') });
    const info = blobs.kernelConfig
      ? kernelConfigInfo(readInputFile(blobs.kernelConfig, 'kernel config', { bytes: 1 << 20, code: 'INPUT_TOO_LARGE' }))
      : { os: 'Unknown', kernel: 'Unknown' };
    const meta = imageMetadataFields(sel, layers, o.kind === 'docker-uri' ? { reference: o.image ?? o.path } : { reference: o.image, fileName: basename(resolve(o.path)) }, { name: o.name, version: o.version });
    const r = await buildEifFile({
      kernel: blobs.kernel,
      cmdline: blobs.cmdline,
      ramdisks: [
        { source: bootstrap, label: `the bootstrap ramdisk (from ${blobs.init}, ${blobs.nsmKo})` },
        { source: customer, label: `the customer ramdisk of ${o.path}` },
      ],
      output: o.output,
      arch: blobs.arch,
      name: meta.name,
      version: meta.version,
      dockerInfo: meta.dockerInfo,
      imgOs: info.os,
      imgKernel: info.kernel,
      metadataFile: o.metadataFile,
      buildTime: o.buildTime,
      buildTool: o.buildTool,
      buildToolVersion: o.buildToolVersion,
      sourceDateEpoch: sde,
      signer: o.signer,
      parallel: o.parallel,
      extraInputs: [o.path, blobs.init, blobs.nsmKo, ...(blobs.kernelConfig ? [blobs.kernelConfig] : []), ...(o.extraInputs ?? [])],
      onProgress: o.onProgress,
    });
    const emitted: string[] = [];
    if (o.emitRamdisks !== undefined) {
      for (const [key, source] of [['bootstrap', bootstrap], ['customer', customer]] as const) {
        const p = join(o.emitRamdisks, RAMDISK_ARTIFACTS[key]);
        await writeSourceFile(source, p);
        emitted.push(p);
      }
    }
    return {
      ...r,
      image: { architecture: sel.architecture, id: sel.configDigest, repoTags: sel.repoTags, layers: layers.length },
      blobs,
      ramdisks: { bootstrap: bootstrap.size, customer: customer.size, customerEntries: customer.entryCount },
      emitted,
      warnings,
    };
  } finally {
    for (const fd of opened) closeSync(fd);
    src.close();
  }
}
