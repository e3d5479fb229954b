/**
 * `eif attest inspect|verify <doc>` — attestation documents on the command line (attestation.md §2.2; design in
 * docs/attestation.md). `<doc>` is a file or `-` (stdin), raw CBOR, base64 or hex. Exit status: 0 authentic /
 * valid, 1 not (reasons printed), 2 usage error (bad flag, unreadable file). The report starts with the verdict;
 * `--quiet` prints nothing (the exit status is the answer).
 */
import type { Argv, CommandModule } from 'yargs';
import type { CommonArgs, VerifyArgs } from './attest-run.js';
import { BYTE_FIELD_RULES } from '../../attestation/field-rules.js';
import { usageError } from '../../errors.js';

/** The attestation stack is loaded only when an attest command runs. */
const run = () => import('./attest-run.js');

const common = (y: Argv): Argv =>
  y
    .positional('doc', { type: 'string', describe: "attestation document: a file or '-' for stdin (raw CBOR, base64 or hex)", demandOption: true })
    // yargs re-parses a positional as `--doc VALUE`, which turns '-' into '' (a flag with no value); with nargs 1
    // it takes '-' as the value, so '-' (stdin) and '' (an empty path, refused) stay apart
    .nargs('doc', 1)
    .option('at', { type: 'string', describe: 'verification time: RFC 3339 or epoch milliseconds (default now)' })
    .option('root', { type: 'string', describe: 'trust anchor certificate (PEM or DER); replaces the AWS Nitro root (repeatable)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the result as JSON' })
    .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'print nothing: the exit status is the verdict (0 yes, 1 no, 2 usage)' });

/** --quiet prints nothing, --json prints everything: asking for both is a mistake. */
function checkOutputFlags(a: CommonArgs): void {
  if (a.quiet && a.json) throw usageError('--quiet and --json exclude each other (--quiet prints nothing; the exit status is the verdict)');
}

const inspectCommand: CommandModule<object, CommonArgs> = {
  command: 'inspect <doc>',
  describe: 'Decode an attestation document and check that it is authentic (chain to the root, signature); exit 0 only if authentic',
  builder: (y: Argv) =>
    common(y)
      .example('$0 attest inspect doc.cbor', 'decode, print and check against the AWS Nitro root, now')
      .example('$0 attest inspect doc.b64 --at 2025-11-10T17:20:11Z', 'check at a past time (certificates live ~3 h)') as unknown as Argv<CommonArgs>,
  handler: async (a) => {
    checkOutputFlags(a);
    return (await run()).runInspect(a);
  },
};

const verifyCommand: CommandModule<object, VerifyArgs> = {
  command: 'verify <doc>',
  describe: 'Verify an attestation document against a policy (PCRs, EIF, nonce, user data, public key, age); exit 0 valid, 1 invalid, 2 usage',
  builder: (y: Argv) =>
    common(y)
      .option('eif', { type: 'string', describe: 'expect the PCR0/1/2 (and PCR8 if signed) of this enclave image' })
      .option('pcr', { type: 'string', describe: 'expected PCR as N=HEX (repeatable)' })
      .option('policy', { type: 'string', describe: 'JSON policy file (eif build / describe output, {"PCR0": …}, or {"pcrs": …, "nonce": …})' })
      .options(Object.fromEntries(BYTE_FIELD_RULES.map((r) => [r.flag, { type: 'string', describe: `expected ${r.label} (hex; compared as bytes)` }] as const)))
      .option('max-age', { type: 'string', describe: 'maximum age of the document, e.g. 5m, 30s, 1h' })
      .option('allow-debug', { type: 'boolean', default: false, describe: 'accept a debug-mode enclave (PCR0/1/2 all zero)' })
      .example('$0 attest verify doc.cbor --eif app.eif --nonce 0f1e2d --max-age 5m', 'the document comes from this image and answers this challenge')
      .example('$0 attest verify - --pcr 0=ab12… --pcr 8=cd34… --json < doc.b64', 'PCRs from the command line, JSON result') as unknown as Argv<VerifyArgs>,
  handler: async (a) => {
    checkOutputFlags(a);
    return (await run()).runVerify(a);
  },
};

export const attestCommand: CommandModule<object, object> = {
  command: 'attest <command>',
  describe: 'Inspect and verify AWS Nitro Enclaves attestation documents',
  builder: (y: Argv) => y.command(inspectCommand).command(verifyCommand).demandCommand(1, 'name a subcommand: inspect or verify') as Argv,
  handler: () => {},
};
