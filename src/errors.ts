/**
 * Errors with stable codes. Every failure the user can cause surfaces as an {@link EifError}: the CLI prints
 * `eif: error CODE: message` and exits non-zero, never a stack trace. Codes are part of the public contract —
 * add new ones, never rename. The list of codes lives in docs/errors.md.
 */
import type { ErrorCode } from './error-codes.js';

export { ERROR_CODES, isErrorCode, type ErrorCode } from './error-codes.js';

export class EifError extends Error {
  override readonly name = 'EifError';
  /** Stable machine-readable code, e.g. `EIF_BAD_MAGIC` (src/error-codes.ts). */
  readonly code: ErrorCode;
  /** Process exit status the CLI uses for this error (1 = failure, 2 = usage). */
  readonly exitCode: number;

  constructor(code: ErrorCode, message: string, options: { exitCode?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.exitCode = options.exitCode ?? 1;
  }
}

/** Usage errors (bad flags or flag values) exit with 2, like getopt tools. */
export function usageError(message: string, code: ErrorCode = 'USAGE'): EifError {
  return new EifError(code, message, { exitCode: 2 });
}

export function isEifError(e: unknown): e is EifError {
  return e instanceof EifError;
}
