/**
 * The floors of docs/architecture.md, checked from the imports: every relative import (static, `export … from`,
 * dynamic `import()`, type-only too) of every src/**\/*.ts file is resolved to its room (the first folder under
 * src/, or the file name for src/*.ts) and must be allowed by the table below. Arrows point down: the primitives
 * (pki, cbor, core, util) import from no feature room, cose only from the primitives, eif not from the rooms
 * that use it, and nothing on the browser-safe floor from node/, cli/ or launcher/.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './helpers/shared.js';

const SRC = join(REPO_ROOT, 'src');

const FLOOR = ['error-codes.ts', 'errors.ts', 'util', 'core', 'cbor', 'pki'];
const BROWSER_SAFE = [...FLOOR, 'version.ts', 'eif', 'cose', 'signing', 'inspect', 'attestation', 'oci', 'browser.ts'];

/** Room → the rooms it may import from (its own room is always allowed). `'*'` = any. */
const MAY_IMPORT: Record<string, readonly string[] | '*'> = {
  'error-codes.ts': [],
  'errors.ts': ['error-codes.ts'],
  'version.ts': [],
  util: ['errors.ts', 'error-codes.ts'],
  core: ['errors.ts', 'error-codes.ts', 'util'],
  cbor: ['errors.ts', 'error-codes.ts', 'util'],
  pki: ['errors.ts', 'error-codes.ts', 'util'],
  cose: ['pki', 'cbor', 'core', 'util', 'errors.ts', 'error-codes.ts'],
  eif: ['pki', 'cbor', 'cose', 'core', 'util', 'errors.ts', 'error-codes.ts', 'version.ts'],
  signing: ['eif', 'pki', 'cbor', 'cose', 'core', 'util', 'errors.ts', 'error-codes.ts', 'version.ts'],
  // the browser inspector: the format codecs and the signature verdict together (src/inspect/eif.ts)
  inspect: ['eif', 'signing', 'pki', 'cbor', 'cose', 'core', 'util', 'errors.ts', 'error-codes.ts', 'version.ts'],
  // inspect: measuring EIF bytes given as a policy (the default measurer of verifyAttestation)
  attestation: ['inspect', 'eif', 'pki', 'cbor', 'cose', 'core', 'util', 'errors.ts', 'error-codes.ts', 'version.ts'],
  // container images → ramdisks (docs/oci.md): tar, layers, docker export and linuxkit rules, cpio
  oci: ['eif', 'core', 'util', 'errors.ts', 'error-codes.ts', 'version.ts'],
  'browser.ts': BROWSER_SAFE,
  node: [...BROWSER_SAFE, 'launcher'],
  launcher: [...BROWSER_SAFE, 'node'],
  cli: '*',
  'index.ts': '*',
};

/**
 * Known exceptions, exactly as they are today, each to be removed when its import goes (an entry that no
 * longer matches is harmless, but delete it). None today: the browser inspection moved above eif and signing
 * (src/inspect), and eif/builder.ts declares the `EifSigner` interface that signing implements.
 */
const ALLOWED_EXCEPTIONS: readonly string[] = [];

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** Relative specifiers a file imports: `import … from`, `export … from`, `import '…'`, `import('…')`. */
export function importSpecifiers(source: string): string[] {
  const text = source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const out: string[] = [];
  for (const re of [/\b(?:import|export)\s[^'";]*?\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, /^\s*import\s*['"]([^'"]+)['"]/gm]) {
    for (const m of text.matchAll(re)) if (m[1]!.startsWith('.')) out.push(m[1]!);
  }
  return out;
}

function roomOf(srcRelative: string): string {
  const [first] = srcRelative.split('/');
  return first!;
}

/** Every import edge that breaks the table: `from -> to (room → room)`. `files` maps src-relative paths to source. */
export function violations(files: ReadonlyMap<string, string>, exceptions: readonly string[] = ALLOWED_EXCEPTIONS): string[] {
  const out: string[] = [];
  for (const [file, source] of files) {
    const room = roomOf(file);
    const allowed = MAY_IMPORT[room];
    if (allowed === undefined) {
      out.push(`${file}: room "${room}" is not in the table (add it to MAY_IMPORT)`);
      continue;
    }
    for (const spec of importSpecifiers(source)) {
      const target = relative('/src', resolve('/src', dirname(file), spec)).replace(/\\/g, '/').replace(/\.js$/, '.ts');
      const to = roomOf(target);
      if (to === room || allowed === '*' || allowed.includes(to)) continue;
      const edge = `${file} -> ${target}`;
      if (exceptions.includes(edge)) continue;
      out.push(`${edge} (${room} must not import from ${to})`);
    }
  }
  return out.sort();
}

function sourceTree(): Map<string, string> {
  return new Map(tsFiles(SRC).map((p) => [relative(SRC, p).replace(/\\/g, '/'), readFileSync(p, 'utf8')]));
}

describe('import directions (docs/architecture.md floors)', () => {
  it('no upward import in src/', () => {
    expect(violations(sourceTree())).toEqual([]);
  });

  it('every room of src/ is in the table', () => {
    const rooms = new Set([...sourceTree().keys()].map(roomOf));
    expect([...rooms].filter((r) => !(r in MAY_IMPORT))).toEqual([]);
  });

  it('the browser-safe floor never reaches node/, cli/ or launcher/', () => {
    for (const room of BROWSER_SAFE) {
      const allowed = MAY_IMPORT[room];
      expect(allowed, room).not.toBe('*');
      for (const up of ['node', 'cli', 'launcher']) expect(allowed, room).not.toContain(up);
    }
  });

  it('the checker itself catches upward imports of every form', () => {
    const fake = new Map([
      ['pki/x.ts', "import { a } from '../signing/a.js';\nexport { b } from '../cose/b.js';"],
      ['cbor/y.ts', "import type {\n  T,\n} from '../attestation/t.js';"],
      ['cose/z.ts', "const m = await import('../eif/m.js');\nimport '../node/side-effect.js';"],
      ['eif/w.ts', "import { c } from '../cli/c.js'; // and a comment: from '../node/q.js'"],
      ['core/ok.ts', "import { e } from '../errors.js';\nimport { u } from '../util/hex.js';\nimport { w } from 'node:fs';"],
      ['newroom/n.ts', ''],
    ]);
    expect(violations(fake, [])).toEqual([
      'cbor/y.ts -> attestation/t.ts (cbor must not import from attestation)',
      'cose/z.ts -> eif/m.ts (cose must not import from eif)',
      'cose/z.ts -> node/side-effect.ts (cose must not import from node)',
      'eif/w.ts -> cli/c.ts (eif must not import from cli)',
      'newroom/n.ts: room "newroom" is not in the table (add it to MAY_IMPORT)',
      'pki/x.ts -> cose/b.ts (pki must not import from cose)',
      'pki/x.ts -> signing/a.ts (pki must not import from signing)',
    ]);
  });
});
