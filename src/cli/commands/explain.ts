/**
 * `eif explain --error-code CODE` — nitro-cli's `explain` (ecosystem.md §4.1, §4.3) for its E00–E59 codes
 * (../nitro-errors.ts), and the same for eifkit's own codes (`SIG_INVALID`, `IO_ENOSPC`, …) from the code tables
 * of docs/ (../error-docs.generated.ts). Prints one paragraph on stdout; an unknown code is EXPLAIN_UNKNOWN_CODE.
 */
import type { Argv, CommandModule } from 'yargs';
import { usageError } from '../../errors.js';
import { NITRO_CLI_ERRORS } from '../nitro-errors.js';
import { ERROR_DOCS } from '../error-docs.generated.js';

interface ExplainArgs {
  'error-code': string;
}

/** The explanation of `code` (case-insensitive), or undefined. */
export function explainCode(code: string): string | undefined {
  const c = code.trim().toUpperCase();
  const nitro = /^E\d{2}$/.test(c) ? NITRO_CLI_ERRORS[c] : undefined;
  if (nitro) return `[ ${c} ] ${nitro.text}${nitro.eifkit ? ` (eifkit reports this as ${nitro.eifkit}.)` : ''}`;
  const own = ERROR_DOCS[c] ?? (/^IO_E[A-Z0-9]+$/.test(c) ? ERROR_DOCS['IO_<ERRNO>'] : undefined);
  if (own) return `${c}: ${own.text} (${own.doc})`;
  return undefined;
}

export const explainCommand: CommandModule<object, ExplainArgs> = {
  command: 'explain',
  describe: "Explain an error code: nitro-cli's E00–E59, or eifkit's own (e.g. SIG_INVALID)",
  builder: (y: Argv) =>
    y
      .option('error-code', { type: 'string', demandOption: true, describe: 'E<NN> (nitro-cli) or an eifkit code' })
      .example('$0 explain --error-code E26', "nitro-cli's code")
      .example('$0 explain --error-code SIG_INVALID', "eifkit's code") as unknown as Argv<ExplainArgs>,
  handler: (a) => {
    const text = explainCode(String(a['error-code']));
    if (text === undefined) {
      throw usageError(
        `no such error code ${JSON.stringify(a['error-code'])}: nitro-cli's codes are E00–E59; eifkit's are listed in docs/errors.md`,
        'EXPLAIN_UNKNOWN_CODE',
      );
    }
    process.stdout.write(text + '\n');
  },
};
