/**
 * Stand-in blobs: small, deterministic files with the names and layout of nitro-cli's blobs folder
 * (oci-build.md §4) — `cmdline`, `init`, `nsm.ko`, the kernel (`bzImage` / `Image`) and its `.config` — so tests,
 * docs and `npm start` can build an EIF from a container image without AWS's kernel, which eifkit never ships
 * (GPL-2.0 binary, ≥ 5 MB). They do not boot. The kernel stand-in carries its boot protocol's magic (x86 `HdrS` at
 * 0x202, arm64 `ARM\x64` at 0x38), so `eif verify`'s arch check reads it as the right kind of kernel; the config's
 * line 3 has the form nitro-cli reads OperatingSystem / KernelVersion from. Browser-safe.
 */
import { deterministicBytes } from '../eif/sample.js';

export type BlobArch = 'x86_64' | 'aarch64';

/** The kernel file name nitro-cli uses on each architecture (oci-build.md §1.1). */
export const KERNEL_FILE: Record<BlobArch, string> = { x86_64: 'bzImage', aarch64: 'Image' };

/** A nitro-cli-like command line, with the trailing newline the real file has (nitro-cli trims it). */
const CMDLINE: Record<BlobArch, string> = {
  x86_64: 'reboot=k panic=30 pci=off nomodules console=ttyS0 random.trust_cpu=on virtio_mmio.device=4K@0xd0000000:5\n',
  aarch64: 'reboot=k panic=30 pci=off nomodules console=ttyS0 random.trust_cpu=on\n',
};

/**
 * The stand-in blobs of one architecture: file name → bytes (kernel 256 KiB, init 16 KiB, nsm.ko 4 KiB).
 *
 * @example
 * import { standinBlobs } from 'eifkit/browser';
 * const files = standinBlobs('x86_64'); // { bzImage, 'bzImage.config', cmdline, init, 'nsm.ko' }
 */
export function standinBlobs(arch: BlobArch = 'x86_64'): Record<string, Uint8Array> {
  const enc = new TextEncoder();
  const k = KERNEL_FILE[arch];
  const kernel = deterministicBytes(`eifkit-standin-${arch}-kernel`, 256 << 10);
  const magic = arch === 'x86_64' ? { at: 0x202, bytes: 'HdrS' } : { at: 0x38, bytes: 'ARM\x64' };
  kernel.set(enc.encode(magic.bytes), magic.at);
  const config =
    `#\n# Automatically generated file; DO NOT EDIT.\n# Linux/${arch === 'x86_64' ? 'x86_64' : 'arm64'} 6.1.0-eifkit-standin Kernel Configuration\n` +
    '#\n# eifkit stand-in: not a real kernel configuration\nCONFIG_EIFKIT_STANDIN=y\n';
  return {
    [k]: kernel,
    [`${k}.config`]: enc.encode(config),
    cmdline: enc.encode(CMDLINE[arch]),
    init: deterministicBytes(`eifkit-standin-${arch}-init`, 16 << 10),
    'nsm.ko': deterministicBytes(`eifkit-standin-${arch}-nsm.ko`, 4 << 10),
  };
}
