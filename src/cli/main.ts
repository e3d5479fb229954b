/**
 * The `eif` command line. Commands live one per file in ./commands and are listed in ./commands/index.ts.
 * A handler sets `process.exitCode` (or throws an EifError); this wrapper turns every failure into one line
 * on stderr with a stable code and a non-zero exit.
 */
import type { Argv } from 'yargs';
import { commands } from './commands/index.js';
import { printError } from './output.js';
import { initCore } from '../core/index.js';
import { VERSION } from '../version.js';
import { streamedBytesHint } from './prestart.js';
import { PARALLEL_THRESHOLD, prestartHashWorkers } from '../node/hash-workers.js';

export async function main(argv: string[]): Promise<number> {
  process.exitCode = 0;
  quietOnClosedStdout();
  // `--version` is also `eif build`'s ImageVersion flag (eif_build's name), so yargs' global one is off.
  if (argv.length === 1 && (argv[0] === '--version' || argv[0] === '-V')) {
    process.stdout.write(`eifkit ${VERSION}\n`);
    return 0;
  }
  // A large image on the command line: start the hash workers now, so they boot while yargs loads (./prestart.ts).
  if (streamedBytesHint(argv) >= PARALLEL_THRESHOLD) prestartHashWorkers();
  const { default: yargs } = await import('yargs');
  const parser: Argv = yargs(argv)
    .scriptName('eif')
    .usage('$0 <command> [options]')
    .command(commands)
    .demandCommand(1, 'Name a command.')
    .strict()
    .recommendCommands()
    .help()
    .alias('h', 'help')
    .version(false)
    .wrap(Math.min(110, process.stdout.columns || 100))
    .middleware((args): void => refuseRepeatedFlags(args, parser as unknown as YargsOptions), true)
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
      // One line, like every other error; the help is one command away rather than 20–30 lines of noise.
      const cmd = commands.find((c) => String(c.command).split(' ')[0] === argv[0]);
      process.stderr.write(`eif: error USAGE: ${e.message} (see: eif ${cmd ? argv[0] + ' ' : ''}--help)\n`);
      return 2;
    }
    return printError(e);
  }
}

/**
 * `eif describe x.eif | head -1`: once the reader has gone, writes to stdout fail with EPIPE. That is not an error
 * of ours to report (and never a stack trace): stop quietly, as other command-line tools do.
 */
function quietOnClosedStdout(): void {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(Number(process.exitCode ?? 0));
      throw e;
    });
  }
}

/** Repeatable flags declared as plain strings: their commands handle the arrays (src/cli/commands/attest.ts). */
const REPEATABLE = ['pcr', 'root'];

/** The part of yargs' (untyped) instance API the repeated-flag check reads: the current command's array options. */
interface YargsOptions {
  getOptions(): { array: string[] };
}

/** A usage failure yargs found (unknown flag, missing option, no command). */
class UsageFailure extends Error {}

/**
 * yargs turns a flag given twice into an array, which commands do not expect (`--build-time a --build-time b`
 * ended as an internal error, `--role-arn a --role-arn b` as PCR3 of "a,b"). Only options declared as arrays
 * (`build --ramdisk`) and the ones `eif attest` collects itself (`--pcr`, `--root`) may repeat; anything else
 * given twice is a usage error.
 */
function refuseRepeatedFlags(argv: Record<string, unknown>, y: YargsOptions): void {
  const arrays = new Set<string>([...y.getOptions().array, ...REPEATABLE]);
  for (const [key, value] of Object.entries(argv)) {
    if (key === '_' || key === '$0' || !Array.isArray(value) || arrays.has(key)) continue;
    if (/[A-Z]/.test(key)) continue; // yargs' camelCase copy of a kebab-case flag: reported under its own name
    throw new UsageFailure(`--${key} may be given only once (got ${value.length} values)`);
  }
}
