/**
 * Building an EIF exactly as AWS `eif_build` / image-format's `EifBuilder` does — eif-format.md Appendix A.
 * Section order: kernel, cmdline, metadata, ramdisk0 … ramdiskN-1, [signature]; offsets packed back to back from
 * 548; header v4, default_mem 1 GiB, default_cpus 2; CRC-32 over header[0:544] ‖ everything after byte 548.
 *
 * This file holds the pure parts (plan, header, metadata defaults) and an in-memory builder for browsers and
 * small images. The streaming, two-core builder for files is src/node/builder.ts; both share the plan.
 */
import { EifError } from '../errors.js';
import { VERSION } from '../version.js';
import { crc32, crc32Combine, initCore } from '../core/index.js';
import {
  CRC_OFFSET,
  DEFAULT_CPUS,
  DEFAULT_MEM,
  EIF_CURRENT_VERSION,
  EIF_FLAG_ARCH_ARM64,
  EIF_HEADER_SIZE,
  type EifHeader,
  MAX_NUM_SECTIONS,
  SECTION_HEADER_SIZE,
  SIGNATURE_MAX_SIZE,
  SectionType,
  encodeEifHeader,
} from './header.js';
import { type EifMetadata, encodeMetadata, parseCustomMetadata, rfc3339 } from './metadata.js';
import type { JsonValue } from './serde-json.js';
import { MeasureSink } from './measure.js';
import { type SectionInput, walkSections } from './walk.js';
import { fromHex } from '../util/hex.js';
import type { Measurements } from './pcr.js';
import type { Section } from './layout.js';

export type Arch = 'x86_64' | 'aarch64';

/** Our tool's identity, the default BuildTool / BuildToolVersion in metadata. */
export const BUILD_TOOL = 'eifkit';
export const BUILD_TOOL_VERSION = VERSION;

/**
 * The builder's (and `eif sign`'s) view of a signer: PCR0 in, the signature section bytes and PCR8 out. The
 * signers themselves are src/signing/signer.ts (PEM keys), src/node/kms.ts and src/node/signer-command.ts
 * (docs/signing.md).
 */
export interface EifSigner {
  signatureSection(pcr0: Uint8Array): Promise<{ data: Uint8Array; pcr8: string }>;
}

/** Metadata-related build options, with eif_build's flag names in comments (§5.2, §6.1). */
export interface MetadataOptions {
  /** --name; default: the kernel file's base name (eif_build) */
  name?: string;
  /** --version; default: the --name value if given (eif_build's behaviour), else "1.0" */
  version?: string;
  /** --build-time; default: SOURCE_DATE_EPOCH as RFC 3339, else now */
  buildTime?: string;
  /** --build-tool; default "eifkit" */
  buildTool?: string;
  /** --build-tool-version; default eifkit's version */
  buildToolVersion?: string;
  /** --img-os; default "OS" (eif_build's default) */
  imgOs?: string;
  /** --img-kernel; default "kernel" (eif_build's default) */
  imgKernel?: string;
  /** --metadata file bytes (≤ 4096, any JSON), or an already parsed value; default null */
  customMetadata?: Uint8Array | JsonValue;
  /** docker inspect JSON (nitro-cli only); default null */
  dockerInfo?: JsonValue;
}

export interface MetadataContext {
  /** Base name of the kernel file, for the default ImageName. */
  kernelFileName: string;
  /** SOURCE_DATE_EPOCH, when set (seconds since the epoch). */
  sourceDateEpoch?: string;
  now?: () => Date;
}

