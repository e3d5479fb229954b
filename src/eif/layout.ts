/**
 * The section table of an EIF, read and checked — eif-format.md §1 and Appendix B. Sections are found through
 * the header's table (as the hypervisor and QEMU do); we also report whether the file is contiguous from byte
 * 548 to EOF (nitro-cli's sequential reader needs that, §1.1). Reads only headers: 548 + 12 bytes per section.
 */
import { EifError } from '../errors.js';
import {
  EIF_HEADER_SIZE,
  type EifHeader,
  MAX_NUM_SECTIONS,
  SECTION_HEADER_SIZE,
  SIGNATURE_MAX_SIZE,
  SectionType,
  decodeEifHeader,
  decodeSectionHeader,
} from './header.js';
import { type HeaderFinding, KERNEL_PROBE_SIZE, headerFindings } from './boot-rules.js';

/** Random access to the bytes of an EIF: a file (Node), a Blob or a Uint8Array (browser). */
export interface ByteSource {
  readonly size: number;
  read(offset: number, length: number): Uint8Array | Promise<Uint8Array>;
  /**
   * Optional: the `length` bytes at `offset` as consecutive pieces of at most `chunk` bytes that are views into one
   * reused buffer — each valid only until the next is asked for — so streaming a large range allocates nothing per
   * piece (a Blob read through a BYOB stream reader: the page's memory stays flat however large the file).
   */
  stream?(offset: number, length: number, chunk: number): AsyncIterable<Uint8Array>;
}

/**
 * A ByteSource over bytes already in memory; reads are views (`subarray`), not copies.
 *
 * @example
 * import { bytesSource } from 'eifkit/browser';
 * const src = bytesSource(eifBytes);
 * const magic = await src.read(0, 4); // ".eif"
 */
export function bytesSource(bytes: Uint8Array): ByteSource {
  return { size: bytes.length, read: (offset, length) => bytes.subarray(offset, offset + length) };
}

export interface Section {
  /** Position in the header table. */
  index: number;
  type: SectionType;
  /** File offset of the 12-byte section header. */
  offset: number;
  /** Data size in bytes (excludes the section header). */
  size: number;
  /** File offset of the first data byte. */
  dataOffset: number;
}

export interface EifLayout {
  header: EifHeader;
  /** The 548 header bytes as read (the CRC covers bytes [0, 544) of them). */
  headerBytes: Uint8Array;
  sections: Section[];
  fileSize: number;
  /** True when sections follow each other without gaps from byte 548 and the file ends at the last one. */
  contiguous: boolean;
  /** Non-fatal findings (e.g. gaps between sections), one sentence each. */
  warnings: string[];
  /** Header rules of the boot stack the image breaks (./boot-rules.ts): readable, but it would not boot. */
  headerFindings: HeaderFinding[];
}

/** Versions we read: 3 (signature section allowed) and 4 (metadata mandatory). v2 is little-endian legacy (§1.5). */
export const SUPPORTED_VERSIONS = [3, 4];

async function readExact(src: ByteSource, offset: number, length: number, what: string): Promise<Uint8Array> {
  if (offset + length > src.size) {
    throw new EifError('EIF_TRUNCATED', `file is truncated: ${what} needs bytes ${offset}..${offset + length} but the file has ${src.size}`);
  }
  const b = await src.read(offset, length);
  if (b.length !== length) throw new EifError('EIF_TRUNCATED', `file is truncated while reading ${what}`);
  return b;
}

/**
 * Read the header and section table and check every structural rule of Appendix B. Throws EifError.
 *
 * @example
 * import { readLayout, bytesSource } from 'eifkit/browser';
 * const layout = await readLayout(bytesSource(eifBytes));
 * console.log(layout.header.numSections, layout.contiguous, layout.warnings);
 */
