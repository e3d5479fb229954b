import { createHash, randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { initCore, coreInstance, preferredShaKernel } from '../../src/core/wasm.js';
import { createSha384, sha384, Sha384, SHA384_STATE_SIZE } from '../../src/core/sha384.js';
import { EifError } from '../../src/errors.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const ref = (...parts: Uint8Array[]) => {
  const h = createHash('sha384');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};
const IO = 1048576;

// Deterministic pseudo-random bytes (xorshift32), so failures reproduce.
function prng(seed: number) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
}

beforeAll(async () => {
  await initCore();
});

describe('SHA-384 known answers (FIPS 180-4 examples)', () => {
  const te = new TextEncoder();
  it('"abc"', () => {
    expect(hex(sha384(te.encode('abc')))).toBe(
      'cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7',
    );
  });
  it('empty string', () => {
    expect(hex(sha384(new Uint8Array(0)))).toBe(
      '38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b',
    );
    expect(hex(createSha384().digest())).toBe(hex(sha384(new Uint8Array(0))));
  });
  it('896-bit two-block message', () => {
    const m =
      'abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu';
    expect(hex(sha384(te.encode(m)))).toBe(
      '09330c33f71147e83d192fc782cd1b4753111b173b3b05d22fa08086e3b0f712fcc7c71a557e2db966c3e9fa91746039',
    );
  });
  it("one million 'a'", () => {
    const h = createSha384();
    const chunk = new Uint8Array(1000).fill(0x61);
    for (let i = 0; i < 1000; i++) h.update(chunk);
    expect(hex(h.digest())).toBe(
      '9d0e1809716474cb086e834e310a4a1ced149e9c00f248527972cec5704c2a5b07b8b3dc38ecc4ebae97ddd87f3d8985',
    );
  });
});

describe('SHA-384 against node:crypto', () => {
  it('random lengths 0..20000, one-shot and streamed in random pieces', () => {
    const rnd = prng(12345);
    for (let i = 0; i < 300; i++) {
      const len = i < 260 ? i : rnd() % 20001;
      const data = randomBytes(len);
      expect(hex(sha384(data)), `len ${len}`).toBe(ref(data));
      const h = createSha384();
      let off = 0;
      while (off < len) {
        const n = Math.min(len - off, rnd() % 300);
        h.update(data.subarray(off, off + n));
        off += n;
      }
      expect(hex(h.digest()), `streamed len ${len}`).toBe(ref(data));
    }
  });

  it('boundaries around 112/128 bytes, per split point', () => {
    const data = randomBytes(400);
    for (const len of [111, 112, 113, 127, 128, 129, 239, 240, 241, 255, 256, 257]) {
      for (const cut of [0, 1, 111, 112, 113, 127, 128, 129, len]) {
        if (cut > len) continue;
        const h = createSha384().update(data.subarray(0, cut)).update(data.subarray(cut, len));
        expect(hex(h.digest()), `len ${len} cut ${cut}`).toBe(ref(data.subarray(0, len)));
      }
    }
  });

  it('multi-MiB input split at odd chunk boundaries, including around IO_SIZE', () => {
    const data = randomBytes(5 * IO + 12345);
    const cuts = [IO - 1, IO, IO + 1, 2 * IO - 129, 2 * IO + 127, 3 * IO + 113, 4 * IO + 3, 5 * IO];
    const h = createSha384();
    let prev = 0;
    for (const c of cuts) {
      h.update(data.subarray(prev, c));
      prev = c;
    }
    h.update(data.subarray(prev));
    expect(hex(h.digest())).toBe(ref(data));
    // one update call larger than the I/O region
    expect(hex(sha384(data))).toBe(ref(data));
    // sizes exactly IO_SIZE and IO_SIZE +- 1
    for (const n of [IO - 1, IO, IO + 1, 3 * IO]) expect(hex(sha384(data.subarray(0, n))), `n ${n}`).toBe(ref(data.subarray(0, n)));
  });

  it('updateFromIo hashes bytes placed in the I/O region without a copy', () => {
    const c = coreInstance();
    const data = randomBytes(3 * IO - 77);
    const h = createSha384();
    for (let off = 0; off < data.length; off += IO - 5) {
      const n = Math.min(IO - 5, data.length - off);
      c.io().set(data.subarray(off, off + n));
      h.updateFromIo(n);
    }
    expect(hex(h.digest())).toBe(ref(data));
    // update() with a view that is exactly the I/O region's start also works (fast path)
    c.io().set(data.subarray(0, 1000));
    expect(hex(createSha384().update(c.io().subarray(0, 1000)).digest())).toBe(ref(data.subarray(0, 1000)));
    // a view into linear memory elsewhere in the I/O region, longer than a piece, is detached before copying
    c.io().set(data.subarray(0, IO));
    const inner = c.io().subarray(10, IO);
    expect(hex(createSha384().update(inner).digest())).toBe(ref(data.subarray(10, IO)));
  });
});

