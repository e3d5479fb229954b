// eifkit WASM core: SHA-384 (FIPS 180-4 §6.5, SHA-512 compression §6.4) and CRC-32/ISO-HDLC (the zlib CRC, as used
// by the EIF format's whole-file checksum, eif-format.md). Design and ABI: docs/core.md.
//
// All data crosses the JS/WASM boundary through ONE fixed 1 MiB I/O region (ioPtr()); every entry point takes a
// length and reads from the start of that region. Nothing is allocated at run time (runtime "stub"), so linear
// memory never grows and views on it stay valid.

import { sha512CompressChain, sha512CompressFlat } from './sha512-compress.generated';

/**
 * Which form of the SHA-512 rounds runs (docs/core.md, "two forms"): 0 = Σ as rotation chains, 1 = flat Σ. Same
 * digests; the host picks the faster one for its engine with sha384SetKernel().
 */
let kernel: i32 = 0;

/** Select the rounds' form: 0 chains (V8 11, Node 20), 1 flat (newer V8, e.g. Chromium 156). Other values: 0. */
export function sha384SetKernel(k: i32): void {
  kernel = k == 1 ? 1 : 0;
}
export function sha384Kernel(): i32 {
  return kernel;
}

// @ts-ignore: decorator
@inline
function sha512Compress(h: usize, src: usize, blocks: i32): void {
  if (kernel) sha512CompressFlat(h, src, blocks);
  else sha512CompressChain(h, src, blocks);
}

/** Size of the I/O region in bytes (1 MiB). */
export const IO_SIZE: i32 = 1048576;
/** Size of the exportable SHA-384 state (see the layout below). */
export const SHA384_STATE_SIZE: i32 = 208;

const IO: usize = memory.data(IO_SIZE, 16);

// SHA-384 streaming state, 208 bytes, all little-endian:
//   0   H[0..7]   eight u64 chaining values
//   64  total     u64 count of bytes absorbed so far
//   72  used      u32 bytes pending in the block buffer (0..127), always == total mod 128
//   76  marker    u32 STATE_MARKER (lets the JS side reject foreign bytes on import)
//   80  buffer    128 bytes, the pending partial block
const STATE: usize = memory.data(SHA384_STATE_SIZE, 16);
const ST_TOTAL: usize = 64;
const ST_USED: usize = 72;
const ST_MARKER: usize = 76;
const ST_BUF: usize = 80;
const STATE_MARKER: u32 = 0x34384853; // "SH84"

/** The 48-byte digest written by sha384Final(); separate from the I/O region so a final never clobbers input. */
const DIGEST: usize = memory.data(64, 16);

// CRC-32 slice-by-16 tables: 16 tables x 256 u32, table k at CRC_T + k*1024. Filled by the start function below.
const CRC_T: usize = memory.data(16 * 1024, 64);

export function ioPtr(): usize {
  return IO;
}
export function ioSize(): i32 {
  return IO_SIZE;
}
export function sha384StatePtr(): usize {
  return STATE;
}
export function sha384StateSize(): i32 {
  return SHA384_STATE_SIZE;
}
export function sha384DigestPtr(): usize {
  return DIGEST;
}
/** End of the module's static data (the shared builds check that it stays below the ring). */
export function staticEnd(): usize {
  return __heap_base;
}

/** Reset the state area to the SHA-384 initial hash value (FIPS 180-4 §5.3.4). */
export function sha384Init(): void {
  store<u64>(STATE, 0xcbbb9d5dc1059ed8, 0);
  store<u64>(STATE, 0x629a292a367cd507, 8);
  store<u64>(STATE, 0x9159015a3070dd17, 16);
  store<u64>(STATE, 0x152fecd8f70e5939, 24);
  store<u64>(STATE, 0x67332667ffc00b31, 32);
  store<u64>(STATE, 0x8eb44a8768581511, 40);
  store<u64>(STATE, 0xdb0c2e0d64f98fa7, 48);
  store<u64>(STATE, 0x47b5481dbefa4fa4, 56);
  store<u64>(STATE, 0, ST_TOTAL);
  store<u32>(STATE, 0, ST_USED);
  store<u32>(STATE, STATE_MARKER, ST_MARKER);
}

/** Absorb the first `len` bytes of the I/O region (0 <= len <= IO_SIZE). */
export function sha384Update(len: i32): void {
  if (len > IO_SIZE) unreachable();
  sha384UpdateFrom(IO, len);
}

/**
 * Absorb `len` bytes at `src`, anywhere in linear memory but the state area. The Node hash pipeline's "shared"
 * builds (one shared memory, static data at different bases: docs/core.md) hash ring slots in place with it.
 */
