/**
 * Every code the launcher can raise is documented in docs/launcher.md (docs/errors.md sends readers there): the
 * TS sources (src/launcher/, the CLI commands) and the helper's own codes and errno names (native/), found by
 * scanning the sources, so a new code without documentation fails here.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/shared.js';

const CODE = "'([A-Z][A-Z0-9_]+)'";

/** The ways a code is raised in the TS sources. */
const TS_PATTERNS = [
  new RegExp(`new EifError\\(\\s*${CODE}`, 'g'), // new EifError('CODE', …)
  new RegExp(`usageError\\((?:(?!usageError\\()[\\s\\S])*?,\\s*${CODE}\\s*\\)`, 'g'), // usageError(message, 'CODE')
  new RegExp(`\\bcode: ${CODE}`, 'g'), // pre-flight findings, deviceOpenMessage
  new RegExp(`\\?\\?\\s*${CODE}`, 'g'), // fallback codes: ev.code ?? 'HELPER_ERROR'
  new RegExp(`\\bcase ${CODE}:`, 'g'), // the helper's codes errorFromEvent rewords
  new RegExp(`\\b[A-Z][A-Z0-9_]+: ${CODE}`, 'g'), // code maps: { INPUT_NOT_FOUND: 'EIF_NOT_FOUND' }
  new RegExp(`\\[\\d+, ${CODE}`, 'g'), // the NE_ERR_* table
  /^\s+(E[A-Z0-9]+): \[/gm, // the errno names explained
];

/** The ways the helper reports a code (its `error` event), and the errno names it knows (code = errno name). */
const C_PATTERNS = [/\bfail\("[^"]*", "([A-Z][A-Z0-9_]+)"/g, /\\"code\\":\\"([A-Z][A-Z0-9_]+)\\"/g, /\{E[A-Z0-9]+, "(E[A-Z0-9]+)"\}/g, /"(NE_ERR_[A-Z_]+)"/g];

function codesIn(text: string, patterns: RegExp[]): Set<string> {
  const out = new Set<string>();
  for (const re of patterns) for (const m of text.matchAll(re)) out.add(m[1]!);
  if (/\busageError\(/.test(text)) out.add('USAGE'); // the default code
  return out;
}

function launcherCodes(): Set<string> {
  const ts = [
    ...readdirSync(join(REPO_ROOT, 'src', 'launcher')).filter((f) => f.endsWith('.ts')).map((f) => join(REPO_ROOT, 'src', 'launcher', f)),
    join(REPO_ROOT, 'src', 'cli', 'commands', 'launcher.ts'),
  ];
  const c = [join(REPO_ROOT, 'native', 'nehelper.c'), join(REPO_ROOT, 'native', 'ne_abi.h')];
  const codes = new Set<string>();
  for (const f of ts) for (const x of codesIn(readFileSync(f, 'utf8'), TS_PATTERNS)) codes.add(x);
  for (const f of c) for (const x of codesIn(readFileSync(f, 'utf8'), C_PATTERNS)) codes.add(x);
  return codes;
}

describe('launcher error codes', () => {
  it('the scan recognises each way a code is raised', () => {
    const ts = [
      "throw new EifError('A_1', 'x');",
      "throw usageError(`--x ${y}; (z)`, 'B_2');",
      "throw usageError('plain');",
      "out.push({ severity: 'fatal', code: 'C_3', message: m });",
      "const code = String(ev.code ?? 'D_4');",
      "  case 'E_5':",
      "const MAP = { INPUT_X: 'F_6' };",
      "  [256, 'NE_ERR_G', 'meaning', 'advice'],",
      "  EFOO: ['meaning', 'advice'],",
      "if (s.state === 'RUNNING') return 'GONE';", // not codes
    ].join('\n');
    expect([...codesIn(ts, TS_PATTERNS)].sort()).toEqual(['A_1', 'B_2', 'C_3', 'D_4', 'EFOO', 'E_5', 'F_6', 'NE_ERR_G', 'USAGE']);
    const c = 'fail("load", "H_7", 0, "x");\nemit("{\\"event\\":\\"error\\",\\"code\\":\\"I_8\\"}");\n  {EBAR, "EBAR"}, {EBAZ, "EBAZ"},\n  "NE_ERR_J", "NE_ERR_K",\n';
    expect([...codesIn(c, C_PATTERNS)].sort()).toEqual(['EBAR', 'EBAZ', 'H_7', 'I_8', 'NE_ERR_J', 'NE_ERR_K']);
  });

  it('every code the launcher and its helper can raise is in docs/launcher.md', () => {
    const codes = launcherCodes();
    // The scan must see the codes this task documented, or it checks nothing.
    for (const known of ['EIF_NOT_FOUND', 'NE_DEVICE_MISSING', 'NE_CPU_POOL_UNREADABLE', 'HUGEPAGES_INSUFFICIENT', 'CPU_POOL_TOO_SMALL',
      'MEMORY_TOO_SMALL', 'CONFIG_NOT_JSON', 'HEARTBEAT_TIMEOUT', 'INTERRUPTED', 'NE_ERR_INVALID_ENCLAVE_CID', 'EADDRINUSE', 'ENCLAVE_ID_INVALID', 'USAGE']) {
      expect(codes).toContain(known);
    }
    expect(codes.size).toBeGreaterThan(90);
    const doc = readFileSync(join(REPO_ROOT, 'docs', 'launcher.md'), 'utf8');
    expect([...codes].filter((c) => !doc.includes(`\`${c}\``)).sort()).toEqual([]);
  });
});
