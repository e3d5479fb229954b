/** The stable code a promise fails with ('no error' if it resolves); anything but an EifError is a crash and rethrown. */
import { EifError } from '../../src/errors.js';

export async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'no error';
  } catch (e) {
    if (e instanceof EifError) return e.code;
    throw e;
  }
}
