/**
 * The EIF header (548 bytes) and the 12-byte section header — eif-format.md §1.2, §1.3.
 * All integers big-endian. 64-bit fields are bigint so that a hostile 2^63 size is seen as such, never rounded.
 */
import { EifError } from '../errors.js';

export const EIF_MAGIC = new Uint8Array([0x2e, 0x65, 0x69, 0x66]); // ".eif"
export const EIF_HEADER_SIZE = 548;
export const SECTION_HEADER_SIZE = 12;
export const MAX_NUM_SECTIONS = 32;
/** Version written by current AWS tools (v4: mandatory metadata section), §1.5. */
export const EIF_CURRENT_VERSION = 4;
/** Header flag bit 0: aarch64 image (`EIF_HDR_ARCH_ARM64`), §1.2. */
export const EIF_FLAG_ARCH_ARM64 = 0x1;
export const DEFAULT_MEM = 1073741824n;
export const DEFAULT_CPUS = 2n;
/** Offset of the CRC field; the CRC covers header bytes [0, 544) then every section (§2). */
export const CRC_OFFSET = 544;
/** Maximum signature section size (SIGNATURE_MAX_SIZE), §1.3. */
export const SIGNATURE_MAX_SIZE = 32768;

/** Section types, §1.3. */
export enum SectionType {
  Invalid = 0,
  Kernel = 1,
  Cmdline = 2,
  Ramdisk = 3,
  Signature = 4,
  Metadata = 5,
}

export const SECTION_TYPE_NAMES: Record<number, string> = {
  0: 'EifSectionInvalid',
  1: 'EifSectionKernel',
  2: 'EifSectionCmdline',
  3: 'EifSectionRamdisk',
  4: 'EifSectionSignature',
  5: 'EifSectionMetadata',
};

export interface EifHeader {
  version: number;
  flags: number;
  defaultMem: bigint;
  defaultCpus: bigint;
  reserved: number;
  numSections: number;
  /** All 32 table entries (entries past numSections are normally 0). */
  sectionOffsets: bigint[];
  sectionSizes: bigint[];
  unused: number;
  crc32: number;
}

export interface SectionHeader {
  type: number;
  flags: number;
  size: bigint;
}

/**
 * Serialise a header (§1.2). Table arrays shorter than 32 are zero-filled.
 *
 * @example
 * import { decodeEifHeader, encodeEifHeader } from 'eifkit/browser';
 * const h = decodeEifHeader(headerBytes);
 * const bytes = encodeEifHeader({ ...h, crc32: 0 }); // 548 bytes
 */
export function encodeEifHeader(h: EifHeader): Uint8Array {
  const out = new Uint8Array(EIF_HEADER_SIZE);
  const v = new DataView(out.buffer);
  out.set(EIF_MAGIC, 0);
  v.setUint16(4, h.version);
  v.setUint16(6, h.flags);
  v.setBigUint64(8, h.defaultMem);
  v.setBigUint64(16, h.defaultCpus);
  v.setUint16(24, h.reserved);
  v.setUint16(26, h.numSections);
  for (let i = 0; i < MAX_NUM_SECTIONS; i++) {
    v.setBigUint64(28 + 8 * i, h.sectionOffsets[i] ?? 0n);
    v.setBigUint64(284 + 8 * i, h.sectionSizes[i] ?? 0n);
  }
  v.setUint32(540, h.unused);
  v.setUint32(CRC_OFFSET, h.crc32 >>> 0);
  return out;
}

/**
 * Parse a header. Checks only what is needed to read it safely (length, magic); the structural rules
 * (version, counts, offsets) are checked by `validateLayout` in ./layout.ts so that all findings are reported.
 *
 * @example
 * import { decodeEifHeader, EIF_HEADER_SIZE } from 'eifkit/browser';
 * const h = decodeEifHeader(eifBytes.subarray(0, EIF_HEADER_SIZE));
 * console.log(h.version, h.numSections, h.crc32);
 */
export function decodeEifHeader(bytes: Uint8Array): EifHeader {
  if (bytes.length < EIF_HEADER_SIZE) {
    throw new EifError('EIF_TRUNCATED', `file is ${bytes.length} bytes, shorter than the ${EIF_HEADER_SIZE}-byte EIF header`);
  }
  for (let i = 0; i < 4; i++) {
    if (bytes[i] !== EIF_MAGIC[i]) {
      const got = Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
      throw new EifError('EIF_BAD_MAGIC', `not an EIF: magic is ${got}, expected 2e 65 69 66 (".eif")`);
    }
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, EIF_HEADER_SIZE);
  const sectionOffsets: bigint[] = [];
  const sectionSizes: bigint[] = [];
  for (let i = 0; i < MAX_NUM_SECTIONS; i++) {
    sectionOffsets.push(v.getBigUint64(28 + 8 * i));
    sectionSizes.push(v.getBigUint64(284 + 8 * i));
  }
  return {
    version: v.getUint16(4),
    flags: v.getUint16(6),
    defaultMem: v.getBigUint64(8),
    defaultCpus: v.getBigUint64(16),
    reserved: v.getUint16(24),
    numSections: v.getUint16(26),
    sectionOffsets,
    sectionSizes,
    unused: v.getUint32(540),
    crc32: v.getUint32(CRC_OFFSET),
  };
}

export function encodeSectionHeader(type: number, size: bigint | number, flags = 0): Uint8Array {
  const out = new Uint8Array(SECTION_HEADER_SIZE);
  const v = new DataView(out.buffer);
  v.setUint16(0, type);
  v.setUint16(2, flags);
  v.setBigUint64(4, BigInt(size));
  return out;
}

export function decodeSectionHeader(bytes: Uint8Array): SectionHeader {
  if (bytes.length < SECTION_HEADER_SIZE) {
    throw new EifError('EIF_TRUNCATED', 'file ends inside a section header');
  }
  const v = new DataView(bytes.buffer, bytes.byteOffset, SECTION_HEADER_SIZE);
  return { type: v.getUint16(0), flags: v.getUint16(2), size: v.getBigUint64(4) };
}
