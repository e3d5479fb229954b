/** `eif bench` (issue 9, benchmarking for users): the documented JSON shape (docs/cli.md) with positive numbers. */
import { describe, expect, it } from 'vitest';
import { eif } from '../helpers/eif.js';
import { parseSize } from '../../src/cli/commands/bench.js';

describe('eif bench', () => {
  it('--size 1MiB --json gives the documented shape with positive numbers', () => {
    const r = eif(['bench', '--size', '1MiB', '--json', '--rounds', '3']);
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(Object.keys(j)).toEqual(['eifkit', 'node', 'platform', 'cpus', 'size', 'rounds', 'results']);
    expect(j).toMatchObject({ size: 1 << 20, rounds: 3, node: process.version });
    expect(j.cpus).toBeGreaterThan(0);
    expect(j.results.map((x: any) => [x.algorithm, x.reference])).toEqual([['SHA-384', 'node:crypto'], ['CRC-32', 'zlib.crc32']]);
    for (const x of j.results) {
      expect(Object.keys(x)).toEqual(['algorithm', 'reference', 'referenceMBps', 'wasmMBps', 'ratio', 'ratioMin', 'ratioMax', 'cleanRounds']);
      for (const k of ['referenceMBps', 'wasmMBps', 'ratio', 'ratioMin', 'ratioMax']) expect(x[k]).toBeGreaterThan(0);
      expect(x.ratioMin).toBeLessThanOrEqual(x.ratio);
      expect(x.ratio).toBeLessThanOrEqual(x.ratioMax);
      expect(x.cleanRounds).toBeGreaterThanOrEqual(0);
      expect(x.cleanRounds).toBeLessThanOrEqual(3);
    }
  }, 120_000);
  it('sizes: units, and bad values are usage errors', () => {
    expect(parseSize('1MiB')).toBe(1 << 20);
    expect(parseSize('64KiB')).toBe(65536);
    expect(parseSize('2M')).toBe(2e6);
    expect(parseSize('4096')).toBe(4096);
    for (const bad of ['0', '2GiB', '1 parsec', '']) expect(() => parseSize(bad)).toThrow(/--size/);
    const r = eif(['bench', '--size', 'lots']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^eif: error USAGE: --size "lots"/);
  });
});
