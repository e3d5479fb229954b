/**
 * What users get from the registry (issue 9, "Install and packaging"): the tarball's file list, a package that
 * needs no TypeScript or AssemblyScript to install, the C helper compiled on the user's machine by the shipped
 * script (a clear message and a successful install without a C compiler), and the optional AWS SDK.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { arch, tmpdir } from 'node:os';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/shared.js';
import { HAVE_OPENSSL, makeEcKey } from '../signing/keys.js';
import { ELF_MACHINE, HAVE_DIST, HAVE_NPM, elfMachine, packageTree, packedFiles } from './package.js';

const pkgJson = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));
const HAVE_CC = spawnSync('cc', ['--version']).status === 0;

let files: string[] = [];
let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'eifkit-pack-'));
  if (HAVE_NPM && HAVE_DIST) files = packedFiles();
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!HAVE_NPM || !HAVE_DIST)('npm pack: the published file list', () => {
  it('holds the built library and CLI, the built web page (eif web), the helper sources and the script that compiles them, and the README', () => {
    const needed = ['package.json', 'README.md', 'bin/eif.js', 'dist/index.js', 'dist/index.d.ts', 'dist/browser.js', 'dist/cli/main.js',
      'dist/launcher/launcher.js', 'native/nehelper.c', 'native/ne_abi.h', 'native/vsock-backend.c', 'scripts/build-native.mjs', 'dist-web/index.html'];
    if (existsSync(join(REPO_ROOT, 'LICENSE'))) needed.push('LICENSE');
    expect(files).toEqual(expect.arrayContaining(needed));
  });

  it('holds nothing else: no test code, simulator, conformance suite, compiled binaries, sources or build tools', () => {
    const allowed = /^(package\.json|README\.md|LICENSE|bin\/eif\.js|dist\/.+\.(js|js\.map|d\.ts)|dist-web\/(index\.html|assets\/[\w.-]+\.(js|css))|native\/(nehelper\.c|ne_abi\.h|vsock-backend\.c)|scripts\/build-native\.mjs)$/;
    expect(files.filter((f) => f.startsWith('dist-web/assets/') && f.endsWith('.js')).length).toBeGreaterThanOrEqual(2); // the page and its worker
    expect(files.filter((f) => !allowed.test(f))).toEqual([]);
    expect(files.filter((f) => /native\/test|nesim|conformance|native\/out|^src\/|^test\/|\.test\.|^assembly\/|^bench\//.test(f))).toEqual([]);
  });

  it('every module the package loads is in it or declared: relative imports resolve, bare ones are dependencies', () => {
    const declared = new Set([
      ...Object.keys(pkgJson.dependencies ?? {}),
      ...Object.keys(pkgJson.optionalDependencies ?? {}),
      ...Object.keys(pkgJson.peerDependencies ?? {}),
    ]);
    const packed = new Set(files);
    const problems: string[] = [];
    for (const f of files.filter((p) => p.endsWith('.js') && !p.endsWith('.d.ts'))) {
      // code only: doc comments show imports as a user writes them (`@example … from 'eifkit/browser'`)
      const text = readFileSync(join(REPO_ROOT, f), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
      for (const m of text.matchAll(/(?:from\s+|import\(\s*|require\(\s*)['"]([^'"]+)['"]/g)) {
        const spec = m[1]!;
        if (spec.startsWith('.')) {
          const target = join(f, '..', spec);
          if (!packed.has(target)) problems.push(`${f}: ${spec} is not in the package`);
        } else if (!spec.startsWith('node:') && !builtinModules.includes(spec)) {
          const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
          const self = name === pkgJson.name && `.${spec.slice(name.length)}` in pkgJson.exports;
          if (!declared.has(name) && !self) problems.push(`${f}: ${spec} is not a declared dependency`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('installs with no TypeScript / AssemblyScript toolchain: the install step only compiles the helper', () => {
    expect(pkgJson.scripts.install).toBe('node scripts/build-native.mjs --install');
    expect(pkgJson.scripts.preinstall).toBeUndefined();
    expect(pkgJson.scripts.postinstall).toBeUndefined();
    const runtime = { ...pkgJson.dependencies, ...pkgJson.optionalDependencies };
    for (const tool of ['typescript', 'assemblyscript', 'vitest']) expect(runtime).not.toHaveProperty(tool);
    // the script imports only Node's own modules
    const script = readFileSync(join(REPO_ROOT, 'scripts', 'build-native.mjs'), 'utf8');
    expect([...script.matchAll(/from '([^']+)'/g)].map((m) => m[1]).filter((s) => !s!.startsWith('node:'))).toEqual([]);
  });

  it('the AWS SDK is installed only when asked for: an optional peer, a dev dependency for our tests', () => {
    expect(pkgJson.dependencies).not.toHaveProperty('@aws-sdk/client-kms');
    expect(pkgJson.optionalDependencies ?? {}).not.toHaveProperty('@aws-sdk/client-kms');
    expect(pkgJson.peerDependencies).toHaveProperty('@aws-sdk/client-kms');
    expect(pkgJson.peerDependenciesMeta['@aws-sdk/client-kms']).toEqual({ optional: true });
    expect(pkgJson.devDependencies).toHaveProperty('@aws-sdk/client-kms');
    const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8'));
    expect(lock.packages['node_modules/@aws-sdk/client-kms']).toMatchObject({ dev: true });
    expect(lock.packages['node_modules/@aws-sdk/client-kms'].optional).toBeUndefined();
  });
});

/** The shipped script run in a copy laid out as the installed package (native/test/ absent, as in the tarball). */
function installedCopy(name: string): string {
  const dir = join(tmp, name);
  for (const f of ['native/nehelper.c', 'native/ne_abi.h', 'native/vsock-backend.c', 'scripts/build-native.mjs']) {
    mkdirSync(join(dir, f, '..'), { recursive: true });
    cpSync(join(REPO_ROOT, f), join(dir, f));
  }
  return dir;
}

