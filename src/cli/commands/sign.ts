/**
 * `eif sign` (alias `sign-eif`) — nitro-cli `sign-eif` compatible (eif-format.md §6.5): adds a signature to an EIF
 * or replaces its signature, in place (atomically) or into --output, then prints `{"Measurements": {…, "PCR8"}}`.
 * Keys: a PEM file, a KMS key ARN (--private-key) or an external command (--signer-command); docs/signing.md.
 */
import type { Argv, CommandModule } from 'yargs';
import { checkOutputPath } from '../../node/atomic.js';
import { printJson } from '../output.js';

interface SignArgs {
  'eif-path': string;
  'signing-certificate': string;
  'private-key'?: string;
  'signer-command'?: string;
  output?: string;
}

export const signCommand: CommandModule<object, SignArgs> = {
  command: 'sign',
  aliases: ['sign-eif'],
  describe: 'Sign an EIF (add or replace its signature section); prints the measurements with PCR8',
  builder: (y: Argv) =>
    y
      .option('eif-path', { type: 'string', demandOption: true, describe: 'EIF to sign (replaced atomically unless --output is given)' })
      .option('signing-certificate', { type: 'string', demandOption: true, describe: 'PEM certificate of the signing key (its DER gives PCR8)' })
      .option('private-key', { type: 'string', describe: 'PEM EC private key (SEC1 or PKCS#8; P-256/384/521), or a KMS key ARN' })
      .option('signer-command', { type: 'string', describe: 'shell command: digest on stdin, DER or r‖s signature on stdout' })
      .option('output', { type: 'string', describe: 'write the signed EIF here instead of replacing --eif-path' })
      .example('$0 sign --eif-path app.eif --signing-certificate cert.pem --private-key key.pem', 'sign in place with a PEM key')
      .example('$0 sign --eif-path app.eif --signing-certificate cert.pem --private-key arn:aws:kms:us-east-1:111122223333:key/…', 'sign with a KMS key')
      .strictOptions() as unknown as Argv<SignArgs>,
  handler: async (a) => {
    const { signerFromFlags, signingInputFiles } = await import('../../node/signer-flags.js');
    const flags = { signingCertificate: a['signing-certificate'], privateKey: a['private-key'], signerCommand: a['signer-command'] };
    if (a.output !== undefined) checkOutputPath(a.output, signingInputFiles(flags));
    const { signEifFile } = await import('../../node/sign-file.js');
    const signer = await signerFromFlags(flags);
    const r = await signEifFile({ eifPath: a['eif-path'], output: a.output, signer: signer! });
    process.stderr.write('Enclave Image successfully signed.\n');
    printJson({ Measurements: r.measurements });
  },
};