/** Resolve metadata fields from options and defaults. Throws BAD_SOURCE_DATE_EPOCH, METADATA_*. */
export function resolveMetadata(o: MetadataOptions, ctx: MetadataContext): EifMetadata {
  let buildTime = o.buildTime;
  if (buildTime === undefined && ctx.sourceDateEpoch !== undefined && ctx.sourceDateEpoch !== '') {
    if (!/^\d{1,12}$/.test(ctx.sourceDateEpoch)) {
      throw new EifError('BAD_SOURCE_DATE_EPOCH', `SOURCE_DATE_EPOCH must be whole seconds since 1970, got ${JSON.stringify(ctx.sourceDateEpoch)}`);
    }
    buildTime = rfc3339(new Date(Number(ctx.sourceDateEpoch) * 1000));
  }
  buildTime ??= rfc3339((ctx.now ?? (() => new Date()))());
  let custom: JsonValue = null;
  if (o.customMetadata instanceof Uint8Array) custom = parseCustomMetadata(o.customMetadata);
  else if (o.customMetadata !== undefined) custom = o.customMetadata;
  return {
    imageName: o.name ?? ctx.kernelFileName,
    imageVersion: o.version ?? o.name ?? '1.0',
    buildTime,
    buildTool: o.buildTool ?? BUILD_TOOL,
    buildToolVersion: o.buildToolVersion ?? BUILD_TOOL_VERSION,
    operatingSystem: o.imgOs ?? 'OS',
    kernelVersion: o.imgKernel ?? 'kernel',
    dockerInfo: o.dockerInfo ?? null,
    customMetadata: custom,
  };
}

/** Check a cmdline and return its bytes (no NUL terminator, §3.2). */
export function cmdlineBytes(cmdline: string | Uint8Array): Uint8Array {
  const b = typeof cmdline === 'string' ? new TextEncoder().encode(cmdline) : cmdline;
  const nul = b.indexOf(0);
  if (nul >= 0) throw new EifError('CMDLINE_NUL', `the kernel command line contains a NUL byte at position ${nul}`);
  return b;
}

/** Section types and sizes in eif_build's order → the section table (Appendix A steps 2–3). */
export function planSections(sizes: {
  kernel: number;
  cmdline: number;
  metadata: number;
  ramdisks: number[];
  signature?: number;
}): Section[] {
  if (sizes.ramdisks.length === 0) throw new EifError('NO_RAMDISK', 'at least one --ramdisk is required');
  const list: [SectionType, number][] = [
    [SectionType.Kernel, sizes.kernel],
    [SectionType.Cmdline, sizes.cmdline],
    [SectionType.Metadata, sizes.metadata],
    ...sizes.ramdisks.map((r) => [SectionType.Ramdisk, r] as [SectionType, number]),
  ];
  if (sizes.signature !== undefined) list.push([SectionType.Signature, sizes.signature]);
  if (list.length > MAX_NUM_SECTIONS) {
    throw new EifError('TOO_MANY_SECTIONS', `${list.length} sections; an EIF holds at most ${MAX_NUM_SECTIONS}: ${MAX_NUM_SECTIONS - 3} ramdisks, ${MAX_NUM_SECTIONS - 4} when signed`);
  }
  let offset = EIF_HEADER_SIZE;
  return list.map(([type, size], index) => {
    const s = { index, type, offset, size, dataOffset: offset + SECTION_HEADER_SIZE };
    offset += SECTION_HEADER_SIZE + size;
    return s;
  });
}

/** The header for a plan (CRC filled in later). */
export function headerFor(sections: readonly Section[], arch: Arch, crc = 0): EifHeader {
  return {
    version: EIF_CURRENT_VERSION,
    flags: arch === 'aarch64' ? EIF_FLAG_ARCH_ARM64 : 0,
    defaultMem: DEFAULT_MEM,
    defaultCpus: DEFAULT_CPUS,
    reserved: 0,
    numSections: sections.length,
    sectionOffsets: sections.map((s) => BigInt(s.offset)),
    sectionSizes: sections.map((s) => BigInt(s.size)),
    unused: 0,
    crc32: crc,
  };
}

/**
 * Final header bytes: the CRC of header[0:544] is prepended to the CRC of everything after byte 548, which the
 * builder computed while streaming, with crc32Combine (§2).
 */
export function finalHeaderBytes(sections: readonly Section[], arch: Arch, bodyCrc: number, bodyLength: number): Uint8Array {
  return sealHeader(headerFor(sections, arch), bodyCrc, bodyLength);
}

