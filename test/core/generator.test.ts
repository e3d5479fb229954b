// The committed assembly/sha512-compress.generated.ts must be exactly what scripts/gen-sha384.mjs emits.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/shared.js';

describe('generated SHA-512 compression kernel', () => {
  it('is up to date with its generator', () => {
    const r = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts', 'gen-sha384.mjs'), '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('is fully unrolled: two forms (chains, flat) of 80 rounds each, K folded into the SIMD schedule', () => {
    const src = readFileSync(join(REPO_ROOT, 'assembly', 'sha512-compress.generated.ts'), 'utf8');
    expect(src.match(/^export function sha512Compress(Chain|Flat)\(/gm)?.length).toBe(2);
    expect(src.match(/^ {4}t1 = /gm)?.length).toBe(160);
    expect(src.match(/v128\.store\(WK, /g)?.length).toBe(80); // 40 pairs of W_t + K_t per form
    expect(src).toContain('0x428a2f98d728ae22'); // K_0
    expect(src).toContain('0x6c44198c4a475817'); // K_79
  });
});
