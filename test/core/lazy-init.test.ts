// Runs in its own process (vitest pool: forks): nothing has initialised the core yet.
import { describe, expect, it } from 'vitest';
import { isCoreReady } from '../../src/core/wasm.js';
import { sha384 } from '../../src/core/sha384.js';
import { crc32 } from '../../src/core/crc32.js';

describe('lazy core (no initCore, no top-level await)', () => {
  it('the first WASM-backed call compiles the core synchronously', () => {
    expect(isCoreReady()).toBe(false);
    const te = new TextEncoder();
    expect(crc32(te.encode('123456789'))).toBe(0xcbf43926);
    expect(isCoreReady()).toBe(true);
    expect(Buffer.from(sha384(te.encode('abc'))).toString('hex')).toBe(
      'cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7',
    );
  });
});
