/**
 * The `eif` command line. Commands live one per file in ./commands and are listed in ./commands/index.ts.
 * A handler sets `process.exitCode` (or throws an EifError); this wrapper turns every failure into one line
 * on stderr with a stable code and a non-zero exit.
 */
import { commands } from './commands/index.js';
import { printError } from './output.js';
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
    // Throwing (rather than noting the failure and returning) is what stops yargs from running the command's
    // handler anyway: `eif build … --typo` must not build.
    .fail((msg, err) => {
      throw err ?? new UsageFailure(msg);
    });
  try {
    await initCore();
    await parser.parseAsync();
    return Number(process.exitCode ?? 0);
  } catch (e) {
    if (e instanceof UsageFailure) {
      parser.showHelp('error');
      process.stderr.write(`\neif: error USAGE: ${e.message}\n`);
      return 2;
    }
    return printError(e);
  }
}

/** A usage failure yargs found (unknown flag, missing option, no command). */
class UsageFailure extends Error {}
