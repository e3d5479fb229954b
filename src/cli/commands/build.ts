/**
 * `eif build` — flags compatible with AWS `eif_build` (eif-format.md §6.1), plus --quiet and --format.
 * Differences on purpose: --version is honoured; BuildTime comes from --build-time, else SOURCE_DATE_EPOCH, else now.
 */
import type { Argv, CommandModule } from 'yargs';
import { printJson } from '../output.js';
import { progressBar } from '../progress.js';
import { usageError } from '../../errors.js';
import { rfc3339Ms } from '../../util/rfc3339.js';
import type { Measurements } from '../../eif/pcr.js';

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
}

export const buildCommand: CommandModule<object, BuildArgs> = {
  command: 'build',
  describe: 'Build an EIF from a kernel, a command line and ramdisks (eif_build compatible)',
  builder: (y: Argv) =>
    y
      .option('kernel', { type: 'string', demandOption: true, describe: 'kernel image (bzImage on x86_64, Image on aarch64)' })
      .option('cmdline', { type: 'string', demandOption: true, describe: 'kernel command line, verbatim' })
      .option('ramdisk', { type: 'string', array: true, demandOption: true, describe: 'ramdisk (repeat; the first is the bootstrap ramdisk measured into PCR1)' })
      .option('output', { type: 'string', demandOption: true, describe: 'output EIF path' })
      .option('name', { type: 'string', describe: 'ImageName (default: the kernel file name)' })
      .option('version', { type: 'string', describe: 'ImageVersion (default: --name, else 1.0)' })
      .option('metadata', { type: 'string', describe: 'custom metadata JSON file (≤ 4096 bytes)' })
      .option('arch', { choices: ['x86_64', 'aarch64'] as const, default: 'x86_64' as const })
      .option('build-time', { type: 'string', describe: 'BuildTime (default: SOURCE_DATE_EPOCH, else now)' })
      .option('build-tool', { type: 'string', describe: 'BuildTool (default: eifkit)' })
      .option('build-tool-version', { type: 'string', describe: 'BuildToolVersion' })
      .option('img-os', { type: 'string', describe: 'OperatingSystem (default: OS)' })
      .option('img-kernel', { type: 'string', describe: 'KernelVersion (default: kernel)' })
      .option('signing-certificate', { type: 'string', describe: 'PEM certificate to sign with (with --private-key or --signer-command)' })
      .option('private-key', { type: 'string', describe: 'PEM EC private key file, or a KMS key ARN' })
      .option('signer-command', { type: 'string', describe: 'command that signs the digest on stdin (HSM, other clouds)' })
      .option('quiet', { type: 'boolean', default: false, describe: 'no progress bar' })
      .option('format', { choices: ['nitro', 'eif_build', 'json'] as const, default: 'nitro' as const, describe: 'measurement output format' })
      .strictOptions() as unknown as Argv<BuildArgs>,
  handler: async (a) => {
    if (typeof a.cmdline !== 'string') throw usageError('--cmdline takes one string');
    const bt = a['build-time'];
    if (bt !== undefined && rfc3339Ms(bt, { leapSecond: true }) === undefined) {
      process.stderr.write(`eif: warning: --build-time ${JSON.stringify(bt)} is not an RFC 3339 time; it is written as given (as eif_build does)\n`);
    }
    const { signer, files: signingFiles } = await signerFor(a);
    const { buildEif } = await import('../../node/builder.js');
    const r = await buildEif({
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
      imgOs: a['img-os'],
      imgKernel: a['img-kernel'],
      signer,
      extraInputs: signingFiles,
      onProgress: progressBar('building', !a.quiet),
    });
    const cm = r.metadata.customMetadata;
    if (a.metadata !== undefined && (cm === null || typeof cm !== 'object' || Array.isArray(cm) || !('entries' in cm))) {
      // eif_build stores any JSON value; nitro-cli's describe-eif flattens an object's keys and fails on anything else.
      process.stderr.write(`eif: warning: --metadata ${a.metadata} is not a JSON object; it is stored as given, but nitro-cli describe-eif cannot show it\n`);
    }
    if (a.format === 'eif_build') process.stdout.write(`Output file: ${r.output}\n`);
    printMeasurements(r.measurements, a.format, { Output: r.output, Size: r.size });
  },
};

/** The signer the flags ask for, and the files they name (which the output must not replace). */
async function signerFor(a: BuildArgs) {
  if (a['signing-certificate'] === undefined && a['private-key'] === undefined && a['signer-command'] === undefined) {
    return { signer: undefined, files: [] };
  }
  const { signerFromFlags, signingInputFiles } = await import('../../node/signer-flags.js');
  const flags = { signingCertificate: a['signing-certificate'], privateKey: a['private-key'], signerCommand: a['signer-command'] };
  return { signer: await signerFromFlags(flags), files: signingInputFiles(flags) };
}
