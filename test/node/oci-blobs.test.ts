/** nitro-cli's blobs folder: where it is looked for, the arch layout, cmdline trimming, one clear error (src/node/oci/blobs.ts). */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_BLOBS_DIR, resolveBlobs, trimCmdline } from '../../src/node/oci/blobs.js';
import { standinBlobs } from '../../src/oci/standin-blobs.js';
import { kernelConfigInfo } from '../../src/eif/metadata.js';
import { tempDir } from '../helpers/eif.js';
import { describeShared, sharedPath } from '../helpers/shared.js';

const dir = tempDir();
function writeBlobs(target: string, arch: 'x86_64' | 'aarch64', skip: string[] = []): void {
  mkdirSync(target, { recursive: true });
  for (const [name, bytes] of Object.entries(standinBlobs(arch))) if (!skip.includes(name)) writeFileSync(join(target, name), bytes);
}

describe('resolveBlobs', () => {
  it('--blobs DIR: the flat (package) layout; cmdline trimmed; the kernel of the image arch', () => {
    const d = join(dir, 'flat');
    writeBlobs(d, 'x86_64');
    const b = resolveBlobs({ dir: d, arch: 'x86_64', env: {}, hostArch: 'x86_64' });
    expect(b).toMatchObject({ dir: d, chosenBy: '--blobs', kernel: join(d, 'bzImage'), kernelConfig: join(d, 'bzImage.config'), init: join(d, 'init'), nsmKo: join(d, 'nsm.ko'), warnings: [] });
    const raw = readFileSync(join(d, 'cmdline'), 'utf8');
    expect(raw.endsWith('\n')).toBe(true);
    expect(new TextDecoder().decode(b.cmdline)).toBe(raw.trim());
  });

  it('the repository layout DIR/<arch>/ is preferred, and the kernel follows the image (Image for arm64), with a warning on another host', () => {
    const d = join(dir, 'repo');
    writeBlobs(join(d, 'x86_64'), 'x86_64');
    writeBlobs(join(d, 'aarch64'), 'aarch64');
    const arm = resolveBlobs({ dir: d, arch: 'aarch64', env: {}, hostArch: 'x86_64' });
    expect(arm.kernel).toBe(join(d, 'aarch64', 'Image'));
    expect(arm.warnings.join(' ')).toMatch(/nitro-cli on this x86_64 host would take the host's kernel/);
    const x86 = resolveBlobs({ dir: d, arch: 'x86_64', env: {}, hostArch: 'x86_64' });
    expect(x86.kernel).toBe(join(d, 'x86_64', 'bzImage'));
    expect(x86.warnings).toEqual([]);
  });

  it('$NITRO_CLI_BLOBS when there is no --blobs; --blobs wins over it', () => {
    const d = join(dir, 'env');
    writeBlobs(d, 'x86_64');
    expect(resolveBlobs({ arch: 'x86_64', env: { NITRO_CLI_BLOBS: d }, hostArch: 'x86_64' })).toMatchObject({ dir: d, chosenBy: 'NITRO_CLI_BLOBS' });
    expect(() => resolveBlobs({ dir: join(dir, 'nowhere'), arch: 'x86_64', env: { NITRO_CLI_BLOBS: d } })).toThrow(/nowhere/);
  });

  it.skipIf(existsSync(DEFAULT_BLOBS_DIR))("else nitro-cli's default folder, named in the error when it is not there", () => {
    expect(() => resolveBlobs({ arch: 'x86_64', env: {}, hostArch: 'x86_64' })).toThrow(
      expect.objectContaining({ code: 'BLOBS_MISSING', message: expect.stringContaining(`${DEFAULT_BLOBS_DIR} (nitro-cli's default`) }),
    );
  });

  it('a missing blob: ONE error naming the files, every folder looked in and where to get them', () => {
    const d = join(dir, 'partial');
    writeBlobs(d, 'x86_64', ['nsm.ko', 'bzImage']);
    let err: any;
    try {
      resolveBlobs({ dir: d, arch: 'x86_64', env: {} });
    } catch (e) {
      err = e;
    }
    expect(err.code).toBe('BLOBS_MISSING');
    expect(err.message).toContain(`${join(d, 'x86_64')} (no such folder)`);
    expect(err.message).toContain(`${d} (missing nsm.ko, bzImage)`);
    expect(err.message).toMatch(/aws-nitro-enclaves-cli package \(\/usr\/share\/nitro_enclaves\/blobs\/\)/);
    expect(err.message).toMatch(/blobs\/x86_64\//);
    // an x86_64 folder has no Image: asking for arm64 names the arm64 kernel
    expect(() => resolveBlobs({ dir: join(dir, 'flat'), arch: 'aarch64', env: {} })).toThrow(/missing Image\)/);
  });

  it('no kernel config: a warning, metadata says Unknown', () => {
    const d = join(dir, 'noconfig');
    writeBlobs(d, 'x86_64', ['bzImage.config']);
    const b = resolveBlobs({ dir: d, arch: 'x86_64', env: {}, hostArch: 'x86_64' });
    expect(b.kernelConfig).toBeUndefined();
    expect(b.warnings.join(' ')).toMatch(/no bzImage.config/);
  });
});

describe('trimCmdline (Rust str::trim)', () => {
  const t = (s: string | Uint8Array) => new TextDecoder('utf-8', { ignoreBOM: true }).decode(trimCmdline(typeof s === 'string' ? new TextEncoder().encode(s) : s));
  it('trims Unicode white space at both ends only', () => {
    expect(t('  console=ttyS0 quiet \n')).toBe('console=ttyS0 quiet');
    expect(t('\u00a0a b\u3000\r\n')).toBe('a b');
    expect(t('\ufeffa')).toBe('\ufeffa'); // a BOM is not white space for Rust
  });
  it('refuses bytes that are not UTF-8, and NUL', () => {
    expect(() => trimCmdline(new Uint8Array([0x61, 0xff]))).toThrow(expect.objectContaining({ code: 'BLOBS_BAD_CMDLINE' }));
    expect(() => t('a\0b')).toThrow(/NUL/);
  });
});

describe('stand-in blobs', () => {
  it('are deterministic, small, and look like the right kernel; the config gives OS and version as nitro-cli reads them', () => {
    const x = standinBlobs('x86_64');
    expect(Object.keys(x).sort()).toEqual(['bzImage', 'bzImage.config', 'cmdline', 'init', 'nsm.ko']);
    expect(Buffer.from(x.bzImage!.subarray(0x202, 0x206)).toString()).toBe('HdrS');
    expect(Buffer.from(standinBlobs('aarch64').Image!.subarray(0x38, 0x3c)).toString()).toBe('ARM\x64');
    expect(Buffer.from(standinBlobs('x86_64').init!).equals(Buffer.from(x.init!))).toBe(true);
    expect(kernelConfigInfo(x['bzImage.config']!)).toEqual({ os: 'Linux', kernel: '6.1.0' });
  });
});

describeShared('the shared stand-in blobs (../shared/test-vectors/oci/blobs)', () => {
  it('resolve in the flat layout with the trimmed cmdline', () => {
    const b = resolveBlobs({ dir: sharedPath('oci', 'blobs'), arch: 'x86_64', env: {}, hostArch: 'x86_64' });
    expect(b.kernel).toBe(sharedPath('oci', 'blobs', 'bzImage'));
    expect(new TextDecoder().decode(b.cmdline)).toBe(readFileSync(sharedPath('oci', 'blobs', 'cmdline'), 'utf8').trim());
  });
});
