// Runs in its own process (vitest pool: forks): nothing has initialised the core yet.
import { describe, expect, it } from 'vitest';
import { coreInstance, isCoreReady, initCore } from '../../src/core/wasm.js';
import { createSha384, sha384, Sha384 } from '../../src/core/sha384.js';
import { crc32, crc32FromIo, crc32Combine } from '../../src/core/crc32.js';
import { EifError } from '../../src/errors.js';
import * as zlib from 'node:zlib';

const zcrc = (zlib as unknown as { crc32(d: Uint8Array): number }).crc32;

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(EifError);
    return (e as EifError).code;
  }
  return undefined;
}

describe('core before initCore()', () => {
  it('where a synchronous compile is refused (a browser main thread), every WASM-backed call throws CORE_NOT_READY', () => {
    const real = WebAssembly.Module;
    (WebAssembly as { Module: unknown }).Module = function refused() {
      throw new RangeError('WebAssembly.Compile is disallowed on the main thread, if the buffer size is larger than 4KB');
    };
    try {
      expect(isCoreReady()).toBe(false);
      expect(code(() => coreInstance())).toBe('CORE_NOT_READY');
      expect(code(() => createSha384())).toBe('CORE_NOT_READY');
      expect(code(() => sha384(new Uint8Array(3)))).toBe('CORE_NOT_READY');
      expect(code(() => Sha384.fromState(new Uint8Array(208)))).toBe('CORE_NOT_READY');
      expect(code(() => crc32(new Uint8Array(3)))).toBe('CORE_NOT_READY');
      expect(code(() => crc32FromIo(3))).toBe('CORE_NOT_READY');
      expect(isCoreReady()).toBe(false);
    } finally {
      (WebAssembly as { Module: unknown }).Module = real;
    }
  });

  it('crc32Combine is pure TypeScript and works without the core', () => {
    // crc32("123456789") = 0xCBF43926 from crc32("12345") and crc32("6789"), both from zlib
    const te = new TextEncoder();
    expect(crc32Combine(zcrc(te.encode('12345')), zcrc(te.encode('6789')), 4)).toBe(0xcbf43926);
  });

  it('initCore is idempotent and concurrent calls share one compile', async () => {
    const [a, b] = [initCore(), initCore()];
    expect(a).toBe(b);
    await a;
    await initCore();
    expect(isCoreReady()).toBe(true);
    expect(coreInstance()).toBe(coreInstance());
    expect(coreInstance().ioSize).toBe(1048576);
  });
});
