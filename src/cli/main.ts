/**
 * The `eif` command line. Commands live one per file in ./commands and are listed in ./commands/index.ts.
 * A handler sets `process.exitCode` (or throws an EifError); this wrapper turns every failure into one line
 * on stderr with a stable code and a non-zero exit.
 */
import type { Argv } from 'yargs';
import { commands } from './commands/index.js';
import { printError } from './output.js';
import { constants as osConstants } from 'node:os';
import { usageError } from '../errors.js';
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
    .middleware((args): void => {
      refuseUnknownFlags(argv, args, parser as unknown as YargsOptions);
      refuseRepeatedFlags(args, parser as unknown as YargsOptions);
    }, true)
    // Throwing (rather than noting the failure and returning) is what stops yargs from running the command's
    // handler anyway: `eif build … --typo` must not build.
    .fail((msg, err) => {
      throw err ?? new UsageFailure(msg);
    });
  // The launcher commands handle their own signals (an attached console ends on Ctrl-C; docs/launcher.md), and
  // so does `eif web`, for which Ctrl-C is the normal way to stop.
  const stopOnSignal = LAUNCHER_COMMANDS.has(argv[0] ?? '') || argv[0] === 'web' ? () => {} : onInterrupt();
  try {
    await initCore();
    await parser.parseAsync();
    return Number(process.exitCode ?? 0);
  } catch (e) {
    if (e instanceof UsageFailure) {
      // One line, like every other error; the help is one command away rather than 20–30 lines of noise.
      const named = COMMAND_NAMES.has(argv[0] ?? '');
      process.stderr.write(`eif: error USAGE: ${e.message} (see: eif ${named ? argv[0] + ' ' : ''}--help)\n`);
      return 2;
    }
    return printError(e);
  } finally {
    stopOnSignal();
  }
}

/**
 * SIGINT / SIGTERM / SIGHUP while a command runs: one `eif: error INTERRUPTED` line, the temp files of
 * ./../node/atomic.ts removed (its exit hook), and the exit status a shell expects after that signal (130, 143,
 * 129). A second signal while exiting does not print a second line (the handler is installed once per signal).
 */
function onInterrupt(): () => void {
  const handlers = (['SIGINT', 'SIGTERM', 'SIGHUP'] as const).map((sig) => {
    const h = (): void => {
      if (!interrupted) {
        interrupted = true;
        process.stderr.write(`eif: error INTERRUPTED: stopped by ${sig}\n`);
      }
      process.exit(128 + osConstants.signals[sig]);
    };
    process.on(sig, h);
    return () => process.off(sig, h);
  });
  return () => handlers.forEach((off) => off());
}
let interrupted = false;
const LAUNCHER_COMMANDS = new Set(['run', 'run-enclave', 'console', 'describe-enclaves', 'terminate-enclave']);

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

/** The part of yargs' (untyped) instance API the flag checks read: the current command's options. */
interface YargsOptions {
  getOptions(): { array: string[]; key: Record<string, unknown>; alias: Record<string, string[]> };
}

/** The command names and aliases (`describe [file]` → describe). */
const COMMAND_NAMES = new Set(
  commands.flatMap((c) => [String(c.command).split(' ')[0]!, ...([] as string[]).concat((c.aliases as string | string[] | undefined) ?? [])]),
);

/** `signing-certificate` → `signingCertificate`: yargs accepts both spellings of a declared flag. */
const camel = (s: string): string => s.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/**
 * An unknown flag is one line naming it and the command, with a stable code (USAGE_UNKNOWN_FLAG), instead of
 * yargs' "Unknown arguments: foo-bar, fooBar" (a list with camelCase copies and no hint). Reads the raw argv
 * (up to `--`), so the flag is named as the user typed it. Only long (`--x`) and short (`-x`) flags are checked;
 * unknown positionals and commands stay with yargs' strict mode.
 */
function refuseUnknownFlags(raw: string[], args: Record<string, unknown>, y: YargsOptions): void {
  const o = y.getOptions();
  const known = new Set<string>(['help', 'h']);
  for (const k of Object.keys(o.key)) known.add(k).add(camel(k));
  for (const [k, v] of Object.entries(o.alias)) for (const a of [k, ...v]) known.add(a).add(camel(a));
  const words = (args._ as unknown[]).map(String);
  if (words.length > 0 && !COMMAND_NAMES.has(words[0]!)) return; // an unknown command: yargs names it
  const command = words.join(' ');
  for (const token of raw) {
    if (token === '--') break;
    const m = /^--?([^=]+)/.exec(token);
    if (!m || /^-\d/.test(token) || token === '-') continue; // a value: '-' (stdin), a negative number
    let name = m[1]!;
    if (token.startsWith('--') && name.startsWith('no-') && known.has(name.slice(3))) continue; // --no-quiet
    if (!token.startsWith('--') && name.length > 1) name = name[0]!; // -abc: yargs reads a, b, c; check the first
    if (known.has(name)) continue;
    const where = command ? ` for ${command}` : '';
    throw usageError(`unknown option ${token.split('=')[0]}${where}; see eif ${command ? command + ' ' : ''}--help`, 'USAGE_UNKNOWN_FLAG');
  }
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
