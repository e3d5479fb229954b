/**
 * The `eif` command line. Commands live one per file in ./commands and are listed in ./commands/index.ts.
 * A handler sets `process.exitCode` (or throws an EifError); this wrapper turns every failure into one line
 * on stderr with a stable code and a non-zero exit.
 */
import { commands } from './commands/index.js';
import { printError } from './output.js';
import { EifError } from '../errors.js';
import { initCore } from '../core/index.js';
import { VERSION } from '../version.js';
import { streamedBytesHint } from './prestart.js';
import { PARALLEL_THRESHOLD, prestartHashWorkers } from '../node/hash-workers.js';

export async function main(argv: string[]): Promise<number> {
  process.exitCode = 0;
  // `--version` is also `eif build`'s ImageVersion flag (eif_build's name), so yargs' global one is off.
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
    process.stdout.write(`eifkit ${VERSION}\n`);
    return 0;
  }
  // A large image on the command line: start the hash workers now, so they boot while yargs loads (./prestart.ts).
  if (streamedBytesHint(argv) >= PARALLEL_THRESHOLD) prestartHashWorkers();
  const { default: yargs } = await import('yargs');
  let usageFailure: string | undefined;
  const parser = yargs(argv)
    .scriptName('eif')
    .usage('$0 <command> [options]')
    .command(commands)
    .demandCommand(1, 'Name a command; see eif --help.')
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version(false)
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err) => {
      if (err) throw err;
      usageFailure = msg;
    });
  try {
    await initCore();
    await parser.parseAsync();
    if (usageFailure !== undefined) {
      parser.showHelp('error');
      process.stderr.write(`\neif: error USAGE: ${usageFailure}\n`);
      return 2;
    }
    return Number(process.exitCode ?? 0);
  } catch (e) {
    if (usageFailure !== undefined && !(e instanceof EifError)) {
      process.stderr.write(`eif: error USAGE: ${usageFailure}\n`);
      return 2;
    }
    return printError(e);
  }
}
