/**
 * Error codes are a public contract: every code the source can raise is documented in docs/ (errors.md for the
 * EIF and CLI codes, the area docs for SIG_*, ATT_*, NE_* and launcher codes).
 */
import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './helpers/shared.js';

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

export function raisedCodes(): Set<string> {
  const codes = new Set<string>();
  for (const f of files(join(REPO_ROOT, 'src'))) {
    const text = readFileSync(f, 'utf8');
    for (const m of text.matchAll(/new EifError\(\s*'([A-Z][A-Z0-9_]+)'/g)) codes.add(m[1]!);
    // usageError(message, 'CODE'): the message may hold ';' and one level of parentheses (template calls)
    for (const m of text.matchAll(/usageError\((?:[^()]|\([^()]*\))*?,\s*'([A-Z][A-Z0-9_]+)'\s*\)/g)) codes.add(m[1]!);
    // verify's per-check failures: fail('check', 'CODE', …)
    for (const m of text.matchAll(/\bfail\(\s*[^,()]+,\s*'([A-Z][A-Z0-9_]+)'/g)) codes.add(m[1]!);
    for (const block of text.matchAll(/_CODES\s*=\s*\[([\s\S]*?)\]/g)) for (const m of block[1]!.matchAll(/'([A-Z][A-Z0-9_]+)'/g)) codes.add(m[1]!);
  }
  return codes;
}

describe('error codes', () => {
  it('every raised code is documented in docs/', () => {
    const docs = readdirSync(join(REPO_ROOT, 'docs')).map((f) => readFileSync(join(REPO_ROOT, 'docs', f), 'utf8')).join('\n');
    const codes = [...raisedCodes()];
    expect(codes.length).toBeGreaterThan(50);
    expect(codes.filter((c) => !new RegExp(`\\b${c}\\b`).test(docs)).sort()).toEqual([]);
  });
});
