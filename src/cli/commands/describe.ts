/** `eif describe <file>` and nitro-cli's spelling `eif describe-eif --eif-path <file>` (eif-format.md §6.3). */
import type { Argv, CommandModule } from 'yargs';
import { printJson } from '../output.js';
import { progressBar } from '../progress.js';
import { usageError } from '../../errors.js';

interface DescribeArgs {
  file?: string;
  'eif-path'?: string;
  quiet: boolean;
}

async function run(path: string | undefined, quiet: boolean): Promise<void> {
  if (path === undefined) throw usageError('name the EIF file (eif describe FILE or --eif-path FILE)');
  const { describeEifFileDetails } = await import('../../node/describe.js');
  const r = await describeEifFileDetails(path, { onProgress: progressBar('reading', !quiet) });
  for (const w of r.warnings) process.stderr.write(`eif: warning: ${w}\n`);
  printJson(r.describe);
}

export const describeCommand: CommandModule<object, DescribeArgs> = {
  command: 'describe [file]',
  describe: 'Describe an EIF: version, measurements, CRC, signature, metadata (nitro-cli JSON)',
  builder: (y: Argv) =>
    y
      .positional('file', { type: 'string', describe: 'EIF file' })
      .option('eif-path', { type: 'string', describe: 'EIF file (nitro-cli spelling)' })
      .option('quiet', { type: 'boolean', default: false, describe: 'no progress bar' }) as unknown as Argv<DescribeArgs>,
  handler: (a) => {
    if (a.file !== undefined && a['eif-path'] !== undefined) throw usageError('name the EIF once: FILE or --eif-path, not both');
    return run(a.file ?? a['eif-path'], a.quiet);
  },
};

export const describeEifCommand: CommandModule<object, DescribeArgs> = {
  command: 'describe-eif',
  describe: 'Same as describe, with nitro-cli\'s flag (--eif-path)',
  builder: (y: Argv) =>
    y
      .option('eif-path', { type: 'string', demandOption: true, describe: 'EIF file' })
      .option('quiet', { type: 'boolean', default: false }) as unknown as Argv<DescribeArgs>,
  handler: (a) => run(a['eif-path'], a.quiet),
};
