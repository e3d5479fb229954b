/**
 * `eif pcr` — nitro-cli's `pcr` command (eif-format.md §6.4) plus the PCR3/PCR4 helpers (§3.2):
 * --input FILE → {"PCR": …}; --signing-certificate PEM → {"PCR8": …}; --role-arn ARN → {"PCR3": …};
 * --instance-id ID → {"PCR4": …}. Exactly one of them.
 */
import type { Argv, CommandModule } from 'yargs';
import { closeSync } from 'node:fs';
import { createSha384, coreInstance } from '../../core/index.js';
import { pcr3FromRoleArn, pcr4FromInstanceId, pcrExtend } from '../../eif/pcr.js';
import { toHex } from '../../util/hex.js';
import { openInput, readInputFile } from '../../node/file-source.js';
import { printJson } from '../output.js';
import { EifError, usageError } from '../../errors.js';
import { readSync } from 'node:fs';

interface PcrArgs {
  input?: string;
  'signing-certificate'?: string;
  'role-arn'?: string;
  'instance-id'?: string;
}

/**
 * The PCR of a whole file, streamed through the WASM I/O region (no whole-file buffer). Yields to the event loop
 * every 32 MiB, so Ctrl-C on a large file is handled at once (the CLI's INTERRUPTED line), not after the last byte.
 */
export async function pcrOfFile(path: string): Promise<string> {
  const { fd, size } = openInput(path, 'input file');
  try {
    const h = createSha384();
    const c = coreInstance();
    for (let pos = 0, sinceYield = 0; pos < size; ) {
      if (sinceYield >= 32 << 20) {
        await new Promise((r) => setImmediate(r));
        sinceYield = 0;
      }
      const n = readSync(fd, c.io(), 0, Math.min(c.ioSize, size - pos), pos);
      if (n === 0) throw new EifError('INPUT_CHANGED', `${path} ended early (it changed while being read?)`);
      h.updateFromIo(n);
      pos += n;
      sinceYield += n;
    }
    return toHex(pcrExtend(h.digest()));
  } finally {
    closeSync(fd);
  }
}

export const pcrCommand: CommandModule<object, PcrArgs> = {
  command: 'pcr',
  describe: 'Compute a PCR value: of a file, of a signing certificate (PCR8), of an IAM role ARN (PCR3) or an instance ID (PCR4)',
  builder: (y: Argv) =>
    y
      .option('input', { type: 'string', describe: 'any file: PCR of its bytes' })
      .option('signing-certificate', { type: 'string', describe: 'PEM certificate: PCR8' })
      .option('role-arn', { type: 'string', describe: 'parent instance IAM role ARN: PCR3' })
      .option('instance-id', { type: 'string', describe: 'parent instance ID: PCR4' })
      .example('$0 pcr --role-arn arn:aws:iam::123456789012:role/Webserver', 'PCR3') as unknown as Argv<PcrArgs>,
  handler: async (a) => {
    const given = (['input', 'signing-certificate', 'role-arn', 'instance-id'] as const).filter((k) => a[k] !== undefined);
    if (given.length !== 1) throw usageError('give exactly one of --input, --signing-certificate, --role-arn, --instance-id');
    if (a.input !== undefined) printJson({ PCR: await pcrOfFile(a.input) });
    else if (a['signing-certificate'] !== undefined) {
      const { pcr8FromCertificatePem } = await import('../../signing/certificate.js');
      printJson({ PCR8: pcr8FromCertificatePem(readInputFile(a['signing-certificate'], 'signing certificate')) });
    } else if (a['role-arn'] !== undefined) printJson({ PCR3: pcr3FromRoleArn(a['role-arn']) });
    else printJson({ PCR4: pcr4FromInstanceId(a['instance-id']!) });
  },
};
