/**
 * nitro-cli's blobs folder — oci-build.md §1.1 ("Blobs dir"), §4: `--blobs DIR`, else `$NITRO_CLI_BLOBS`, else
 * `/usr/share/nitro_enclaves/blobs/`; in that folder either the files themselves (the package's layout) or a
 * `<arch>/` subfolder (`x86_64/`, `aarch64/`: the aws-nitro-enclaves-cli repository's `blobs/`).
 *
 * Files: `cmdline` (trimmed as nitro-cli trims it), `init`, `nsm.ko`, the kernel (`bzImage` on x86_64, `Image` on
 * aarch64) and `<kernel>.config` (optional here: OperatingSystem / KernelVersion for the metadata). The kernel
 * follows the **image's** architecture; nitro-cli takes the host's, so we say so when they differ. A missing blob
 * is one BLOBS_MISSING error naming the files, each folder looked in, and where to get them.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { EifError } from '../../errors.js';
import { KERNEL_FILE, type BlobArch } from '../../oci/standin-blobs.js';
import { readInputFile } from '../file-source.js';

export { KERNEL_FILE, type BlobArch };

/** nitro-cli's `DEFAULT_BLOBS_PATH`. */
export const DEFAULT_BLOBS_DIR = '/usr/share/nitro_enclaves/blobs/';

/** The blobs a build uses. Paths are the files found; `cmdline` is already trimmed. */
export interface Blobs {
  /** The folder the files were found in, and how it was chosen. */
  dir: string;
  chosenBy: '--blobs' | 'NITRO_CLI_BLOBS' | 'default';
  arch: BlobArch;
  kernel: string;
  /** `<kernel>.config`, when present. */
  kernelConfig?: string;
  cmdline: Uint8Array;
  init: string;
  nsmKo: string;
  /** Things to tell the user (kernel arch ≠ host arch, no kernel config). */
  warnings: string[];
}

export interface ResolveBlobsOptions {
  /** `--blobs DIR`. */
  dir?: string;
  /** The image's architecture: picks the kernel. */
  arch: BlobArch;
  /** Defaults to process.env. */
  env?: Record<string, string | undefined>;
  /** Defaults to the host's (process.arch). */
  hostArch?: BlobArch | string;
}

/**
 * Node's process.arch as nitro-cli's `std::env::consts::ARCH`.
 *
 * @example
 * import { hostBlobArch } from 'eifkit';
 * hostBlobArch('x64'); // 'x86_64'
 */
export function hostBlobArch(arch: string = process.arch): string {
  return arch === 'x64' ? 'x86_64' : arch === 'arm64' ? 'aarch64' : arch;
}

/**
 * Rust's `str::trim`: Unicode White_Space at both ends (nitro-cli reads `cmdline` into a String and trims it).
 *
 * @example
 * import { trimCmdline } from 'eifkit';
 * trimCmdline(new TextEncoder().encode('console=ttyS0\n')); // bytes of 'console=ttyS0'
 */
export function trimCmdline(bytes: Uint8Array, path = 'cmdline'): Uint8Array {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new EifError('BLOBS_BAD_CMDLINE', `${path} is not UTF-8 text (nitro-cli reads the cmdline blob as a string)`);
  }
  const ws = '[\\t\\n\\v\\f\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]';
  const trimmed = text.replace(new RegExp(`^${ws}+|${ws}+$`, 'gu'), '');
  if (trimmed.includes('\0')) throw new EifError('BLOBS_BAD_CMDLINE', `${path} contains a NUL byte`);
  return new TextEncoder().encode(trimmed);
}

const isFile = (p: string): boolean => {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
};
const isDir = (p: string): boolean => {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
};

/**
 * Find the blobs for an image of architecture `o.arch` (see the module comment). Throws BLOBS_MISSING.
 *
 * @example
 * import { resolveBlobs } from 'eifkit';
 * const blobs = resolveBlobs({ dir: './blobs', arch: 'x86_64' });
 * console.log(blobs.kernel, new TextDecoder().decode(blobs.cmdline));
 */
export function resolveBlobs(o: ResolveBlobsOptions): Blobs {
  const env = o.env ?? process.env;
  const fromEnv = env.NITRO_CLI_BLOBS;
  const [base, chosenBy]: [string, Blobs['chosenBy']] =
    o.dir !== undefined ? [o.dir, '--blobs'] : fromEnv ? [fromEnv, 'NITRO_CLI_BLOBS'] : [DEFAULT_BLOBS_DIR, 'default'];
  const kernelName = KERNEL_FILE[o.arch];
  const required = ['cmdline', 'init', 'nsm.ko', kernelName];
  // The repository's layout first (it names the arch), then the package's flat folder.
  const candidates = [join(base, o.arch), base];
  const looked: string[] = [];
  for (const dir of candidates) {
    if (!isDir(dir)) {
      looked.push(`${dir} (${existsSync(dir) ? 'not a folder' : 'no such folder'})`);
      continue;
    }
    const missing = required.filter((f) => !isFile(join(dir, f)));
    if (missing.length > 0) {
      looked.push(`${dir} (missing ${missing.join(', ')})`);
      continue;
    }
    const warnings: string[] = [];
    const host = hostBlobArch(o.hostArch);
    if (host !== o.arch) {
      warnings.push(
        `the image is ${o.arch === 'x86_64' ? 'amd64' : 'arm64'}, so the ${o.arch} kernel ${kernelName} is used; nitro-cli on this ${host} host would take the host's kernel (and linuxkit its cache path), so its PCRs for this image would differ`,
      );
    }
    const config = join(dir, `${kernelName}.config`);
    if (!isFile(config)) warnings.push(`no ${kernelName}.config in ${dir}: the metadata's OperatingSystem / KernelVersion are "Unknown"`);
    const cmdlinePath = join(dir, 'cmdline');
    return {
      dir,
      chosenBy,
      arch: o.arch,
      kernel: join(dir, kernelName),
      kernelConfig: isFile(config) ? config : undefined,
      cmdline: trimCmdline(readInputFile(cmdlinePath, 'cmdline blob', { bytes: 64 << 10, code: 'INPUT_TOO_LARGE' }), cmdlinePath),
      init: join(dir, 'init'),
      nsmKo: join(dir, 'nsm.ko'),
      warnings,
    };
  }
  const why = chosenBy === '--blobs' ? 'given by --blobs' : chosenBy === 'NITRO_CLI_BLOBS' ? 'from $NITRO_CLI_BLOBS' : "nitro-cli's default; set --blobs DIR or $NITRO_CLI_BLOBS";
  throw new EifError(
    'BLOBS_MISSING',
    `the ${o.arch} blobs ${required.join(', ')} were not found in ${base} (${why}): looked in ${looked.join('; ')}. ` +
      'They come with the aws-nitro-enclaves-cli package (/usr/share/nitro_enclaves/blobs/) or its repository (blobs/x86_64/, blobs/aarch64/); ' +
      'to try eifkit without them, write stand-ins with `eif blobs --standin DIR` (they do not boot)',
  );
}
