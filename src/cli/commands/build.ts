/**
 * `eif build` — flags compatible with AWS `eif_build` (eif-format.md §6.1), plus --quiet and --format; and
 * `eif build-enclave`, nitro-cli's spelling (§6.2): the same build with `--output-file`, whose container-image
 * inputs (`--docker-uri`, `--docker-dir`) are refused with a pointer to the kernel/ramdisk flags until images can
 * be built here. Differences on purpose: --version is honoured; BuildTime comes from --build-time, else
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

export { kernelConfigInfo };

export type MeasurementFormat = 'nitro' | 'eif_build' | 'json';

/** Print measurements the way nitro-cli (`{"Measurements": …}`) or eif_build (bare map) does. */
export function printMeasurements(m: Measurements, format: MeasurementFormat, extra: Record<string, unknown> = {}): void {
  if (format === 'nitro') printJson({ Measurements: m });
  else if (format === 'eif_build') printJson(m);
  else printJson({ ...extra, Measurements: m });
}

interface BuildArgs {
  kernel: string;
  cmdline: string;
  ramdisk: string[];
  output: string;
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

/** `--docker-uri` / `--docker-dir`: named, refused, with what to do instead (a container build is a later step). */
function refuseDocker(a: BuildArgs, command: string): void {
  for (const flag of ['docker-uri', 'docker-dir'] as const) {
    if (a[flag] === undefined) continue;
    throw usageError(
      `--${flag}: building from a container image is not supported yet; build from a kernel and ramdisks instead: ` +
        `eif ${command} --kernel bzImage --cmdline "$(cat cmdline)" --ramdisk bootstrap-initrd.img --ramdisk customer-initrd.img --output${command === 'build-enclave' ? '-file' : ''} app.eif`,
      'BUILD_DOCKER_UNSUPPORTED',
    );
  }
}

/** The flags of both spellings; nitro-cli's build-enclave demands nothing itself, its handler names what is missing. */
function buildOptions(y: Argv, nitro: boolean): Argv<BuildArgs> {
  const req = !nitro;
  return y
    .option('kernel', { type: 'string', demandOption: req, describe: 'kernel image (bzImage on x86_64, Image on aarch64)' })
    .option('kernel_config', { type: 'string', alias: 'kernel-config', describe: 'kernel config: OperatingSystem / KernelVersion from its line 3 unless --img-os / --img-kernel are given' })
    .option('cmdline', { type: 'string', demandOption: req, describe: 'kernel command line, verbatim' })
    .option('ramdisk', { type: 'string', array: true, demandOption: req, describe: 'ramdisk (repeat; the first is the bootstrap ramdisk measured into PCR1)' })
    .option('output', { type: 'string', alias: 'output-file', demandOption: req, describe: 'output EIF path (--output-file: nitro-cli spelling)' })
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
    .option('docker-uri', { type: 'string', describe: 'nitro-cli: container image to build from (not supported yet: use --kernel/--ramdisk)' })
    .option('docker-dir', { type: 'string', describe: 'nitro-cli: Dockerfile folder (not supported yet: use --kernel/--ramdisk)' })
    .option('quiet', { type: 'boolean', default: false, describe: 'no progress bar' })
    .option('format', { choices: ['nitro', 'eif_build', 'json'] as const, default: 'nitro' as const, describe: 'measurement output format' })
    .strictOptions() as unknown as Argv<BuildArgs>;
}

export const buildCommand: CommandModule<object, BuildArgs> = {
  command: 'build',
  describe: 'Build an EIF from a kernel, a command line and ramdisks (eif_build compatible)',
  builder: (y: Argv) => buildOptions(y, false),
  handler: (a) => runBuild(a, 'build'),
};

export const buildEnclaveCommand: CommandModule<object, BuildArgs> = {
  command: 'build-enclave',
  describe: "nitro-cli's build-enclave: build with --output-file (container inputs not supported yet: give --kernel, --cmdline, --ramdisk)",
  builder: (y: Argv) =>
    buildOptions(y, true).example(
      '$0 build-enclave --kernel bzImage --cmdline "$(cat cmdline)" --ramdisk init.img --ramdisk app.img --output-file app.eif',
      'build an EIF from a kernel and ramdisks',
    ) as unknown as Argv<BuildArgs>,
  handler: (a) => runBuild(a, 'build-enclave'),
};

async function runBuild(a: BuildArgs, command: 'build' | 'build-enclave'): Promise<void> {
  refuseDocker(a, command);
  const missing = (['kernel', 'cmdline', 'ramdisk', 'output'] as const).filter((k) => a[k] === undefined);
  if (missing.length) {
    const names = missing.map((k) => (k === 'output' && command === 'build-enclave' ? '--output-file' : `--${k}`));
    throw usageError(`missing ${names.join(', ')} (${command} builds from a kernel, its command line and ramdisks)`);
  }
  checkAlgo(a.algo);
  if (typeof a.cmdline !== 'string') throw usageError('--cmdline takes one string');
  const bt = a['build-time'];
  if (bt !== undefined && rfc3339Ms(bt, { leapSecond: true }) === undefined) {
    process.stderr.write(`eif: warning: --build-time ${JSON.stringify(bt)} is not an RFC 3339 time; it is written as given (as eif_build does)\n`);
  }
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
    kernel: a.kernel,
    cmdline: a.cmdline,
    ramdisks: a.ramdisk,
    output: a.output,
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
  const cm = r.metadata.customMetadata;
  if (a.metadata !== undefined && (cm === null || typeof cm !== 'object' || Array.isArray(cm) || !('entries' in cm))) {
    // eif_build stores any JSON value; nitro-cli's describe-eif flattens an object's keys and fails on anything else.
    process.stderr.write(`eif: warning: --metadata ${a.metadata} is not a JSON object; it is stored as given, but nitro-cli describe-eif cannot show it\n`);
  }
  if (command === 'build-enclave') process.stderr.write('Enclave Image successfully created.\n');
  if (a.format === 'eif_build') process.stdout.write(`Output file: ${r.output}\n`);
  printMeasurements(r.measurements, a.format, { Output: r.output, Size: r.size });
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
