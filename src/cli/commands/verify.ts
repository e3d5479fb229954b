/** `eif verify <file> [--pcr0 HEX] … [--expect measurements.json] [--signing-certificate PEM]`: exit 0 only when all hold. */
import type { Argv, CommandModule } from 'yargs';
import type { PcrName } from '../../node/verify.js';
import { readInputFile } from '../../node/file-source.js';
import { printJson } from '../output.js';
import { progressBar } from '../progress.js';
import { usageError } from '../../errors.js';

interface VerifyArgs {
  file?: string;
  'eif-path'?: string;
  pcr0?: string;
  pcr1?: string;
  pcr2?: string;
  pcr8?: string;
  expect?: string;
  'signing-certificate'?: string;
  json: boolean;
  quiet: boolean;
}

export const verifyCommand: CommandModule<object, VerifyArgs> = {
  command: 'verify [file]',
  describe: 'Check an EIF: structure, CRC, signature and expected PCRs; exit 0 only when all hold',
  builder: (y: Argv) =>
    y
      .positional('file', { type: 'string', describe: 'EIF file' })
      .option('eif-path', { type: 'string', describe: 'EIF file (nitro-cli spelling)' })
      .option('pcr0', { type: 'string', describe: 'expected PCR0 (96 hex digits)' })
      .option('pcr1', { type: 'string', describe: 'expected PCR1' })
      .option('pcr2', { type: 'string', describe: 'expected PCR2' })
      .option('pcr8', { type: 'string', describe: 'expected PCR8 (signing certificate)' })
      .option('expect', { type: 'string', describe: 'JSON with expected measurements (eif build / describe output)' })
      .option('signing-certificate', { type: 'string', describe: 'PEM certificate the image must be signed with' })
      .option('json', { type: 'boolean', default: false, describe: 'machine-readable result' })
      .option('quiet', { type: 'boolean', default: false, describe: 'no progress bar' }) as unknown as Argv<VerifyArgs>,
  handler: async (a) => {
    if (a.file !== undefined && a['eif-path'] !== undefined) throw usageError('name the EIF once: FILE or --eif-path, not both');
    const path = a.file ?? a['eif-path'];
    if (path === undefined) throw usageError('name the EIF file (eif verify FILE)');
    const { normaliseExpected, readExpectFile, verifyEifFile } = await import('../../node/verify.js');
    const expected = {
      ...(a.expect !== undefined ? readExpectFile(a.expect) : {}),
      ...normaliseExpected({ PCR0: a.pcr0, PCR1: a.pcr1, PCR2: a.pcr2, PCR8: a.pcr8 } as Record<PcrName, string | undefined>, 'the command line'),
    };
    let signingCertificatePem: Uint8Array | undefined;
    if (a['signing-certificate'] !== undefined) {
      signingCertificatePem = readInputFile(a['signing-certificate'], 'signing certificate');
    }
    const r = await verifyEifFile(path, { expected, signingCertificatePem, onProgress: progressBar('verifying', !a.quiet && !a.json) });
    if (a.json) {
      // PascalCase at every level, like the nitro-cli Measurements it carries (docs/cli.md, JSON keys)
      const checks = r.checks.map((c) => ({ Check: c.check, Ok: c.ok, ...(c.code !== undefined ? { Code: c.code } : {}), Detail: c.detail }));
      printJson({ Ok: r.ok, Checks: checks, ...(r.measurements ? { Measurements: r.measurements } : {}) });
    }
    else {
      for (const c of r.checks) {
        process.stdout.write(`${c.ok ? 'ok  ' : 'FAIL'} ${c.check.padEnd(12)} ${c.ok ? '' : c.code + ': '}${c.detail}\n`);
      }
      process.stdout.write(r.ok ? `${path}: verified\n` : `${path}: NOT verified\n`);
    }
    process.exitCode = r.ok ? 0 : 1;
  },
};