/** Encode `header` with its CRC: crc32(header[0:544]) combined with the CRC of the `bodyLength` bytes after 548 (§2). */
export function sealHeader(header: EifHeader, bodyCrc: number, bodyLength: number): Uint8Array {
  const bytes = encodeEifHeader({ ...header, crc32: 0 });
  const crc = crc32Combine(crc32(bytes.subarray(0, CRC_OFFSET)), bodyCrc, bodyLength);
  new DataView(bytes.buffer).setUint32(CRC_OFFSET, crc >>> 0);
  return bytes;
}

export function checkSignatureSize(data: Uint8Array): void {
  if (data.length > SIGNATURE_MAX_SIZE) {
    throw new EifError('EIF_SIGNATURE_TOO_LARGE', `signature section would be ${data.length} bytes; the limit is ${SIGNATURE_MAX_SIZE}`);
  }
}

export interface BuildBytesInput extends MetadataOptions {
  kernel: Uint8Array;
  /** Base name of the kernel, for the default ImageName (eif_build uses the file name). */
  kernelFileName?: string;
  cmdline: string | Uint8Array;
  ramdisks: Uint8Array[];
  arch?: Arch;
  signer?: EifSigner;
  sourceDateEpoch?: string;
  now?: () => Date;
}

export interface BuildResult {
  measurements: Measurements;
  metadata: EifMetadata;
  size: number;
}

/**
 * Build an EIF in memory (browsers, tests, small images). Byte-identical to the streaming Node builder.
 *
 * @example
 * import { buildEifBytes } from 'eifkit/browser';
 * // kernel, initrd: Uint8Array
 * const { eif, measurements } = await buildEifBytes({ kernel, cmdline: 'console=ttyS0', ramdisks: [initrd] });
 */
export async function buildEifBytes(input: BuildBytesInput): Promise<BuildResult & { eif: Uint8Array }> {
  await initCore();
  const arch = input.arch ?? 'x86_64';
  const cmd = cmdlineBytes(input.cmdline);
  const metadata = resolveMetadata(input, {
    kernelFileName: input.kernelFileName ?? 'bzImage',
    sourceDateEpoch: input.sourceDateEpoch,
    now: input.now,
  });
  const meta = encodeMetadata(metadata);
  const datas = [input.kernel, cmd, meta, ...input.ramdisks];
  const unsigned = planSections({ kernel: input.kernel.length, cmdline: cmd.length, metadata: meta.length, ramdisks: input.ramdisks.map((r) => r.length) });
  if (input.signer) planSections({ kernel: 0, cmdline: 0, metadata: 0, ramdisks: input.ramdisks.map(() => 0), signature: 0 }); // fail before hashing
  // The body (everything after the 548-byte header) is walked as the streaming builder walks it: the sink CRCs
  // and hashes it, and keeps the pieces (no copies) that make the file after the header.
  const body: Uint8Array[] = [];
  const sink = new MeasureSink(0, body);
  await walkSections(unsigned.map((s, i) => memorySection(s, datas[i]!)), sink);
  let measurements = sink.measurements();
  let sections: Section[] = unsigned;
  if (input.signer) {
    const signature = await input.signer.signatureSection(fromHex(measurements.PCR0));
    checkSignatureSize(signature.data);
    sections = planSections({ kernel: input.kernel.length, cmdline: cmd.length, metadata: meta.length, ramdisks: input.ramdisks.map((r) => r.length), signature: signature.data.length });
    await walkSections([memorySection(sections[sections.length - 1]!, signature.data)], sink);
    measurements = { ...measurements, PCR8: signature.pcr8 };
  }
  const last = sections[sections.length - 1]!;
  const size = last.dataOffset + last.size;
  const eif = new Uint8Array(size);
  eif.set(finalHeaderBytes(sections, arch, sink.crc, size - EIF_HEADER_SIZE), 0);
  let pos = EIF_HEADER_SIZE;
  for (const piece of body) {
    eif.set(piece, pos);
    pos += piece.length;
  }
  return { eif, size, metadata, measurements };
}

/** A planned section with its data in memory, as a walk input. */
function memorySection(s: Section, data: Uint8Array): SectionInput {
  return { type: s.type, size: s.size, data, what: `section ${s.index}` };
}