function buildNative(dir: string, env: Record<string, string | undefined>, args = ['--install']) {
  const e: Record<string, string | undefined> = { ...process.env, ...env };
  delete e.EIF_NATIVE_OUT;
  if (!('CC' in env)) delete e.CC;
  const r = spawnSync(process.execPath, [join(dir, 'scripts', 'build-native.mjs'), ...args], { encoding: 'utf8', env: e as NodeJS.ProcessEnv, timeout: 60_000 });
  return { status: r.status, stderr: r.stderr };
}

describe.skipIf(process.platform !== 'linux')('scripts/build-native.mjs: the helper is compiled on the user\'s machine', () => {
  it('without a C compiler: a clear message, the install goes on (exit 0), and the command it prints works', () => {
    const dir = installedCopy('no-cc');
    const empty = join(tmp, 'empty-path');
    mkdirSync(empty, { recursive: true });
    const r = buildNative(dir, { PATH: empty });
    expect(r.status).toBe(0);
    const command = `node ${join(dir, 'scripts', 'build-native.mjs')}`;
    expect(r.stderr).toBe(
      'eifkit: the launcher helper for `eif run` was not built: no C compiler (cc, gcc or clang) was found.\n' +
        '  Everything else (build, describe, verify, sign, attest, pcr) works without it.\n' +
        '  To use `eif run`: install a C compiler (Debian/Ubuntu: `sudo apt-get install gcc libc6-dev`; Amazon Linux, Fedora, ' +
        'RHEL: `sudo dnf install gcc`; Alpine: `apk add gcc musl-dev linux-headers`), then run:\n' +
        `    ${command}\n`,
    );
    expect(existsSync(join(dir, 'native', 'out', 'eif-nehelper'))).toBe(false);
    if (!HAVE_CC) return;
    // the printed command, as the user would run it once a compiler is there
    const again = spawnSync('sh', ['-c', command], { encoding: 'utf8', env: { ...process.env, EIF_NATIVE_OUT: '' } });
    expect(again.status).toBe(0);
    const helper = join(dir, 'native', 'out', 'eif-nehelper');
    expect(elfMachine(helper)).toBe(ELF_MACHINE[arch()]);
    // the emulation's vsock backend too; no simulator: its source is not shipped
    expect(readdirSync(join(dir, 'native', 'out')).sort()).toEqual(['eif-nehelper', 'eif-vsock-backend']);
    expect(spawnSync(helper, ['abi'], { encoding: 'utf8' }).stdout).toMatch(/^\{"NE_CREATE_VM":2148052512,/);
  });

  it.skipIf(!HAVE_CC)('a compile failure is reported, leaves no partial binary, and does not fail the install', () => {
    const dir = installedCopy('bad-cc');
    const fake = join(tmp, 'fake-cc');
    writeFileSync(fake, '#!/bin/sh\n[ "$1" = --version ] && exit 0\necho "fake-cc: error" >&2\nfor a; do case "$prev" in -o) : > "$a";; esac; prev=$a; done\nexit 1\n');
    chmodSync(fake, 0o755);
    const r = buildNative(dir, { CC: fake });
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(`the launcher helper for \`eif run\` was not built: ${fake} failed to compile native/nehelper.c for ${arch()}`);
    expect(readdirSync(join(dir, 'native', 'out'))).toEqual([]); // the half-written output was removed
    expect(buildNative(dir, { CC: fake }, []).status).toBe(1); // outside the install step a failure is an error
  });

  // Regression: the helper called sigabbrev_np(), which glibc has only from 2.32 (Amazon Linux 2 has 2.26) and musl
  // (Alpine) not at all: the compile on such a user's machine failed at link time. musl-gcc stands in for both.
  const triple = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[arch() as 'x64' | 'arm64'];
  const HAVE_MUSL = spawnSync('musl-gcc', ['--version']).status === 0 && existsSync(`/usr/include/${triple}/asm`);
  it.skipIf(!HAVE_MUSL)('compiles and links against musl (no glibc-only functions)', () => {
    const dir = installedCopy('musl');
    const inc = join(dir, 'linux-headers'); // what Alpine's linux-headers package provides, from this host's copy
    mkdirSync(inc);
    for (const [name, target] of [['linux', '/usr/include/linux'], ['asm-generic', '/usr/include/asm-generic'], ['asm', `/usr/include/${triple}/asm`]]) {
      symlinkSync(target!, join(inc, name!));
    }
    const r = buildNative(dir, { CC: 'musl-gcc', CFLAGS: `-O2 -Werror -isystem ${inc}` }, []);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const helper = join(dir, 'native', 'out', 'eif-nehelper');
    expect(spawnSync(helper, ['abi'], { encoding: 'utf8' }).stdout).toMatch(/^\{"NE_CREATE_VM":2148052512,/);
  });

  // x86_64 and aarch64 hosts: compile the helper for the other one too when a cross compiler is installed
  // (Debian: gcc-aarch64-linux-gnu / gcc-x86-64-linux-gnu).
  const cross = arch() === 'x64' ? ['aarch64-linux-gnu-gcc', 'arm64'] : ['x86_64-linux-gnu-gcc', 'x64'];
  const HAVE_CROSS = spawnSync(cross[0]!, ['--version']).status === 0;
  it.skipIf(!HAVE_CROSS)(`compiles cleanly for the other architecture (${cross[1]}) with ${cross[0]}`, () => {
    const dir = installedCopy('cross');
    const r = buildNative(dir, { CC: cross[0], CFLAGS: '-O2 -Werror' });
    expect(r.status).toBe(0);
    expect(elfMachine(join(dir, 'native', 'out', 'eif-nehelper'))).toBe(ELF_MACHINE[cross[1]!]);
  });
});

describe.skipIf(!HAVE_NPM || !HAVE_DIST || !HAVE_OPENSSL)('the optional AWS SDK, hidden', () => {
  it('KMS signing without @aws-sdk/client-kms installed: SIG_KMS_SDK_MISSING says what to install', () => {
    const app = join(tmp, 'no-sdk');
    const pkg = packageTree(app, files, ['@aws-sdk']);
    const eif = (args: string[]) => spawnSync(process.execPath, [join(pkg, 'bin', 'eif.js'), ...args], { cwd: app, encoding: 'utf8', timeout: 60_000 });
    writeFileSync(join(app, 'bzImage'), 'kernel');
    writeFileSync(join(app, 'rootfs'), 'ramdisk');
    expect(eif(['build', '--kernel', 'bzImage', '--cmdline', 'x', '--ramdisk', 'rootfs', '--output', 'app.eif']).status).toBe(0);
    const key = makeEcKey(app, 'signer', 'P-384');
    const r = eif(['sign', '--eif-path', 'app.eif', '--signing-certificate', key.certPath, '--private-key', 'arn:aws:kms:us-east-1:111122223333:key/0f1e2d3c-aaaa-bbbb-cccc-0123456789ab']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^eif: error SIG_KMS_SDK_MISSING: KMS signing needs the AWS SDK for JavaScript: npm install @aws-sdk\/client-kms \(an optional peer dependency of eifkit, not installed with it\) — .*Cannot find (package|module) '@aws-sdk\/client-kms'/);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(readdirSync(app).filter((f) => f.includes('.eif'))).toEqual(['app.eif']); // no output, no temp file
  });
});
