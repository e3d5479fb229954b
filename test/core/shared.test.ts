import { describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { coreInstance, initCore } from '../../src/core/index.js';
import { SHARED_B_BASE, SHARED_RING_BASE, instantiateSharedCore, sharedCoreInstance, sharedMemoryPages } from '../../src/core/shared.js';
import { Sha384 } from '../../src/core/sha384.js';

await initCore();

const sha384 = (d: Uint8Array): string => createHash('sha384').update(d).digest('hex');
const hex = (mem: WebAssembly.Memory, ptr: number): string => Buffer.from(new Uint8Array(mem.buffer, ptr, 48)).toString('hex');

describe('shared-memory builds of the core (src/core/shared.ts, docs/core.md)', () => {
  it('instantiate side by side on one shared memory, each with its static data in its own band below the ring', async () => {
    const pages = sharedMemoryPages(8 << 20);
    expect(pages).toBe(192);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    const a = await instantiateSharedCore('A', memory);
    const b = await instantiateSharedCore('B', memory);
    expect(a.staticEnd()).toBeLessThanOrEqual(SHARED_B_BASE);
    expect(b.ioPtr()).toBeGreaterThanOrEqual(SHARED_B_BASE);
    expect(b.staticEnd()).toBeLessThanOrEqual(SHARED_RING_BASE);
    for (const p of [a.sha384StatePtr(), a.sha384DigestPtr()]) expect(p).toBeLessThan(SHARED_B_BASE);
  });

  it('both hash the same ring bytes in place, interleaved, at odd split points: node:crypto’s digests', async () => {
    const pages = sharedMemoryPages(4 << 20);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    const a = await instantiateSharedCore('A', memory);
    const b = await instantiateSharedCore('B', memory);
    const data = randomBytes((3 << 20) + 1234);
    new Uint8Array(memory.buffer, SHARED_RING_BASE, data.length).set(data);
    a.sha384Init();
    b.sha384Init();
    const cutsA = [0, 1, 127, 128, 129, 1 << 20, (2 << 20) + 5, data.length];
    const cutsB = [0, 111, 112, 113, 70000, data.length - 1, data.length];
    for (let i = 1; i < Math.max(cutsA.length, cutsB.length); i++) {
      if (i < cutsA.length) a.sha384UpdateFrom(SHARED_RING_BASE + cutsA[i - 1]!, cutsA[i]! - cutsA[i - 1]!);
      if (i < cutsB.length) b.sha384UpdateFrom(SHARED_RING_BASE + cutsB[i - 1]!, cutsB[i]! - cutsB[i - 1]!);
    }
    a.sha384Final();
    b.sha384Final();
    expect(hex(memory, a.sha384DigestPtr())).toBe(sha384(data));
    expect(hex(memory, b.sha384DigestPtr())).toBe(sha384(data));
  });

  it('refuse a memory that is not shared, with CORE_INIT_FAILED', async () => {
    const memory = new WebAssembly.Memory({ initial: 192, maximum: 192 });
    await expect(instantiateSharedCore('A', memory)).rejects.toMatchObject({ code: 'CORE_INIT_FAILED' });
  });

  it('the release build hashes from any address too (sha384UpdateFrom), the same as through the I/O region', () => {
    const c = coreInstance();
    const x = c.exports;
    const data = randomBytes(5000);
    const at = x.staticEnd() + 64; // free linear memory above the static data
    new Uint8Array(c.memory.buffer, at, data.length).set(data);
    x.sha384Init();
    x.sha384UpdateFrom(at, 77);
    x.sha384UpdateFrom(at + 77, data.length - 77);
    x.sha384Final();
    expect(hex(c.memory, x.sha384DigestPtr())).toBe(sha384(data));
  });
});

describe('the core hasher on a shared build (Sha384.create(sharedCoreInstance(…)): the face the hash workers use)', () => {
  it('updateInMemory hashes ring bytes in place, forkDigest forks mid-stream, both instances side by side', async () => {
    const pages = sharedMemoryPages(4 << 20);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    const coreA = sharedCoreInstance(await instantiateSharedCore('A', memory), memory);
    const coreB = sharedCoreInstance(await instantiateSharedCore('B', memory), memory);
    const data = randomBytes((2 << 20) + 777);
    new Uint8Array(memory.buffer, SHARED_RING_BASE, data.length).set(data);
    const split = (1 << 20) + 5;
    const a = Sha384.create(coreA);
    const b = Sha384.create(coreB);
    a.updateInMemory(SHARED_RING_BASE, split);
    b.updateInMemory(SHARED_RING_BASE + split, data.length - split);
    const fork = a.forkDigest();
    a.updateInMemory(SHARED_RING_BASE + split, data.length - split);
    expect(Buffer.from(fork).toString('hex')).toBe(sha384(data.subarray(0, split)));
    expect(Buffer.from(a.digest()).toString('hex')).toBe(sha384(data));
    expect(Buffer.from(b.digest()).toString('hex')).toBe(sha384(data.subarray(split)));
    // the main instance's hashers are unaffected by the shared ones
    expect(Buffer.from(Sha384.create().update(data).digest()).toString('hex')).toBe(sha384(data));
  });
  it('updateInMemory refuses a range outside the memory or over the hash state (CORE_BAD_ARGUMENT)', async () => {
    const pages = sharedMemoryPages(1 << 20);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    const core = sharedCoreInstance(await instantiateSharedCore('A', memory), memory);
    const h = Sha384.create(core);
    expect(() => h.updateInMemory(memory.buffer.byteLength - 10, 11)).toThrow(expect.objectContaining({ code: 'CORE_BAD_ARGUMENT' }));
    expect(() => h.updateInMemory(-1, 4)).toThrow(expect.objectContaining({ code: 'CORE_BAD_ARGUMENT' }));
    expect(() => h.updateInMemory(core.exports.sha384StatePtr() - 4, 8)).toThrow(expect.objectContaining({ code: 'CORE_BAD_ARGUMENT' }));
    expect(coreInstance()).not.toBe(core);
  });
});