describe('forked, exported and interleaved states', () => {
  it('clone mid-stream then diverge', () => {
    const a = randomBytes(1000);
    const b1 = randomBytes(777);
    const b2 = randomBytes(3000);
    for (const cut of [0, 5, 112, 128, 130, 1000]) {
      const h = createSha384().update(a.subarray(0, cut));
      const fork = h.clone();
      h.update(b1);
      fork.update(b2);
      const fork2 = fork.clone();
      expect(hex(h.digest())).toBe(ref(a.subarray(0, cut), b1));
      expect(hex(fork.digest())).toBe(ref(a.subarray(0, cut), b2));
      expect(hex(fork2.update(b1).digest())).toBe(ref(a.subarray(0, cut), b2, b1));
    }
  });

  it('forkDigest: the digest so far, and the stream goes on (at block boundaries, fresh, interleaved)', () => {
    const a = randomBytes(1000);
    const b = randomBytes(2000);
    for (const cut of [0, 5, 112, 128, 130, 1000]) {
      const h = createSha384().update(a.subarray(0, cut));
      const other = createSha384().update(b); // owns the core between the two calls
      expect(hex(h.forkDigest())).toBe(ref(a.subarray(0, cut)));
      other.update(a);
      expect(hex(h.forkDigest())).toBe(ref(a.subarray(0, cut)));
      h.update(b);
      expect(hex(h.digest())).toBe(ref(a.subarray(0, cut), b));
      expect(hex(other.digest())).toBe(ref(b, a));
    }
    expect(hex(createSha384().forkDigest())).toBe(ref());
    const done = createSha384();
    done.digest();
    expect(() => done.forkDigest()).toThrow(expect.objectContaining({ code: 'CORE_HASH_FINALIZED' }));
  });

  it('clone of a fresh hasher, and clone while another hasher owns the core', () => {
    const x = randomBytes(500);
    const fresh = createSha384();
    const other = createSha384().update(x);
    const c1 = fresh.clone();
    other.update(x);
    expect(hex(c1.update(x).digest())).toBe(ref(x));
    expect(hex(fresh.digest())).toBe(ref());
    expect(hex(other.digest())).toBe(ref(x, x));
  });

  it('exportState / fromState round trip, across hashers', () => {
    const a = randomBytes(12345);
    const b = randomBytes(999);
    const h = createSha384().update(a);
    const st = h.exportState();
    expect(st.length).toBe(SHA384_STATE_SIZE);
    const noise = createSha384().update(b); // takes over the core's state area
    const resumed = Sha384.fromState(st);
    st.fill(0); // the imported copy must be independent of the caller's buffer
    expect(hex(resumed.update(b).digest())).toBe(ref(a, b));
    expect(hex(h.update(b).digest())).toBe(ref(a, b));
    expect(hex(noise.digest())).toBe(ref(b));
    // the state of a fresh hasher resumes to the empty hash
    expect(hex(Sha384.fromState(createSha384().exportState()).digest())).toBe(ref());
  });

  it('rejects malformed states with CORE_BAD_STATE', () => {
    const good = createSha384().update(randomBytes(300)).exportState();
    const bad = [new Uint8Array(0), new Uint8Array(207), new Uint8Array(208), good.slice(0, 207)];
    const wrongUsed = good.slice();
    wrongUsed[72] = (wrongUsed[72]! + 1) & 0x7f;
    bad.push(wrongUsed);
    for (const s of bad) {
      expect(() => Sha384.fromState(s)).toThrow(EifError);
      try {
        Sha384.fromState(s);
      } catch (e) {
        expect((e as EifError).code).toBe('CORE_BAD_STATE');
      }
    }
  });

  it('many interleaved hashers', () => {
    const rnd = prng(99);
    const n = 7;
    const hs = Array.from({ length: n }, () => createSha384());
    const parts: Uint8Array[][] = Array.from({ length: n }, () => []);
    for (let step = 0; step < 400; step++) {
      const i = rnd() % n;
      const d = randomBytes(rnd() % 700);
      hs[i]!.update(d);
      parts[i]!.push(d);
    }
    hs.forEach((h, i) => expect(hex(h.digest())).toBe(ref(...parts[i]!)));
  });

  it('a finalised hasher cannot be used again', () => {
    const h = createSha384();
    h.digest();
    for (const f of [() => h.update(new Uint8Array(1)), () => h.digest(), () => h.clone(), () => h.exportState()]) {
      try {
        f();
        expect.fail('should throw');
      } catch (e) {
        expect((e as EifError).code).toBe('CORE_HASH_FINALIZED');
      }
    }
  });

  it('rejects bad updateFromIo lengths', () => {
    const h = createSha384();
    for (const n of [-1, 1.5, IO + 1, NaN]) {
      try {
        h.updateFromIo(n);
        expect.fail('should throw');
      } catch (e) {
        expect((e as EifError).code).toBe('CORE_BAD_ARGUMENT');
      }
    }
    expect(hex(h.digest())).toBe(ref());
  });
});

