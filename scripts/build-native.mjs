#!/usr/bin/env node
// Compile the C launcher helper on this machine (docs/launcher.md "Building the helper"), and the vsock backend of
// `eif run --emulate` (native/vsock-backend.c, docs/launcher.md "Emulation"). No network, no make, no node-gyp: one
// `cc` call per target. Run by
//   - the package's `install` script, on the user's machine (x86_64 or aarch64 Linux), with `--install`: a missing
//     C compiler or a failed compile prints what to do and exits 0, so the rest of eifkit installs and works;
//   - scripts/build.mjs (`npm install` / `npm test` in a git clone), which also builds the test-only driver
//     simulator and conformance suite when their sources (native/test/, not in the package) are present;
//   - by hand, the command `eif run` names when the helper is missing: `node <package>/scripts/build-native.mjs`.
// Outputs go to native/out/ (EIF_NATIVE_OUT overrides it), written to a temp name and renamed, so an interrupted
// compile never leaves a half-written binary. A target newer than its sources is not rebuilt.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { arch, platform } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const native = join(root, 'native');
const out = process.env.EIF_NATIVE_OUT || join(native, 'out');
const installMode = process.argv.includes('--install');
const self = `node ${join(root, 'scripts', 'build-native.mjs')}`;
const compilerAdvice =
  'install a C compiler (Debian/Ubuntu: `sudo apt-get install gcc libc6-dev`; Amazon Linux, Fedora, RHEL: ' +
  '`sudo dnf install gcc`; Alpine: `apk add gcc musl-dev linux-headers`)';

const WARN = ['-Wall', '-Wextra'];
const cflags = (process.env.CFLAGS ?? '-O2').split(/\s+/).filter(Boolean);

/** The shipped helper first, then the emulation's vsock backend (shipped, but `eif run` works without it); the
 * test-only targets only when their sources exist (a git clone). */
const targets = [
  { name: 'eif-nehelper', sources: ['nehelper.c', 'ne_abi.h'], args: [...WARN, 'nehelper.c'], shipped: true },
  { name: 'eif-vsock-backend', sources: ['vsock-backend.c'], args: [...WARN, 'vsock-backend.c'], emulation: true },
  {
    name: 'libnesim.so',
    sources: ['test/nesim.c', 'ne_abi.h'],
    args: [...WARN, '-I.', '-fPIC', '-shared', '-fvisibility=hidden', '-pthread', 'test/nesim.c', '-ldl'],
  },
  { name: 'ne_conformance', sources: ['test/ne_conformance.c', 'ne_abi.h'], args: [...WARN, '-I.', 'test/ne_conformance.c'] },
  { name: 'vsock_frontend', sources: ['test/vsock_frontend.c'], args: [...WARN, 'test/vsock_frontend.c'] },
];

/** Say it and stop. In install mode the package install goes on (exit 0); otherwise exit 1. */
function giveUp(why) {
  const lines = [
    `eifkit: the launcher helper for \`eif run\` was not built: ${why}.`,
    '  Everything else (build, describe, verify, sign, attest, pcr) works without it.',
    `  To use \`eif run\`: ${compilerAdvice}, then run:`,
    `    ${self}`,
  ];
  process.stderr.write(`${lines.join('\n')}\n`);
  process.exit(installMode ? 0 : 1);
}

/** `$CC` (which may carry words, e.g. `ccache gcc`), else the first of cc, gcc, clang that runs. */
function findCompiler() {
  const candidates = process.env.CC?.trim() ? [process.env.CC.trim()] : ['cc', 'gcc', 'clang'];
  for (const cc of candidates) {
    const [cmd, ...pre] = cc.split(/\s+/);
    const r = spawnSync(cmd, [...pre, '--version'], { stdio: 'ignore' });
    if (!r.error && r.status === 0) return { name: cc, cmd, pre };
  }
  return undefined;
}

const mtime = (p) => {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return undefined;
  }
};

function build(cc, t) {
  const target = join(out, t.name);
  const built = mtime(target);
  const newest = Math.max(...t.sources.map((s) => mtime(join(native, s)) ?? Infinity));
  if (built !== undefined && built >= newest) return true;
  const tmp = `${target}.${process.pid}.tmp`;
  const r = spawnSync(cc.cmd, [...cc.pre, ...cflags, '-o', tmp, ...t.args], { cwd: native, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.error || r.status !== 0) {
    rmSync(tmp, { force: true });
    return false;
  }
  renameSync(tmp, target);
  return true;
}

if (platform() !== 'linux') {
  // Nitro Enclaves exist only on Linux parents; nothing to build elsewhere, and nothing is wrong.
  if (!installMode) process.stderr.write(`eifkit: the launcher helper is Linux-only; not built on ${platform()}\n`);
  process.exit(0);
}
const cc = findCompiler();
if (!cc) giveUp(process.env.CC ? `the C compiler CC=${process.env.CC} cannot be run` : 'no C compiler (cc, gcc or clang) was found');
mkdirSync(out, { recursive: true });
for (const t of targets) {
  if (!t.shipped && !t.sources.every((s) => existsSync(join(native, s)))) continue;
  if (!build(cc, t)) {
    if (t.shipped) giveUp(`${cc.name} failed to compile native/nehelper.c for ${arch()} (its messages are above)`);
    if (t.emulation) {
      process.stderr.write(`eifkit: ${cc.name} failed to compile native/vsock-backend.c (its messages are above): \`eif run --emulate\` falls back to vhost-device-vsock, whose enclaves cannot reach the parent at CID 3\n`);
      if (installMode) continue;
      process.exit(1);
    }
    process.stderr.write(`eifkit: ${cc.name} failed to compile native/${t.sources[0]} (test-only; the launcher tests will skip)\n`);
    process.exit(installMode ? 0 : 1);
  }
}
if (installMode) process.stderr.write(`eifkit: built the launcher helper ${join(out, 'eif-nehelper')}\n`);
