/** scripts/prune-dist.mjs: outputs of removed or moved sources leave dist/ (they would be packed and loadable). */
import { mkdtempSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pruneStaleOutputs } from '../scripts/prune-dist.mjs';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tree(root: string, files: string[]): void {
  for (const f of files) {
    mkdirSync(join(root, f, '..'), { recursive: true });
    writeFileSync(join(root, f), '');
  }
}

function list(root: string, sub = ''): string[] {
  return readdirSync(join(root, sub), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? list(root, join(sub, e.name)) : [join(sub, e.name)])).sort();
}

describe('pruneStaleOutputs', () => {
  it('removes .js / .d.ts / maps without a source and empty folders; keeps the rest', () => {
    const root = mkdtempSync(join(tmpdir(), 'eifkit-prune-'));
    dirs.push(root);
    tree(join(root, 'src'), ['index.ts', 'pki/der.ts', 'cbor/encode.ts']);
    tree(join(root, 'dist'), [
      'index.js', 'index.d.ts', 'index.js.map',
      'pki/der.js', 'pki/der.d.ts',
      'signing/der.js', 'signing/der.d.ts', 'signing/der.js.map', 'signing/der.d.ts.map', // moved to pki/
      'signing/serde-cbor.js', // removed
      'cbor/encode.js', 'cbor/README.txt', // not a tsc output: kept
    ]);
    pruneStaleOutputs(join(root, 'dist'), join(root, 'src'));
    expect(list(join(root, 'dist'))).toEqual(['cbor/README.txt', 'cbor/encode.js', 'index.d.ts', 'index.js', 'index.js.map', 'pki/der.d.ts', 'pki/der.js']);
  });

  it('does nothing when dist/ does not exist', () => {
    const root = mkdtempSync(join(tmpdir(), 'eifkit-prune-'));
    dirs.push(root);
    expect(() => pruneStaleOutputs(join(root, 'dist'), join(root, 'src'))).not.toThrow();
  });
});