export async function readLayout(src: ByteSource): Promise<EifLayout> {
  const headerBytes = await readExact(src, 0, EIF_HEADER_SIZE, 'the EIF header');
  const header = decodeEifHeader(headerBytes);
  const fileSize = src.size;
  if (!SUPPORTED_VERSIONS.includes(header.version)) {
    throw new EifError('EIF_UNSUPPORTED_VERSION', `unsupported EIF version ${header.version} (supported: ${SUPPORTED_VERSIONS.join(', ')})`);
  }
  const n = header.numSections;
  if (n === 0 || n > MAX_NUM_SECTIONS) {
    throw new EifError('EIF_BAD_SECTION_COUNT', `num_sections is ${n}; it must be 1..${MAX_NUM_SECTIONS}`);
  }
  const sections: Section[] = [];
  for (let i = 0; i < n; i++) {
    const off = header.sectionOffsets[i]!;
    const size = header.sectionSizes[i]!;
    if (off < BigInt(EIF_HEADER_SIZE) || off + BigInt(SECTION_HEADER_SIZE) > BigInt(fileSize)) {
      throw new EifError('EIF_SECTION_OUT_OF_BOUNDS', `section ${i} header offset ${off} lies outside the file (548..${fileSize - SECTION_HEADER_SIZE})`);
    }
    if (off + BigInt(SECTION_HEADER_SIZE) + size > BigInt(fileSize)) {
      throw new EifError('EIF_SECTION_OUT_OF_BOUNDS', `section ${i} (offset ${off}, size ${size}) runs past the end of the ${fileSize}-byte file`);
    }
    const offset = Number(off);
    const sh = decodeSectionHeader(await readExact(src, offset, SECTION_HEADER_SIZE, `section ${i} header`));
    if (sh.size !== size) {
      throw new EifError('EIF_SECTION_SIZE_MISMATCH', `section ${i}: the header table says ${size} bytes, the section header says ${sh.size}`);
    }
    if (sh.flags !== 0) {
      throw new EifError('EIF_SECTION_FLAGS', `section ${i}: section flags are 0x${sh.flags.toString(16)}; they must be 0 (reserved)`);
    }
    if (sh.type === SectionType.Invalid || sh.type > SectionType.Metadata) {
      throw new EifError('EIF_UNKNOWN_SECTION_TYPE', `section ${i}: unknown section type ${sh.type}`);
    }
    sections.push({ index: i, type: sh.type, offset, size: Number(size), dataOffset: offset + SECTION_HEADER_SIZE });
  }
  for (let i = n; i < MAX_NUM_SECTIONS; i++) {
    if (header.sectionOffsets[i] !== 0n || header.sectionSizes[i] !== 0n) {
      throw new EifError('EIF_BAD_SECTION_TABLE', `section table entry ${i} is beyond num_sections (${n}) but not zero`);
    }
  }
  checkSectionSet(header, sections);

  // Overlaps, gaps and trailing bytes, by file position.
  const warnings: string[] = [];
  const byPos = [...sections].sort((a, b) => a.offset - b.offset);
  let pos = EIF_HEADER_SIZE;
  let contiguous = true;
  for (const s of byPos) {
    if (s.offset < pos) {
      throw new EifError('EIF_SECTIONS_OVERLAP', `section ${s.index} at offset ${s.offset} overlaps the previous section (which ends at ${pos})`);
    }
    if (s.offset > pos) {
      contiguous = false;
      warnings.push(`${s.offset - pos} unused bytes before section ${s.index} (offset ${pos}); nitro-cli's sequential reader cannot read such a file`);
    }
    pos = s.dataOffset + s.size;
  }
  if (pos < fileSize) {
    throw new EifError('EIF_TRAILING_BYTES', `${fileSize - pos} bytes after the last section (which ends at ${pos}); a well-formed EIF ends with its last section`);
  }
  const kernel = sections.find((s) => s.type === SectionType.Kernel)!;
  const kernelHead = await src.read(kernel.dataOffset, Math.min(kernel.size, KERNEL_PROBE_SIZE));
  const findings = headerFindings(header, sections.map((s) => s.type), kernelHead);
  return { header, headerBytes, sections, fileSize, contiguous, warnings, headerFindings: findings };
}

/** Which sections must be there, and how often (§1.3, §1.6). */
function checkSectionSet(header: EifHeader, sections: Section[]): void {
  const count = (t: SectionType) => sections.filter((s) => s.type === t).length;
  for (const [t, name] of [
    [SectionType.Kernel, 'kernel'],
    [SectionType.Cmdline, 'cmdline'],
    [SectionType.Metadata, 'metadata'],
    [SectionType.Signature, 'signature'],
  ] as const) {
    if (count(t) > 1) throw new EifError('EIF_DUPLICATE_SECTION', `the image has ${count(t)} ${name} sections; at most one is allowed`);
  }
  if (count(SectionType.Kernel) === 0) throw new EifError('EIF_MISSING_SECTION', 'the image has no kernel section');
  if (count(SectionType.Cmdline) === 0) throw new EifError('EIF_MISSING_SECTION', 'the image has no cmdline section');
  if (header.version >= 4 && count(SectionType.Metadata) === 0) {
    throw new EifError('EIF_MISSING_SECTION', 'an EIF v4 image must have a metadata section');
  }
  if (count(SectionType.Ramdisk) === 0) throw new EifError('EIF_NO_RAMDISK', 'the image has no ramdisk section; at least one is required');
  const firstRamdisk = sections.findIndex((s) => s.type === SectionType.Ramdisk);
  const lastBoot = Math.max(...sections.filter((s) => s.type === SectionType.Kernel || s.type === SectionType.Cmdline).map((s) => s.index));
  if (lastBoot > firstRamdisk) {
    throw new EifError('EIF_SECTION_ORDER', 'kernel and cmdline sections must come before the ramdisks in the section table');
  }
  const sig = sections.find((s) => s.type === SectionType.Signature);
  if (sig && sig.size > SIGNATURE_MAX_SIZE) {
    throw new EifError('EIF_SIGNATURE_TOO_LARGE', `signature section is ${sig.size} bytes; the limit is ${SIGNATURE_MAX_SIZE}`);
  }
}
