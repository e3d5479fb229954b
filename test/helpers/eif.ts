/** Helpers for EIF tests: our own vectors, byte mutation with CRC repair, temp folders, running the CLI. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { crc32 } from 'node:zlib';
import { afterAll } from 'vitest';
import { REPO_ROOT } from './shared.js';

export const VECTORS = join(REPO_ROOT, 'test-vectors', 'eif');
export const expectedVectors = JSON.parse(readFileSync(join(VECTORS, 'expected.json'), 'utf8'));

export function vector(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(VECTORS, `${name}.eif`)));
}

/** Recompute the header CRC of a (mutated) EIF so that only the intended rule is broken. */
export function fixCrc(eif: Uint8Array): Uint8Array {
  const out = eif.slice();
  const crc = crc32(out.subarray(548), crc32(out.subarray(0, 544)));
  new DataView(out.buffer).setUint32(544, crc >>> 0);
  return out;
}

export const view = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset, b.byteLength);

/** A temp folder removed after the file's tests. */
export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'eifkit-test-'));
  afterAll(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Run `node bin/eif.js …` (the compiled CLI; `npm test` builds it first). */
export function eif(args: string[], opts: { env?: Record<string, string>; input?: string | Uint8Array; cwd?: string } = {}): CliResult {
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'eif.js'), ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...opts.env },
    input: opts.input,
    cwd: opts.cwd,
    timeout: 120_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
