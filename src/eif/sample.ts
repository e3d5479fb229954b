/**
 * The embedded sample image behind `npm start` / `eif demo`: deterministic stand-ins for a kernel and the two
 * ramdisks nitro-cli makes (eif-format.md §6.6), so a fresh clone can build, measure, describe and verify an EIF
 * with nothing downloaded. The "kernel" is pseudo-random bytes and the init is a shell script: the image has the
 * real structure but does not boot.
 */
import { sha384 } from '../core/index.js';
import { S_IFDIR, S_IFREG, writeCpio } from './cpio.js';

/** n deterministic bytes: SHA-384 in counter mode over a label. */
export function deterministicBytes(label: string, n: number): Uint8Array {
  const out = new Uint8Array(n);
  const enc = new TextEncoder();
  for (let i = 0, block = 0; i < n; block++, i += 48) {
    out.set(sha384(enc.encode(`${label}:${block}`)).subarray(0, Math.min(48, n - i)), i);
  }
  return out;
}

export interface SampleInputs {
  kernel: Uint8Array;
  cmdline: string;
  ramdisks: Uint8Array[];
}

export const SAMPLE_CMDLINE = 'reboot=k panic=30 pci=off nomodules console=ttyS0 random.trust_cpu=on';

export function sampleInputs(): SampleInputs {
  const enc = new TextEncoder();
  const dir = (name: string) => ({ name, mode: S_IFDIR | 0o755 });
  const bootstrap = writeCpio([
    dir('dev'),
    { name: 'init', mode: S_IFREG | 0o755, data: enc.encode('#!/bin/sh\n# eifkit sample: stands in for the Nitro init\nexec /rootfs/hello\n') },
    { name: 'nsm.ko', mode: S_IFREG | 0o755, data: deterministicBytes('nsm.ko', 4096) },
  ]);
  const app = writeCpio([
    dir('rootfs'),
    ...['dev', 'run', 'sys', 'var', 'proc', 'tmp'].map((d) => dir(`rootfs/${d}`)),
    { name: 'rootfs/hello', mode: S_IFREG | 0o755, data: enc.encode('#!/bin/sh\necho "hello from an eifkit sample enclave"\n') },
    { name: 'cmd', mode: S_IFREG | 0o644, data: enc.encode('/hello\n') },
    { name: 'env', mode: S_IFREG | 0o644, data: enc.encode('PATH=/sbin:/usr/sbin:/bin:/usr/bin\n') },
  ]);
  return { kernel: deterministicBytes('eifkit-sample-kernel', 256 << 10), cmdline: SAMPLE_CMDLINE, ramdisks: [bootstrap, app] };
}