export function sha384UpdateFrom(src: usize, len: i32): void {
  if (len <= 0) return;
  let p = src;
  let n = <usize>len;
  store<u64>(STATE, load<u64>(STATE, ST_TOTAL) + <u64>n, ST_TOTAL);
  let used = <usize>load<u32>(STATE, ST_USED);
  if (used != 0) {
    const room: usize = 128 - used;
    const take = n < room ? n : room;
    memory.copy(STATE + ST_BUF + used, p, take);
    used += take;
    p += take;
    n -= take;
    if (used < 128) {
      store<u32>(STATE, <u32>used, ST_USED);
      return;
    }
    sha512Compress(STATE, STATE + ST_BUF, 1);
  }
  const blocks = n >> 7;
  if (blocks != 0) {
    sha512Compress(STATE, p, <i32>blocks);
    p += blocks << 7;
    n -= blocks << 7;
  }
  if (n != 0) memory.copy(STATE + ST_BUF, p, n);
  store<u32>(STATE, <u32>n, ST_USED);
}

/**
 * Pad (FIPS 180-4 §5.1.2), compress the last block(s) and write the 48-byte digest to sha384DigestPtr().
 * The state area is consumed: call sha384Init() (or import a state) before the next update.
 */
export function sha384Final(): void {
  const total = load<u64>(STATE, ST_TOTAL);
  let used = <usize>load<u32>(STATE, ST_USED);
  const buf = STATE + ST_BUF;
  store<u8>(buf + used, 0x80);
  used++;
  if (used > 112) {
    memory.fill(buf + used, 0, 128 - used);
    sha512Compress(STATE, buf, 1);
    used = 0;
  }
  memory.fill(buf + used, 0, 112 - used);
  // 128-bit big-endian message length in bits.
  store<u64>(buf, bswap<u64>(total >> 61), 112);
  store<u64>(buf, bswap<u64>(total << 3), 120);
  sha512Compress(STATE, buf, 1);
  for (let i: usize = 0; i < 6; i++) {
    store<u64>(DIGEST + (i << 3), bswap<u64>(load<u64>(STATE + (i << 3))));
  }
  store<u32>(STATE, 0, ST_MARKER);
}

// ---- CRC-32/ISO-HDLC: reflected polynomial 0xEDB88320, init and xorout 0xFFFFFFFF ----

function crcTablesInit(): void {
  for (let n: u32 = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    store<u32>(CRC_T + (<usize>n << 2), c);
  }
  for (let t: usize = 1; t < 16; t++) {
    for (let n: usize = 0; n < 256; n++) {
      const prev = load<u32>(CRC_T + ((t - 1) << 10) + (n << 2));
      store<u32>(CRC_T + (t << 10) + (n << 2), (prev >>> 8) ^ load<u32>(CRC_T + ((<usize>(prev & 0xff)) << 2)));
    }
  }
}
crcTablesInit();


/**
 * CRC-32 of the first `len` bytes of the I/O region, continuing from `prev` (the CRC of everything before, 0 to
 * start): crc32Update(crc32Update(0, a), b) == crc of a‖b. Slice-by-16 over little-endian u32 loads.
 */
export function crc32Update(prev: u32, len: i32): u32 {
  if (len > IO_SIZE) unreachable();
  let crc = ~prev;
  let p = IO;
  let n = len;
  while (n >= 16) {
    const w0 = load<u32>(p) ^ crc;
    const w1 = load<u32>(p, 4);
    const w2 = load<u32>(p, 8);
    const w3 = load<u32>(p, 12);
    crc =
      load<u32>(<usize>((w0 << 2) & 0x3fc), CRC_T + 15360) ^
      load<u32>(<usize>((w0 >>> 6) & 0x3fc), CRC_T + 14336) ^
      load<u32>(<usize>((w0 >>> 14) & 0x3fc), CRC_T + 13312) ^
      load<u32>(<usize>((w0 >>> 22) & 0x3fc), CRC_T + 12288) ^
      load<u32>(<usize>((w1 << 2) & 0x3fc), CRC_T + 11264) ^
      load<u32>(<usize>((w1 >>> 6) & 0x3fc), CRC_T + 10240) ^
      load<u32>(<usize>((w1 >>> 14) & 0x3fc), CRC_T + 9216) ^
      load<u32>(<usize>((w1 >>> 22) & 0x3fc), CRC_T + 8192) ^
      load<u32>(<usize>((w2 << 2) & 0x3fc), CRC_T + 7168) ^
      load<u32>(<usize>((w2 >>> 6) & 0x3fc), CRC_T + 6144) ^
      load<u32>(<usize>((w2 >>> 14) & 0x3fc), CRC_T + 5120) ^
      load<u32>(<usize>((w2 >>> 22) & 0x3fc), CRC_T + 4096) ^
      load<u32>(<usize>((w3 << 2) & 0x3fc), CRC_T + 3072) ^
      load<u32>(<usize>((w3 >>> 6) & 0x3fc), CRC_T + 2048) ^
      load<u32>(<usize>((w3 >>> 14) & 0x3fc), CRC_T + 1024) ^
      load<u32>(<usize>((w3 >>> 22) & 0x3fc), CRC_T + 0);
    p += 16;
    n -= 16;
  }
  while (n > 0) {
    crc = (crc >>> 8) ^ load<u32>(CRC_T + (<usize>((crc ^ <u32>load<u8>(p)) & 0xff) << 2));
    p++;
    n--;
  }
  return ~crc;
}
