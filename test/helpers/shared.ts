/**
 * Access to the read-only reference data in ../shared/test-vectors. Suites that need it use `describeShared`,
 * which skips (with the reason in the suite name) when the folder is absent, e.g. in a fresh clone elsewhere.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'vitest';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SHARED_VECTORS = join(REPO_ROOT, '..', 'shared', 'test-vectors');
export const HAVE_SHARED = existsSync(SHARED_VECTORS);

/**
 * `describe` when ../shared/test-vectors exists, otherwise a skipped suite that says why. The suite body is not
 * run at all then (vitest runs the bodies of skipped suites to collect their tests, and they read shared files).
 */
export function describeShared(name: string, fn: () => void): void {
  if (HAVE_SHARED) describe(name, fn);
  else {
    describe.skip(`${name} (skipped: ../shared/test-vectors not found next to the repo)`, () => {
      it.skip('needs the reference data in ../shared/test-vectors', () => undefined);
    });
  }
}

export function sharedPath(...parts: string[]): string {
  return join(SHARED_VECTORS, ...parts);
}

export function readShared(...parts: string[]): Uint8Array {
  return new Uint8Array(readFileSync(sharedPath(...parts)));
}
