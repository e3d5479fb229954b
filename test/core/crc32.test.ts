import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { initCore, coreInstance } from '../../src/core/wasm.js';
import { crc32, crc32FromIo, crc32Combine } from '../../src/core/crc32.js';
import { EifError } from '../../src/errors.js';

const zcrc = (zlib as unknown as { crc32(d: Uint8Array, v?: number): number }).crc32;
const IO = 1048576;

beforeAll(async () => {
  await initCore();
});

describe('CRC-32/ISO-HDLC', () => {
  it('check value of "123456789" is 0xCBF43926', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
    expect(crc32(new Uint8Array(0), 0xdeadbeef)).toBe(0xdeadbeef);
  });

  it('matches zlib.crc32 on random lengths 0..20000 and as a continuation', () => {
    for (let i = 0; i < 400; i++) {
      const len = i < 100 ? i : Math.floor(Math.random() * 20001);
      const data = randomBytes(len);
      expect(crc32(data), `len ${len}`).toBe(zcrc(data));
      const cut = Math.floor(Math.random() * (len + 1));
      expect(crc32(data.subarray(cut), crc32(data.subarray(0, cut)))).toBe(zcrc(data));
    }
  });

  it('multi-MiB input at odd chunk boundaries, and the I/O-region variant', () => {
    const data = randomBytes(4 * IO + 4321);
    expect(crc32(data)).toBe(zcrc(data));
    let crc = 0;
    let prev = 0;
    for (const c of [IO - 1, IO, IO + 15, 2 * IO + 17, 3 * IO + 1, data.length]) {
      crc = crc32(data.subarray(prev, c), crc);
      prev = c;
    }
    expect(crc).toBe(zcrc(data));
    const io = coreInstance().io();
    crc = 0;
    for (let off = 0; off < data.length; off += IO - 3) {
      const n = Math.min(IO - 3, data.length - off);
      io.set(data.subarray(off, off + n));
      crc = crc32FromIo(n, crc);
    }
    expect(crc).toBe(zcrc(data));
    io.set(data.subarray(0, IO));
    expect(crc32(io.subarray(0, 5000))).toBe(zcrc(data.subarray(0, 5000)));
    expect(crc32(io.subarray(7, IO))).toBe(zcrc(data.subarray(7, IO)));
  });

  it('rejects bad arguments with CORE_BAD_ARGUMENT', () => {
    for (const f of [
      () => crc32(new Uint8Array(1), -1),
      () => crc32(new Uint8Array(1), 2 ** 32),
      () => crc32FromIo(IO + 1),
      () => crc32FromIo(-1),
      () => crc32Combine(0, 0, -1),
      () => crc32Combine(0, 0, 2 ** 53),
      () => crc32Combine(0, 0, -1n),
    ]) {
      try {
        f();
        expect.fail('should throw');
      } catch (e) {
        expect(e).toBeInstanceOf(EifError);
        expect((e as EifError).code).toBe('CORE_BAD_ARGUMENT');
      }
    }
  });
});

describe('crc32Combine', () => {
  it('equals the direct CRC for random splits, including empty parts', () => {
    const data = randomBytes(50000);
    for (let i = 0; i < 200; i++) {
      const len = Math.floor(Math.random() * data.length);
      const cut = i === 0 ? 0 : i === 1 ? len : Math.floor(Math.random() * (len + 1));
      const a = data.subarray(0, cut);
      const b = data.subarray(cut, len);
      const want = zcrc(data.subarray(0, len));
      expect(crc32Combine(zcrc(a), zcrc(b), b.length)).toBe(want);
      expect(crc32Combine(zcrc(a), zcrc(b), BigInt(b.length))).toBe(want);
    }
    // lenB = 0 leaves crcA unchanged when crcB is the CRC of nothing
    expect(crc32Combine(0x12345678, 0, 0)).toBe(0x12345678);
  });

  it('large lenB: 64 MiB compared with zlib directly', () => {
    const a = randomBytes(1000);
    const big = new Uint8Array(64 * IO);
    big.set(randomBytes(4096), 64 * IO - 4096);
    const whole = new Uint8Array(a.length + big.length);
    whole.set(a);
    whole.set(big, a.length);
    expect(crc32Combine(zcrc(a), zcrc(big), big.length)).toBe(zcrc(whole));
  });

  it('huge lenB (up to 2^53 and beyond as bigint) via combine identities on long zero runs', () => {
    // Z(n) = CRC of n zero bytes. Build Z(2^k) by doubling: Z(2n) = combine(Z(n), Z(n), n), checked against zlib
    // for small k, then test associativity: combine(combine(A, Z(m), m), Z(n), n) == combine(A, Z(m+n), m+n).
    const zeros = (n: number) => zcrc(new Uint8Array(n));
    const Z = new Map<bigint, number>([[1n, zeros(1)]]);
    for (let k = 1n; k <= 60n; k++) {
      const half = 1n << (k - 1n);
      Z.set(1n << k, crc32Combine(Z.get(half)!, Z.get(half)!, half));
    }
    for (const k of [4n, 10n, 16n, 20n]) expect(Z.get(1n << k)).toBe(zeros(Number(1n << k)));
    const zOf = (n: bigint) => {
      let crc = 0;
      for (let k = 0n; n >> k; k++) if ((n >> k) & 1n) crc = crc32Combine(crc, Z.get(1n << k)!, 1n << k);
      return crc;
    };
    expect(zOf(12345n)).toBe(zeros(12345));
    const A = zcrc(randomBytes(777));
    for (const [m, n] of [
      [2n ** 40n + 3n, 2n ** 52n + 12345n],
      [2n ** 53n - 1n - 99n, 99n],
      [2n ** 59n, 2n ** 59n + 7n],
    ] as [bigint, bigint][]) {
      const lhs = crc32Combine(crc32Combine(A, zOf(m), m), zOf(n), n);
      const rhs = crc32Combine(A, zOf(m + n), m + n);
      expect(lhs).toBe(rhs);
      if (m + n <= BigInt(Number.MAX_SAFE_INTEGER)) expect(crc32Combine(A, zOf(m + n), Number(m + n))).toBe(rhs);
    }
  });
});
