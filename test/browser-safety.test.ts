/**
 * The browser-safe floor stays browser-safe: nothing reachable from src/browser.ts imports a node:* module
 * (or a Node-only package), so the same code runs in web pages (docs/architecture.md).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { REPO_ROOT } from './helpers/shared.js';

const NODE_ONLY_PACKAGES = ['@aws-sdk/client-kms', 'yargs'];

function reachable(entry: string): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const todo = [entry];
  while (todo.length) {
    const file = todo.pop()!;
    if (seen.has(file)) continue;
    const text = readFileSync(file, 'utf8');
    const specs = [...text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)].map((m) => m[1] ?? m[2]!);
    seen.set(file, specs);
    for (const s of specs) if (s.startsWith('.')) todo.push(resolve(dirname(file), s.replace(/\.js$/, '.ts')));
  }
  return seen;
}

describe('browser-safe entry point', () => {
  it('reaches no node:* module and no Node-only package', () => {
    const graph = reachable(join(REPO_ROOT, 'src', 'browser.ts'));
    const bad = [...graph].flatMap(([file, specs]) =>
      specs.filter((s) => s.startsWith('node:') || NODE_ONLY_PACKAGES.includes(s)).map((s) => `${file.replace(REPO_ROOT + '/', '')} imports ${s}`),
    );
    expect(bad).toEqual([]);
    expect(graph.size).toBeGreaterThan(5);
  });
});
