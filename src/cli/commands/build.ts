/**
 * `eif build` — flags compatible with AWS `eif_build` (eif-format.md §6.1), plus --quiet and --format; and
 * `eif build-enclave`, nitro-cli's spelling (§6.2): the same build with `--output-file`. Both also build from a
 * container image file or folder (`--docker-archive`, `--oci-layout`, `--oci-archive`; shared oci-build.md §7,
 * src/node/oci/build-image.ts) with nitro-cli's blobs and PCRs, and from a registry (`--docker-uri REF`, pulled
 * without a daemon: src/node/registry, docs/registry.md); nitro-cli's `--docker-dir` needs a Docker daemon and is
 * refused with the daemon-less form to use instead. Differences on purpose: --version is honoured; BuildTime comes from --build-time, else
 * SOURCE_DATE_EPOCH, else now; `--kernel_config` fills OperatingSystem / KernelVersion but never overrides
 * explicit flags (eif_build 0.3.1 ignores them then, §5.2).
 */
import type { Argv, CommandModule } from 'yargs';
import { printJson } from '../output.js';
import { progressBar } from '../progress.js';
import { usageError } from '../../errors.js';
import { readInputFile } from '../../node/file-source.js';
import { rfc3339Ms } from '../../util/rfc3339.js';
import type { Measurements } from '../../eif/pcr.js';
import { kernelConfigInfo } from '../../eif/metadata.js';
import { minimumMemoryMiB } from '../../launcher/sizing.js';

export { kernelConfigInfo };

export type MeasurementFormat = 'nitro' | 'eif_build' | 'json';

/** Print measurements the way nitro-cli (`{"Measurements": …}`) or eif_build (bare map) does. */
export function printMeasurements(m: Measurements, format: MeasurementFormat, extra: Record<string, unknown> = {}): void {
  if (format === 'nitro') printJson({ Measurements: m });
  else if (format === 'eif_build') printJson(m);
  else printJson({ ...extra, Measurements: m });
}

interface BuildArgs {
  kernel?: string;
  cmdline?: string;
  ramdisk?: string[];
  output?: string;
  'docker-archive'?: string;
  'oci-layout'?: string;
  'oci-archive'?: string;
  image?: string;
  platform?: string;
  blobs?: string;
  'emit-ramdisks'?: string;
  name?: string;
  version?: string;
  metadata?: string;
  arch: 'x86_64' | 'aarch64';
  'build-time'?: string;
  'build-tool'?: string;
  'build-tool-version'?: string;
  'img-os'?: string;
  'img-kernel'?: string;
  quiet: boolean;
  format: MeasurementFormat;
  'signing-certificate'?: string;
  'private-key'?: string;
  'signer-command'?: string;
  algo?: string;
  kernel_config?: string;
  'docker-uri'?: string;
  'docker-dir'?: string;
  /** `--cache DIR`, or false from `--no-cache` (yargs' negation). */
  cache?: string | false;
  'insecure-registry'?: string[];
}

/**
 * eif_build's `--algo`: the hash of the measurements. Nitro's PCRs are SHA-384 (eif-format.md §3.1), so only
 * sha384 builds an image whose PCRs an enclave reports; sha256 / sha512 are refused with that reason.
 */
export function checkAlgo(algo: string | undefined): void {
  if (algo === undefined || algo.toLowerCase() === 'sha384') return;
  const known = ['sha256', 'sha512'].includes(algo.toLowerCase());
  throw usageError(
    known
      ? `--algo ${algo}: not supported; PCRs are SHA-384 on Nitro Enclaves, so a ${algo} image's measurements match nothing an enclave reports (use --algo sha384 or leave it out)`
      : `--algo ${algo}: unknown algorithm; eif_build takes sha256, sha384 or sha512, and only sha384 matches Nitro's PCRs (SHA-384)`,
    'BUILD_ALGO_UNSUPPORTED',
  );
}

