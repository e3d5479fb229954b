/**
 * `eif build --docker-uri` / `eif build-enclave --docker-uri` through bin/eif.js against a real registry (issue 12):
 * the pulled image gives the same EIF, byte for byte, as the docker-archive of it; a second build makes no blob
 * request; a refused login is one error line without the secret; a registry that hangs fails in bounded time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { standinBlobs } from '../../src/oci/standin-blobs.js';
import { eif } from '../helpers/eif.js';
import { buildLayout, countingProxy, fakeServer, missingTools, skopeo, startRegistry, stopAll, tmp, type Registry } from './harness.js';
import { spawn } from 'node:child_process';
import { REPO_ROOT } from '../helpers/shared.js';

const missing = missingTools();
const d = missing ? describe.skip : describe;

/** bin/eif.js without blocking the event loop (the proxy and fake servers live in this process). */
function eifAsync(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'eif.js'), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (x) => (stdout += x));
    c.stderr.on('data', (x) => (stderr += x));
    c.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

d(`eif build --docker-uri${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let reg: Registry;
  let basic: Registry;
  let dir: string;
  let blobs: string;
  let archive: string;
  const env = { SOURCE_DATE_EPOCH: '1700000000', XDG_CACHE_HOME: '', HOME: '' };

  beforeAll(async () => {
    dir = tmp();
    env.XDG_CACHE_HOME = join(dir, 'xdg');
    env.HOME = join(dir, 'home');
    blobs = join(dir, 'blobs');
    for (const arch of ['x86_64', 'aarch64'] as const) {
      mkdirSync(join(blobs, arch), { recursive: true });
      for (const [n, b] of Object.entries(standinBlobs(arch))) writeFileSync(join(blobs, arch, n), b);
    }
    reg = await startRegistry();
    basic = await startRegistry({ kind: 'htpasswd', user: 'bob', password: 'cli-s3cret-pw' });
    const img = buildLayout();
    await skopeo(['--all', `oci:${img.dir}:multi`, `docker://${reg.host}/test/app:1`, '--dest-tls-verify=false']);
    await skopeo([`oci:${img.dir}:amd64`, `docker://${basic.host}/priv/app:1`, '--dest-tls-verify=false', '--dest-creds', 'bob:cli-s3cret-pw']);
    archive = join(dir, 'app.tar');
    await skopeo(['--src-tls-verify=false', '--override-arch', 'amd64', `docker://${reg.host}/test/app:1`, `docker-archive:${archive}:${reg.host}/test/app:1`]);
  });
  afterAll(stopAll);

  it('same EIF bytes and PCRs as the docker-archive of the image; the cache is $XDG_CACHE_HOME/eifkit/blobs', async () => {
    const a = join(dir, 'pulled.eif');
    const b = join(dir, 'saved.eif');
    const common = ['--blobs', blobs, '--build-time', '2024-01-01T00:00:00+00:00', '--quiet'];
    const r1 = await eifAsync(['build', '--docker-uri', `${reg.host}/test/app:1`, '--platform', 'linux/amd64', ...common, '--output', a], env);
    expect(r1.stderr).toBe('');
    expect(r1.status).toBe(0);
    const r2 = await eifAsync(['build', '--docker-archive', archive, ...common, '--output', b], env);
    expect(r2.status).toBe(0);
    expect(JSON.parse(r1.stdout)).toEqual(JSON.parse(r2.stdout));
    const da = JSON.parse((await eifAsync(['describe', a], env)).stdout);
    const db = JSON.parse((await eifAsync(['describe', b], env)).stdout);
    expect(da.Metadata).toEqual(db.Metadata);
    expect(readFileSync(a).equals(readFileSync(b))).toBe(true);
    expect(existsSync(join(env.XDG_CACHE_HOME, 'eifkit', 'blobs', 'sha256'))).toBe(true);
  });

  it('build-enclave --docker-uri (nitro-cli spelling) from the cache: no blob request; --no-cache leaves no cache', async () => {
    const proxy = await countingProxy(reg.host);
    const cache = join(dir, 'cache');
    const out = join(dir, 'enclave.eif');
    const args = ['build-enclave', '--docker-uri', `${proxy.host}/test/app:1`, '--platform', 'linux/amd64', '--blobs', blobs, '--cache', cache, '--output-file', out];
    const first = await eifAsync(args, env);
    expect(first.status).toBe(0);
    expect(first.stderr).toBe('Start building the Enclave Image...\nEnclave Image successfully created.\n');
    expect(proxy.requests.filter((r) => r.includes('/blobs/'))).toHaveLength(3);
    proxy.requests.length = 0;
    const second = await eifAsync(args, env);
    expect(second.status).toBe(0);
    expect(JSON.parse(second.stdout)).toEqual(JSON.parse(first.stdout));
    expect(proxy.requests).toEqual(['HEAD /v2/test/app/manifests/1']);
    const noCache = join(dir, 'nc');
    const r = await eifAsync(['build', '--docker-uri', `${reg.host}/test/app:1`, '--platform', 'linux/arm64', '--blobs', blobs, '--no-cache', '--output', join(dir, 'nc.eif')], { ...env, XDG_CACHE_HOME: noCache });
    expect(r.status).toBe(0);
    expect(existsSync(noCache)).toBe(false);
  });

  it('401: one error line naming the credential source, never the secret; no output file', async () => {
    const cfg = join(dir, 'docker');
    mkdirSync(cfg, { recursive: true });
    writeFileSync(join(cfg, 'config.json'), JSON.stringify({ auths: { [basic.host]: { auth: Buffer.from('bob:wrong-pw-XYZ').toString('base64') } } }));
    const out = join(dir, 'denied.eif');
    const r = await eifAsync(['build', '--docker-uri', `${basic.host}/priv/app:1`, '--blobs', blobs, '--no-cache', '--output', out], { ...env, DOCKER_CONFIG: cfg });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^eif: error REGISTRY_UNAUTHORIZED: [^\n]*credentials from auths\["127\.0\.0\.1:\d+"\] in [^\n]*config\.json were refused[^\n]*\n$/);
    for (const secret of ['wrong-pw-XYZ', Buffer.from('bob:wrong-pw-XYZ').toString('base64'), 'cli-s3cret-pw']) expect(r.stderr).not.toContain(secret);
    expect(existsSync(out)).toBe(false);
    writeFileSync(join(cfg, 'config.json'), JSON.stringify({ auths: { [basic.host]: { username: 'bob', password: 'cli-s3cret-pw' } } }));
    const ok = await eifAsync(['build', '--docker-uri', `${basic.host}/priv/app:1`, '--blobs', blobs, '--no-cache', '--quiet', '--output', out], { ...env, DOCKER_CONFIG: cfg });
    expect(ok.status).toBe(0);
    expect(ok.stderr + ok.stdout).not.toContain('cli-s3cret-pw');
  });

  it('a registry that hangs: REGISTRY_TIMEOUT in bounded time (EIF_REGISTRY_TIMEOUT_MS), no output file', async () => {
    const hang = await fakeServer(() => {});
    const out = join(dir, 'hang.eif');
    const t0 = Date.now();
    const r = await eifAsync(['build', '--docker-uri', `${hang.host}/x/y:1`, '--blobs', blobs, '--no-cache', '--output', out], { ...env, EIF_REGISTRY_TIMEOUT_MS: '300', EIF_REGISTRY_RETRIES: '1', EIF_REGISTRY_BACKOFF_MS: '10' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^eif: error REGISTRY_TIMEOUT: no answer from 127\.0\.0\.1:\d+ within 300 ms[^\n]*\n$/);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(existsSync(out)).toBe(false);
  });
});

describe('eif build --docker-uri usage', () => {
  it('--cache / --insecure-registry only with an image input', () => {
    const r = eif(['build', '--kernel', 'k', '--cmdline', 'c', '--ramdisk', 'r', '--cache', '/tmp/x', '--output', '/tmp/none.eif']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^eif: error BUILD_INPUT_CONFLICT: --cache only apply/);
  });
});