describe('the two forms of the SHA-512 rounds (docs/core.md: chains, flat)', () => {
  // Both kernels must give node:crypto's digests; the host picks one per engine (preferredShaKernel).
  for (const k of [0, 1]) {
    it(`kernel ${k}: random lengths, streamed in pieces that cross block and I/O boundaries`, () => {
      const x = coreInstance().exports;
      const before = x.sha384Kernel();
      x.sha384SetKernel(k);
      try {
        expect(x.sha384Kernel()).toBe(k);
        const rnd = prng(777 + k);
        for (const len of [0, 1, 111, 112, 127, 128, 129, 255, 256, 4097, IO - 1, IO + 129, 3 * IO + 77]) {
          const data = randomBytes(len);
          expect(hex(sha384(data)), `len ${len}`).toBe(ref(data));
          const h = createSha384();
          for (let off = 0; off < len; ) {
            const n = Math.min(len - off, 1 + (rnd() % 200_000));
            h.update(data.subarray(off, off + n));
            off += n;
          }
          expect(hex(h.digest()), `streamed len ${len}`).toBe(ref(data));
        }
      } finally {
        x.sha384SetKernel(before);
      }
    });
  }

  it('a value other than 0 or 1 selects the chains', () => {
    const x = coreInstance().exports;
    const before = x.sha384Kernel();
    x.sha384SetKernel(7);
    expect(x.sha384Kernel()).toBe(0);
    x.sha384SetKernel(before);
  });

  it('the engine picks: chains on V8 11 (Node 20), flat elsewhere', () => {
    const major = Number.parseInt(process.versions.v8, 10);
    expect(preferredShaKernel()).toBe(major <= 11 ? 0 : 1);
    expect(coreInstance().exports.sha384Kernel()).toBe(preferredShaKernel());
    const saved = Object.getOwnPropertyDescriptor(globalThis, 'process')!;
    try {
      Object.defineProperty(globalThis, 'process', { value: undefined, configurable: true, writable: true });
      expect(preferredShaKernel()).toBe(1); // a browser: no process.versions.v8
      Object.defineProperty(globalThis, 'process', { value: { versions: { v8: '15.6.1' } }, configurable: true, writable: true });
      expect(preferredShaKernel()).toBe(1);
      Object.defineProperty(globalThis, 'process', { value: { versions: { v8: '11.3.244.8-node.38' } }, configurable: true, writable: true });
      expect(preferredShaKernel()).toBe(0);
    } finally {
      Object.defineProperty(globalThis, 'process', saved);
    }
  });
});
