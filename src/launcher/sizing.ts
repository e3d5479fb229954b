/**
 * Pure launch arithmetic (no I/O): memory minimum (ne-device.md §3.1), nitro-cli's heartbeat timeout (§2.1 step
 * 10), the hugepage allocation plan the helper follows (§2.2), where the EIF lands in the regions (§2.7), CPU-list
 * syntax (§3.2). The C helper does the same at run time; tests compare the two.
 */

export const MIB = 1024 * 1024;
export const EIF_LOAD_OFFSET = 8 * MIB;
export const MIN_ENCLAVE_MIB = 64;
export const REGION_GRANULE = 2 * MIB;
/** nitro-cli's ENCLAVE_MEMORY_EIF_SIZE_RATIO. */
export const EIF_MEMORY_RATIO = 4;
/** Hugepage sizes nitro-cli tries, largest first (x86_64: 1G, 2M; arm64 adds 32M, 512M, 16G ...). */
export const HUGEPAGE_SIZES = [16 * 1024, 2048, 1024, 512, 256, 32, 16, 8, 2].map((m) => m * MIB);

/**
 * Smallest `--memory` (MiB) nitro-cli accepts for an EIF: 4 × ceil(size / MiB), at least 64.
 *
 * @example
 * import { minimumMemoryMiB } from 'eifkit';
 * minimumMemoryMiB(100 * 1024 * 1024); // 400
 * minimumMemoryMiB(1000);              // 64
 */
export function minimumMemoryMiB(eifBytes: number): number {
  return Math.max(MIN_ENCLAVE_MIB, EIF_MEMORY_RATIO * Math.ceil(eifBytes / MIB));
}

/** Bytes the helper allocates for a request: the MiB value rounded up to the 2 MiB region granule. */
export function requestedBytes(memoryMiB: number): number {
  return Math.ceil((memoryMiB * MIB) / REGION_GRANULE) * REGION_GRANULE;
}

/**
 * nitro-cli `calculate_necessary_timeout`: 90 s per started 6 GiB of EIF plus 90 s per started 100 GiB of memory.
 *
 * @example
 * import { heartbeatTimeoutMs } from 'eifkit';
 * heartbeatTimeoutMs(100 * 2 ** 20, 512 * 2 ** 20); // 180000
 */
export function heartbeatTimeoutMs(eifBytes: number, memoryBytes: number): number {
  const unit = 90_000;
  return unit * Math.max(1, Math.ceil(eifBytes / (6 * 1024 * MIB))) + unit * Math.max(1, Math.ceil(memoryBytes / (100 * 1024 * MIB)));
}

/**
 * The regions the helper would map given free hugepages per size (bytes → count), mirroring nitro-cli: largest
 * sizes first while they fit, then smallest first for the rest, then drop surplus smallest regions.
 * Returns undefined when the free pages do not cover `needBytes`.
 *
 * @example
 * import { planHugepages } from 'eifkit';
 * const MiB = 2 ** 20;
 * planHugepages(1536 * MiB, new Map([[1024 * MiB, 2], [2 * MiB, 1024]])); // [1024 MiB, then 256 × 2 MiB]
 * planHugepages(1536 * MiB, new Map([[2 * MiB, 10]]));                    // undefined: not enough free
 */
export function planHugepages(needBytes: number, free: ReadonlyMap<number, number>): number[] | undefined {
  const left = new Map(free);
  const regions: number[] = [];
  let remaining = needBytes;
  const take = (size: number): boolean => {
    const n = left.get(size) ?? 0;
    if (n <= 0) return false;
    left.set(size, n - 1);
    regions.push(size);
    return true;
  };
  for (const size of HUGEPAGE_SIZES) while (remaining >= size && take(size)) remaining -= size;
  for (const size of [...HUGEPAGE_SIZES].reverse()) while (remaining > 0 && take(size)) remaining = Math.max(0, remaining - size);
  if (remaining > 0) return undefined;
  regions.sort((a, b) => b - a);
  let total = regions.reduce((a, b) => a + b, 0);
  while (regions.length > 1 && total - regions[regions.length - 1]! >= needBytes) total -= regions.pop()!;
  return regions;
}

export interface PlacementPiece {
  region: number;
  offsetInRegion: number;
  fileOffset: number;
  length: number;
}

/**
 * §2.7: where each byte range of the EIF goes when enclave memory is the regions concatenated in order.
 *
 * @example
 * import { placeEif } from 'eifkit';
 * const MiB = 2 ** 20;
 * placeEif([1024 * MiB], 100 * MiB); // [{ region: 0, offsetInRegion: 8 MiB, fileOffset: 0, length: 100 MiB }]
 */
export function placeEif(regionSizes: readonly number[], eifBytes: number, loadOffset = EIF_LOAD_OFFSET): PlacementPiece[] {
  const out: PlacementPiece[] = [];
  let covered = 0;
  let written = 0;
  for (let i = 0; i < regionSizes.length && written < eifBytes; i++) {
    const size = regionSizes[i]!;
    if (covered + size <= loadOffset) {
      covered += size;
      continue;
    }
    const inRegion = covered >= loadOffset ? 0 : loadOffset - covered;
    const length = Math.min(size - inRegion, eifBytes - written);
    out.push({ region: i, offsetInRegion: inRegion, fileOffset: written, length });
    written += length;
    covered += size;
  }
  if (written < eifBytes) throw new RangeError(`EIF of ${eifBytes} bytes does not fit after the load offset`);
  return out;
}

/**
 * Parse the kernel's cpu-list syntax (`1,3`, `2-5,10`); throws RangeError on bad syntax.
 *
 * @example
 * import { parseCpuList } from 'eifkit';
 * parseCpuList('1,3,8-10'); // [1, 3, 8, 9, 10]
 */
export function parseCpuList(text: string): number[] {
  const out: number[] = [];
  const t = text.trim();
  if (t === '') return out;
  for (const part of t.split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) throw new RangeError(`bad CPU list element "${part}"`);
    const a = Number(m[1]);
    const b = m[2] === undefined ? a : Number(m[2]);
    if (b < a || b - a > 4096) throw new RangeError(`bad CPU range "${part}"`);
    for (let c = a; c <= b; c++) out.push(c);
  }
  return out;
}

/** CIDs the driver refuses (§2.8): 1 local, 2 host, 3 parent, 0xFFFFFFFF any, and anything above 32 bits. */
export function cidProblem(cid: number): string | undefined {
  if (!Number.isSafeInteger(cid) || cid < 0) return 'is not a non-negative integer';
  if (cid >= 1 && cid <= 3) return `is reserved (${['', 'local', 'host', 'parent instance'][cid]})`;
  if (cid === 0xffffffff) return 'is reserved (VMADDR_CID_ANY)';
  if (cid > 0xffffffff) return 'does not fit in 32 bits';
  return undefined;
}
