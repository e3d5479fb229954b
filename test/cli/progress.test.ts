/** The progress bar: only on a terminal, only for large inputs, ends with a newline. */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { progressBar } from '../../src/cli/progress.js';

describe('progress bar', () => {
  const isTTY = process.stderr.isTTY;
  afterEach(() => {
    Object.defineProperty(process.stderr, 'isTTY', { value: isTTY, configurable: true });
    vi.restoreAllMocks();
  });
  it('is off when stderr is not a terminal or when disabled', () => {
    Object.defineProperty(process.stderr, 'isTTY', { value: false, configurable: true });
    expect(progressBar('x', true)).toBeUndefined();
    Object.defineProperty(process.stderr, 'isTTY', { value: true, configurable: true });
    expect(progressBar('x', false)).toBeUndefined();
  });
  it('draws on a terminal for inputs of 64 MiB and more, and finishes the line', () => {
    Object.defineProperty(process.stderr, 'isTTY', { value: true, configurable: true });
    const writes: string[] = [];
    vi.spyOn(process.stderr, 'write').mockImplementation((s: any) => (writes.push(String(s)), true));
    const p = progressBar('building', true)!;
    p(1 << 20, 1 << 20); // small input: nothing
    expect(writes).toEqual([]);
    p(0, 128 << 20);
    p(128 << 20, 128 << 20);
    expect(writes.join('')).toMatch(/building \[#+\] 100% 128\/128 MiB/);
    expect(writes.at(-1)).toBe('\n');
  });
});
