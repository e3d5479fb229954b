/**
 * The public surface as a consumer sees it: `import … from 'eifkit'` and `'eifkit/browser'` resolved through
 * package.json's "exports" (a package may import itself by name), i.e. the built `dist/` a user installs.
 *  - importing either entry compiles nothing and needs no top-level await (the core compiles on first use); only
 *    dist/index.js has a side effect (it registers node:crypto's P-384 verify) and package.json says so;
 *  - a name exported by both entries is the same value, so the same name always has the same shape;
 *  - paths and bytes have distinct names (…File for paths, …Bytes for bytes) — no alias shadows another;
 *  - every exported function carries an `@example` in its doc comment (checked in the emitted .d.ts files);
 *  - the error codes are a typed union that matches docs/ (`ERROR_CODES`).
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './helpers/shared.js';

const DIST = join(REPO_ROOT, 'dist');

describe('public surface (consumer view of dist/)', async () => {
  const node = (await import('eifkit')) as Record<string, unknown>;
  const browser = (await import('eifkit/browser')) as Record<string, unknown>;

  it('importing the entries compiles nothing yet; the first hash compiles the core', () => {
    expect((node.isCoreReady as () => boolean)()).toBe(false);
    const digest = (node.sha384 as (b: Uint8Array) => Uint8Array)(new Uint8Array(0));
    expect(digest.length).toBe(48);
    expect((browser.isCoreReady as () => boolean)()).toBe(true); // one core per realm: the same module
  });

  it('package.json: only the Node entry is declared to have a side effect', () => {
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));
    expect(pkg.sideEffects).toEqual(['./dist/index.js']);
  });

  it('a name exported by both entries is the same value', () => {
    const shared = Object.keys(browser).filter((k) => k in node);
    expect(shared.length).toBe(Object.keys(browser).length);
    expect(shared.filter((k) => node[k] !== browser[k])).toEqual([]);
  });

  it('paths and bytes have distinct names', () => {
    for (const verb of ['build', 'describe', 'measure', 'inspect', 'verify']) {
      expect(node[`${verb}Eif`], `${verb}Eif is ambiguous (path or bytes?)`).toBeUndefined();
    }
    for (const name of ['buildEifFile', 'describeEifFile', 'measureEifFile', 'inspectEifFile', 'verifyEifFile']) {
      expect(typeof node[name], name).toBe('function');
      expect(browser[name], `${name} (paths) must not be in the browser entry`).toBeUndefined();
    }
    for (const name of ['buildEifBytes', 'describeEifBytes', 'measureEifBytes', 'inspectEifBytes']) {
      expect(typeof browser[name], name).toBe('function');
    }
  });

  it('every exported function has an @example in its doc comment', () => {
    const dts = (dir: string): string[] =>
      readdirSync(dir).flatMap((f) => {
        const p = join(dir, f);
        return statSync(p).isDirectory() ? dts(p) : p.endsWith('.d.ts') ? [readFileSync(p, 'utf8')] : [];
      });
    const text = dts(DIST).join('\n');
    const functions = Object.entries(node).filter(([, v]) => typeof v === 'function' && !/^class\s/.test(String(v)));
    const missing = functions
      .map(([name]) => name)
      .filter((name) => {
        // the declaration's own doc comment: `/** … */` right before `export declare function name(` (or a const)
        const re = new RegExp(`/\\*\\*((?:(?!\\*/)[\\s\\S])*)\\*/\\s*export declare (?:function|const) ${name}\\b`);
        const m = re.exec(text);
        return !m || !m[1]!.includes('@example');
      });
    expect(functions.length).toBeGreaterThan(20);
    expect(missing).toEqual([]);
  });

  it('error codes: one typed list, each documented in docs/', () => {
    const codes = node.ERROR_CODES as readonly string[];
    expect(Array.isArray(codes)).toBe(true);
    expect(new Set(codes).size).toBe(codes.length);
    const docs = readdirSync(join(REPO_ROOT, 'docs'))
      .map((f) => readFileSync(join(REPO_ROOT, 'docs', f), 'utf8'))
      .join('\n');
    expect(codes.filter((c) => !new RegExp(`\\b${c}\\b`).test(docs))).toEqual([]);
  });
});