/** `--docker-dir`: building a Dockerfile needs a Docker daemon; refused with the daemon-less forms (`--docker-uri` pulls). */
function refuseDocker(a: BuildArgs, command: string): void {
  const out = command === 'build-enclave' ? '--output-file' : '--output';
  if (a['docker-dir'] === undefined) return;
  throw usageError(
    `--docker-dir: eifkit does not talk to a Docker daemon; build and save the image, then build from that (same PCRs as nitro-cli): ` +
      `docker build -t app:latest ${a['docker-dir']} && docker save app:latest -o app.tar && eif ${command} --docker-archive app.tar ${out} app.eif ` +
      `(also --docker-uri REF after a push, --oci-layout DIR, --oci-archive FILE), or from a kernel and ramdisks: ` +
      `eif ${command} --kernel bzImage --cmdline "$(cat cmdline)" --ramdisk bootstrap-initrd.img --ramdisk customer-initrd.img ${out} app.eif`,
    'BUILD_DOCKER_UNSUPPORTED',
  );
}

const IMAGE_INPUTS = ['docker-archive', 'oci-layout', 'oci-archive', 'docker-uri'] as const;
/** Flags that only mean something with an image input. */
const IMAGE_ONLY = ['image', 'platform', 'blobs', 'emit-ramdisks', 'cache', 'insecure-registry'] as const;
/** Flags of the kernel/ramdisk build that an image build takes from the blobs and the image instead. */
const KERNEL_ONLY = ['kernel', 'cmdline', 'ramdisk', 'kernel_config', 'arch', 'img-os', 'img-kernel'] as const;

/** Which image input the flags name, if any; BUILD_INPUT_CONFLICT for mixed inputs (exit 2). */
export function imageInputOf(a: Record<string, unknown>, raw: readonly string[] = []): { kind: (typeof IMAGE_INPUTS)[number]; path: string } | undefined {
  const given = IMAGE_INPUTS.filter((k) => a[k] !== undefined);
  if (given.length > 1) {
    throw usageError(`${given.map((k) => `--${k}`).join(' and ')}: give one image input`, 'BUILD_INPUT_CONFLICT');
  }
  if (given.length === 0) {
    const stray = IMAGE_ONLY.filter((k) => a[k] !== undefined);
    if (stray.length > 0) {
      throw usageError(`${stray.map((k) => `--${k}`).join(', ')} only apply to a build from a container image (--docker-archive FILE, --oci-layout DIR, --oci-archive FILE or --docker-uri REF)`, 'BUILD_INPUT_CONFLICT');
    }
    return undefined;
  }
  const kind = given[0]!;
  // --arch has a default, so only a flag the user typed counts.
  const typed = (k: string) => (k === 'arch' ? raw.some((t) => t === '--arch' || t.startsWith('--arch=')) : a[k] !== undefined);
  const mixed = KERNEL_ONLY.filter(typed);
  if (mixed.length > 0) {
    throw usageError(
      `--${kind} cannot be combined with ${mixed.map((k) => `--${k}`).join(', ')}: an image build takes the kernel, cmdline and bootstrap files from the blobs (--blobs DIR) and the architecture from the image`,
      'BUILD_INPUT_CONFLICT',
    );
  }
  const path = a[kind];
  if (typeof path !== 'string' || path === '') throw usageError(`--${kind} takes one ${kind === 'docker-uri' ? 'image reference' : 'path'}`);
  return { kind, path };
}

