/**
 * The EIF format codecs (src/eif) sit on the floor above the WASM core (docs/architecture.md): they import only the
 * core, the utilities and the error type — never the signature code, the inspector, the Node layer or the CLI, which
 * all import them. (The browser inspector that needs both lives above them, in src/inspect.)
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/shared.js';

const ALLOWED = [/^\.\/[^/]+\.js$/, /^\.\.\/core\//, /^\.\.\/util\//, /^\.\.\/errors\.js$/, /^\.\.\/version\.js$/];

describe('src/eif imports', () => {
  it('reach only the core, the utilities, errors.ts and version.ts (no upward import)', () => {
    const dir = join(REPO_ROOT, 'src', 'eif');
    const bad: string[] = [];
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.ts'))) {
      const text = readFileSync(join(dir, f), 'utf8');
      for (const m of text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
        const spec = m[1] ?? m[2]!;
        if (!ALLOWED.some((r) => r.test(spec))) bad.push(`src/eif/${f} imports ${spec}`);
      }
    }
    expect(bad).toEqual([]);
  });
});
