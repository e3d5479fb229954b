#!/usr/bin/env node
// Regenerates the files in this folder with the attestation test generator (test/attestation/helpers/generator.ts,
// run through vitest because it is TypeScript): `node test-vectors/attestation/generate.mjs`. See README.md.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const r = spawnSync(process.execPath, [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', 'test/attestation/committed-vectors.test.ts'], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, WRITE_ATTESTATION_VECTORS: '1' },
});
process.exitCode = r.status ?? 1;