/** The flags of both spellings; the handler names what is missing (the inputs differ for an image build). */
function buildOptions(y: Argv): Argv<BuildArgs> {
  return y
    .option('kernel', { type: 'string', describe: 'kernel image (bzImage on x86_64, Image on aarch64)' })
    .option('kernel_config', { type: 'string', alias: 'kernel-config', describe: 'kernel config: OperatingSystem / KernelVersion from its line 3 unless --img-os / --img-kernel are given' })
    .option('cmdline', { type: 'string', describe: 'kernel command line, verbatim' })
    .option('ramdisk', { type: 'string', array: true, describe: 'ramdisk (repeat; the first is the bootstrap ramdisk measured into PCR1)' })
    .option('output', { type: 'string', alias: 'output-file', describe: 'output EIF path (--output-file: nitro-cli spelling)' })
    .option('name', { type: 'string', describe: 'ImageName (default: the kernel file name)' })
    .option('version', { type: 'string', describe: 'ImageVersion (default: --name, else 1.0)' })
    .option('metadata', { type: 'string', describe: 'custom metadata JSON file (≤ 4096 bytes)' })
    .option('arch', { choices: ['x86_64', 'aarch64'] as const, default: 'x86_64' as const })
    .option('build-time', { type: 'string', describe: 'BuildTime (default: SOURCE_DATE_EPOCH, else now)' })
    .option('build-tool', { type: 'string', describe: 'BuildTool (default: eifkit)' })
    .option('build-tool-version', { type: 'string', describe: 'BuildToolVersion' })
    .option('img-os', { type: 'string', describe: 'OperatingSystem (default: OS)' })
    .option('img-kernel', { type: 'string', describe: 'KernelVersion (default: kernel)' })
    .option('algo', { type: 'string', describe: 'measurement hash (eif_build flag): sha384 only, as Nitro PCRs are SHA-384' })
    .option('signing-certificate', { type: 'string', describe: 'PEM certificate to sign with (with --private-key or --signer-command)' })
    .option('private-key', { type: 'string', describe: 'PEM EC private key file, or a KMS key ARN' })
    .option('signer-command', { type: 'string', describe: 'command that signs the digest on stdin (HSM, other clouds)' })
    .option('docker-archive', { type: 'string', describe: 'build from a container image: a `docker save` tar (legacy or OCI form, as buildx writes it)' })
    .option('oci-layout', { type: 'string', describe: 'build from a container image: an OCI image layout folder' })
    .option('oci-archive', { type: 'string', describe: 'build from a container image: a tar of an OCI image layout' })
    .option('image', { type: 'string', describe: 'with an image input: which image (tag or ref name) when it holds several' })
    .option('platform', { type: 'string', describe: 'with an image input: linux/amd64 or linux/arm64 from a multi-arch index (default: the only one, else the host)' })
    .option('blobs', { type: 'string', describe: 'with an image input: nitro-cli blobs folder (default: $NITRO_CLI_BLOBS, else /usr/share/nitro_enclaves/blobs/)' })
    .option('emit-ramdisks', { type: 'string', describe: 'with an image input: also write bootstrap-initrd.img and customer-initrd.img to this folder' })
    .option('docker-uri', { type: 'string', describe: 'build from a container image in a registry (pulled, no Docker daemon): app:latest, ghcr.io/org/app@sha256:…' })
    .option('cache', { type: 'string', describe: 'with --docker-uri: blob cache folder (default: $XDG_CACHE_HOME/eifkit, else ~/.cache/eifkit); --no-cache: a temporary one' })
    .option('insecure-registry', { type: 'string', array: true, describe: 'with --docker-uri: a registry host allowed over plain HTTP (localhost and 127.0.0.0/8 always are); repeatable' })
    .option('docker-dir', { type: 'string', describe: 'nitro-cli: Dockerfile folder (refused: docker build + docker save, then --docker-archive)' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no progress bar' })
    .option('format', { choices: ['nitro', 'eif_build', 'json'] as const, default: 'nitro' as const, describe: 'measurement output format' })
    .strictOptions() as unknown as Argv<BuildArgs>;
}

export const buildCommand: CommandModule<object, BuildArgs> = {
  command: 'build',
  describe: 'Build an EIF from a kernel, a command line and ramdisks (eif_build compatible), or from a container image file (nitro-cli PCRs)',
  builder: (y: Argv) =>
    buildOptions(y)
      .example('$0 build --kernel bzImage --cmdline "$(cat cmdline)" --ramdisk init.img --ramdisk app.img --output app.eif', 'from a kernel and ramdisks')
      .example('$0 build --docker-archive app.tar --blobs ./blobs --output app.eif', 'from `docker save app -o app.tar`, with nitro-cli\'s PCRs') as unknown as Argv<BuildArgs>,
  handler: (a) => runBuild(a, 'build'),
};

export const buildEnclaveCommand: CommandModule<object, BuildArgs> = {
  command: 'build-enclave',
  describe: "nitro-cli's build-enclave: build with --output-file from --docker-archive/--oci-layout/--oci-archive, or --kernel, --cmdline, --ramdisk",
  builder: (y: Argv) =>
    buildOptions(y).example(
      '$0 build-enclave --kernel bzImage --cmdline "$(cat cmdline)" --ramdisk init.img --ramdisk app.img --output-file app.eif',
      'build an EIF from a kernel and ramdisks',
    ) as unknown as Argv<BuildArgs>,
  handler: (a) => runBuild(a, 'build-enclave'),
};

async function runBuild(a: BuildArgs, command: 'build' | 'build-enclave'): Promise<void> {
  refuseDocker(a, command);
  const input = imageInputOf(a as unknown as Record<string, unknown>, process.argv.slice(2));
  if (input) return runImageBuild(a, command, input);
  const missing = (['kernel', 'cmdline', 'ramdisk', 'output'] as const).filter((k) => a[k] === undefined);
  if (missing.length) {
    const names = missing.map((k) => (k === 'output' && command === 'build-enclave' ? '--output-file' : `--${k}`));
    throw usageError(
      `missing ${names.join(', ')} (${command} builds from a kernel, its command line and ramdisks, or from a container image: --docker-archive FILE, --oci-layout DIR, --oci-archive FILE or --docker-uri REF) (see: eif ${command} --help)`,
    );
  }
  checkAlgo(a.algo);
  if (typeof a.cmdline !== 'string') throw usageError('--cmdline takes one string');
  warnBuildTime(a);
  let imgOs = a['img-os'];
  let imgKernel = a['img-kernel'];
  if (a.kernel_config !== undefined) {
    const info = kernelConfigInfo(readInputFile(a.kernel_config, 'kernel config', { bytes: 1 << 20, code: 'INPUT_TOO_LARGE' }));
    imgOs ??= info.os;
    imgKernel ??= info.kernel;
  }
  const { signer, files: signingFiles } = await signerFor(a);
  const { buildEifFile } = await import('../../node/builder.js');
  if (command === 'build-enclave') process.stderr.write('Start building the Enclave Image...\n'); // nitro-cli's lines
  const r = await buildEifFile({
    kernel: a.kernel!,
    cmdline: a.cmdline,
    ramdisks: a.ramdisk!,
    output: a.output!,
    arch: a.arch,
    name: a.name,
    version: a.version,
    metadataFile: a.metadata,
    buildTime: a['build-time'],
    buildTool: a['build-tool'],
    buildToolVersion: a['build-tool-version'],
    imgOs,
    imgKernel,
    signer,
    extraInputs: a.kernel_config !== undefined ? [...signingFiles, a.kernel_config] : signingFiles,
    onProgress: progressBar('building', !a.quiet),
  });
  finishBuild(a, command, r);
}

function warnBuildTime(a: BuildArgs): void {
  const bt = a['build-time'];
  if (bt !== undefined && rfc3339Ms(bt, { leapSecond: true }) === undefined) {
    process.stderr.write(`eif: warning: --build-time ${JSON.stringify(bt)} is not an RFC 3339 time; it is written as given (as eif_build does)\n`);
  }
}

/** EIFs from this size up get a line saying how much memory their enclave needs. */
export const SIZING_NOTE_BYTES = 64 << 20;

/**
 * The memory an enclave needs for an EIF: nitro-cli's run-enclave wants at least 4 × the EIF's size
 * (ENCLAVE_MEMORY_EIF_SIZE_RATIO, nitro-cli #196 / PR #198; src/launcher/sizing.ts). Said when the EIF is large,
 * since an image build turns a few hundred MiB of layers into an EIF that needs GiBs.
 */
export function enclaveSizingNote(eifBytes: number): string | undefined {
  if (eifBytes < SIZING_NOTE_BYTES) return undefined;
  const mib = minimumMemoryMiB(eifBytes);
  return `eif: note: the EIF is ${Math.ceil(eifBytes / 2 ** 20)} MiB; its enclave needs at least ${mib} MiB of memory (4 × the EIF, as nitro-cli run-enclave requires): run it with --memory ${mib} or more\n`;
}

/** What every build prints at the end: warnings, nitro-cli's closing line, the sizing note, the measurements. */
function finishBuild(a: BuildArgs, command: 'build' | 'build-enclave', r: { output: string; size: number; measurements: Measurements; metadata: { customMetadata: unknown } }): void {
  const cm = r.metadata.customMetadata as Record<string, unknown> | null;
  if (a.metadata !== undefined && (cm === null || typeof cm !== 'object' || Array.isArray(cm) || !('entries' in cm))) {
    // eif_build stores any JSON value; nitro-cli's describe-eif flattens an object's keys and fails on anything else.
    process.stderr.write(`eif: warning: --metadata ${a.metadata} is not a JSON object; it is stored as given, but nitro-cli describe-eif cannot show it\n`);
  }
  if (command === 'build-enclave') process.stderr.write('Enclave Image successfully created.\n');
  const note = enclaveSizingNote(r.size);
  if (note) process.stderr.write(note);
  if (a.format === 'eif_build') process.stdout.write(`Output file: ${r.output}\n`);
  printMeasurements(r.measurements, a.format, { Output: r.output, Size: r.size });
}

/** Layer-reading progress on a terminal: "reading layers 2/5". */
function layerProgress(enabled: boolean): ((done: number, total: number) => void) | undefined {
  if (!enabled || !process.stderr.isTTY) return undefined;
  return (done, total) => process.stderr.write(`\rreading layers ${done}/${total}${done >= total ? '\n' : ''}`);
}

/** `--docker-archive FILE | --oci-layout DIR | --oci-archive FILE`: src/node/oci/build-image.ts. */
async function runImageBuild(a: BuildArgs, command: 'build' | 'build-enclave', input: { kind: 'docker-archive' | 'oci-layout' | 'oci-archive' | 'docker-uri'; path: string }): Promise<void> {
  if (a.output === undefined) throw usageError(`missing ${command === 'build-enclave' ? '--output-file' : '--output'} (the EIF to write) (see: eif ${command} --help)`);
  checkAlgo(a.algo);
  warnBuildTime(a);
  const { signer, files: signingFiles } = await signerFor(a);
  const { buildEifFileFromImage } = await import('../../node/oci/build-image.js');
  // a bad reference is a usage error, before anything is printed
  if (input.kind === 'docker-uri') (await import('../../node/registry/reference.js')).parseReference(input.path);
  if (command === 'build-enclave') process.stderr.write('Start building the Enclave Image...\n');
  const r = await buildEifFileFromImage({
    kind: input.kind,
    path: input.path,
    image: a.image,
    platform: a.platform,
    registry: { cache: a.cache, 'insecure-registry': a['insecure-registry'], quiet: a.quiet },
    blobsDir: a.blobs,
    output: a.output,
    name: a.name,
    version: a.version,
    metadataFile: a.metadata,
    buildTime: a['build-time'],
    buildTool: a['build-tool'],
    buildToolVersion: a['build-tool-version'],
    signer,
    emitRamdisks: a['emit-ramdisks'],
    extraInputs: signingFiles,
    onWarning: (m) => process.stderr.write(`eif: warning: ${m}\n`),
    onLayers: layerProgress(!a.quiet),
    onProgress: progressBar('building', !a.quiet),
  });
  for (const p of r.emitted) process.stderr.write(`eif: wrote ${p}\n`);
  finishBuild(a, command, r);
}

/** The signer the flags ask for, and the files they name (which the output must not replace). */
async function signerFor(a: BuildArgs) {
  if (a['signing-certificate'] === undefined && a['private-key'] === undefined && a['signer-command'] === undefined) {
    return { signer: undefined, files: [] };
  }
  const { signerFromFlags, signingInputFiles } = await import('../../node/signer-flags.js');
  const flags = { signingCertificate: a['signing-certificate'], privateKey: a['private-key'], signerCommand: a['signer-command'] };
  return { signer: await signerFromFlags(flags), files: signingInputFiles(flags) };
}
