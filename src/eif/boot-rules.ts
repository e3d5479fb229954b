/**
 * Header rules of the boot stack that a readable image can still break — eif-format.md §1.2 (flags), §1.3 (kernel
 * per arch), §1.5 (versions), §1.6 (what the hypervisor and QEMU enforce). `readLayout` reads such an image and
 * lists these findings (`EifLayout.headerFindings`), so `describe` can still show it; `eif verify` fails each with
 * its own code, since the hypervisor refuses the image even when its CRC was recomputed to match.
 */
import { EIF_FLAG_ARCH_ARM64, type EifHeader, SectionType } from './header.js';

/** The codes of the findings (documented in docs/errors.md). */
export const BOOT_HEADER_CODES = ['EIF_RESERVED_FLAGS', 'EIF_ARCH_MISMATCH', 'EIF_VERSION_MISMATCH'] as const;
export type BootHeaderCode = (typeof BOOT_HEADER_CODES)[number];

export interface HeaderFinding {
  code: BootHeaderCode;
  message: string;
}

/** x86 boot protocol: a bzImage carries "HdrS" at 0x202 (Linux Documentation/arch/x86/boot.rst). */
const BZIMAGE_MAGIC = { offset: 0x202, bytes: [0x48, 0x64, 0x72, 0x53] };
/** arm64 boot protocol: an `Image` carries "ARM\x64" at 0x38 (Linux Documentation/arch/arm64/booting.rst). */
const ARM64_IMAGE_MAGIC = { offset: 0x38, bytes: [0x41, 0x52, 0x4d, 0x64] };
/** Bytes of the kernel section that {@link kernelArch} looks at. */
export const KERNEL_PROBE_SIZE = BZIMAGE_MAGIC.offset + BZIMAGE_MAGIC.bytes.length;

const at = (head: Uint8Array, m: { offset: number; bytes: number[] }): boolean =>
  head.length >= m.offset + m.bytes.length && m.bytes.every((b, i) => head[m.offset + i] === b);

/**
 * The architecture a kernel was built for, from its first bytes: an x86 bzImage or an arm64 Image (§1.3); undefined
 * when it is neither (a synthetic test kernel), which no rule then judges.
 */
export function kernelArch(head: Uint8Array): 'x86_64' | 'aarch64' | undefined {
  if (at(head, BZIMAGE_MAGIC)) return 'x86_64';
  if (at(head, ARM64_IMAGE_MAGIC)) return 'aarch64';
  return undefined;
}

/**
 * The findings for a header, the types of its sections and the first bytes of its kernel section (up to
 * {@link KERNEL_PROBE_SIZE}).
 */
export function headerFindings(header: EifHeader, types: readonly SectionType[], kernelHead: Uint8Array): HeaderFinding[] {
  const out: HeaderFinding[] = [];
  const reserved = header.flags & ~EIF_FLAG_ARCH_ARM64;
  if (reserved !== 0) {
    out.push({
      code: 'EIF_RESERVED_FLAGS',
      message:
        `header flags 0x${header.flags.toString(16).padStart(4, '0')} set reserved bits 0x${reserved.toString(16)}: only bit 0 (aarch64) is ` +
        "defined; the hypervisor checks the flags against the launch (eif-format.md §1.2, §9: Bottlerocket's PCIe bits 6 and 9 are not AWS's)",
    });
  }
  const flagArch = header.flags & EIF_FLAG_ARCH_ARM64 ? 'aarch64' : 'x86_64';
  const arch = kernelArch(kernelHead);
  if (arch !== undefined && arch !== flagArch) {
    out.push({
      code: 'EIF_ARCH_MISMATCH',
      message: `the header says ${flagArch} (flags bit 0 = ${flagArch === 'aarch64' ? 1 : 0}) but the kernel is ${arch === 'x86_64' ? 'an x86 bzImage' : 'an arm64 Image'}`,
    });
  }
  if (header.version < 4 && types.includes(SectionType.Metadata)) {
    out.push({
      code: 'EIF_VERSION_MISMATCH',
      message: `the header says version ${header.version} but the image has a metadata section, which exists from version 4 on: a v${header.version} reader rejects section type 5 (eif-format.md §1.3, §1.5)`,
    });
  }
  return out;
}
