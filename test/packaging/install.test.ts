/**
 * The packed tarball installed as a user installs it (`npm install <tarball>` into an empty project; dependencies
 * from the npm cache, the registry only for what the cache lacks): the install step compiles the helper here, the
 * README's commands run through `npx eif`, the AWS SDK is absent, and a missing helper names the command that
 * builds it — which then works. Skipped with a message when npm cannot reach the registry for a missing package.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { arch, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/shared.js';
import { ELF_MACHINE, HAVE_DIST, HAVE_NPM, elfMachine } from './package.js';
import { HAVE_NATIVE, SimEnv } from '../launcher/simenv.js';

const HAVE_CC = spawnSync('cc', ['--version']).status === 0;
const NETWORK = /ENOTCACHED|EAI_AGAIN|ENOTFOUND|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|network/i;

const tmp = mkdtempSync(join(tmpdir(), 'eifkit-install-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe.skipIf(!HAVE_NPM || !HAVE_DIST || process.platform !== 'linux')('the packed tarball, installed', () => {
  it('installs, builds the helper on this machine, and runs the README\'s commands', (ctx) => {
    const t0 = Date.now();
    const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(pack.status).toBe(0);
    const tarball = join(tmp, (JSON.parse(pack.stdout) as { filename: string }[])[0]!.filename);
    const app = join(tmp, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), '{"name": "app", "private": true}\n');
    const install = spawnSync('npm', ['install', tarball, '--prefer-offline', '--no-audit', '--no-fund'], { cwd: app, encoding: 'utf8', timeout: 150_000 });
    if (install.status !== 0 && NETWORK.test(install.stderr)) {
      ctx.skip(`npm could not fetch a dependency (no registry access): ${install.stderr.split('\n')[0]}`);
    }
    expect(install.status, install.stderr).toBe(0);
    const installMs = Date.now() - t0;
    const pkg = join(app, 'node_modules', 'eifkit');
    // `eif` as the installed bin link runs it (node_modules/.bin/eif; npx itself is checked once, it is slow)
    const eifBin = (args: string[], env: Record<string, string> = {}) =>
      spawnSync(process.execPath, [join(app, 'node_modules', '.bin', 'eif'), ...args], { cwd: app, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });

    // the README's commands, as written, through npx in the project
    const help = spawnSync('npx', ['--no-install', 'eif', '--help'], { cwd: app, encoding: 'utf8', timeout: 60_000 });
    expect(help.stdout).toMatch(/^eif <command> \[options\]/);
    expect(eifBin(['--version']).stdout).toMatch(/^eifkit \d+\.\d+\.\d+/);
    writeFileSync(join(app, 'any-file'), 'hello\n');
    const pcr = eifBin(['pcr', '--input', 'any-file']);
    expect(pcr.status).toBe(0);
    const mine = spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'eif.js'), 'pcr', '--input', join(app, 'any-file')], { encoding: 'utf8' });
    expect(JSON.parse(pcr.stdout)).toEqual(JSON.parse(mine.stdout));

    // `eif web` serves the page shipped in the package (dist-web/), and prints its URL
    const web = spawnSync('sh', ['-c', `"${process.execPath}" "${join(app, 'node_modules', '.bin', 'eif')}" web --port 0 & pid=$!; sleep 3; kill -INT $pid; wait $pid`], { cwd: app, encoding: 'utf8', timeout: 30_000 });
    expect(web.status, web.stderr).toBe(0);
    expect(web.stdout).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\n$/);
    expect(existsSync(join(pkg, 'dist-web', 'index.html'))).toBe(true);

    // only runtime dependencies: no AWS SDK, no build tools
    const modules = readdirSync(join(app, 'node_modules'));
    for (const absent of ['@aws-sdk', 'typescript', 'assemblyscript', 'vitest']) expect(modules).not.toContain(absent);
    expect(existsSync(join(pkg, 'native', 'test'))).toBe(false);

    if (!HAVE_CC || !HAVE_NATIVE) return; // the simulator below comes from this repository's native/out
    // the install step compiled the helper for this machine
    const helper = join(pkg, 'native', 'out', 'eif-nehelper');
    expect(elfMachine(helper)).toBe(ELF_MACHINE[arch()]);

    // Without it, `eif run` says how to get it (after a clean pre-flight: a simulated host), and that command works.
    const sim = new SimEnv();
    try {
      const env = sim.vars();
      delete (env as Record<string, string | undefined>).EIF_NE_HELPER; // the installed package's own helper path
      writeFileSync(join(app, 'bzImage'), 'kernel');
      writeFileSync(join(app, 'rootfs'), 'ramdisk');
      expect(eifBin(['build', '--kernel', 'bzImage', '--cmdline', 'x', '--ramdisk', 'rootfs', '--output', 'app.eif']).status).toBe(0);
      rmSync(join(pkg, 'native', 'out'), { recursive: true });
      const run = ['run', '--eif-path', 'app.eif', '--cpu-count', '2', '--memory', '64'];
      const missing = eifBin(run, env);
      expect(missing.status).toBe(1);
      const command = `node ${join(pkg, 'scripts', 'build-native.mjs')}`;
      expect(missing.stderr).toBe(
        `eif: error HELPER_MISSING: the launcher helper ${helper} is not built: eifkit compiles it when it is installed, which needs a C ` +
          'compiler. Install one (Debian/Ubuntu: sudo apt-get install gcc libc6-dev; Amazon Linux, Fedora, RHEL: sudo dnf install gcc), ' +
          `then run: ${command}\n`,
      );
      expect(spawnSync('sh', ['-c', command], { encoding: 'utf8' }).status).toBe(0);
      const started = eifBin(run, env);
      expect(started.status, started.stderr).toBe(0);
      expect(JSON.parse(started.stdout)).toMatchObject({ EnclaveName: 'app', NumberOfCPUs: 2, MemoryMiB: 64 });
      expect(eifBin(['terminate-enclave', '--all'], env).status).toBe(0);
    } finally {
      sim.cleanup();
    }
    expect(installMs).toBeLessThan(150_000);
  }, 240_000);
});
