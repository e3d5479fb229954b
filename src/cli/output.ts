/** Output helpers shared by the CLI commands: JSON as serde_json's pretty printer writes it (2-space indent). */
import { EifError } from '../errors.js';

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/** One line: a message that carries its input's line breaks (a JSON parser quoting the file) is flattened. */
const oneLine = (message: string): string => message.replace(/\s*[\r\n]+\s*/g, ' ').trim();

/** Print an error the way every command does: one line on stderr with its stable code. */
export function printError(e: unknown): number {
  if (e instanceof EifError) {
    process.stderr.write(`eif: error ${e.code}: ${oneLine(e.message)}\n`);
    return e.exitCode;
  }
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err.code === 'string' && typeof err.message === 'string') {
    process.stderr.write(`eif: error IO_${err.code}: ${oneLine(err.message)}\n`);
    return 1;
  }
  process.stderr.write(`eif: error INTERNAL: ${oneLine(String((e as Error)?.message ?? e))}\n`);
  if (process.env.EIF_DEBUG) process.stderr.write(`${(e as Error)?.stack ?? ''}\n`);
  return 70;
}
