/**
 * Each auth path against real registries (issue 12): htpasswd Basic with `auths` entries, the Bearer token flow with
 * a token service run here (credHelpers / credsStore helpers, identity tokens), anonymous refusals naming the
 * sources tried — and no secret in any message.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pullImage } from '../../src/node/registry/pull.js';
import { findCredentials } from '../../src/node/registry/credentials.js';
import { EifError } from '../../src/errors.js';
import { buildLayout, missingTools, skopeo, startRegistry, startTokenService, stopAll, throwawayCert, tmp, type Registry, type TokenService } from './harness.js';

const missing = missingTools();
const d = missing ? describe.skip : describe;

const USER = 'alice';
const PASSWORD = 'Pa55-s3cret-for-tests';
const REFRESH = 'refresh-token-s3cret-xyz';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const fast = { timeoutMs: 5000, retries: 1, backoffMs: 50, noCache: true };

/** A DOCKER_CONFIG folder with this config.json, and a PATH with test credential helpers. */
function dockerConfig(config: object, helpers: Record<string, string> = {}): { dockerConfig: string; env: NodeJS.ProcessEnv; log: string } {
  const dir = tmp('eifkit-dockercfg-');
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config));
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const log = join(dir, 'helper.log');
  for (const [name, script] of Object.entries(helpers)) {
    writeFileSync(join(bin, `docker-credential-${name}`), `#!/bin/sh\n[ "$1" = get ] || exit 3\nread -r url\necho "$url" >> ${log}\n${script}\n`);
    chmodSync(join(bin, `docker-credential-${name}`), 0o755);
  }
  return { dockerConfig: dir, env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, log };
}

/** The message of the EifError a pull fails with; checks no secret is in it. */
async function failure(p: Promise<unknown>): Promise<EifError> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof EifError)) throw e;
    for (const secret of [PASSWORD, b64(`${USER}:${PASSWORD}`), REFRESH, 'wrong-pass']) expect(e.message).not.toContain(secret);
    return e;
  }
  throw new Error('the pull succeeded');
}

d(`registry auth${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let basic: Registry;
  let tokenReg: Registry;
  let tokens: TokenService;
  const img = () => buildLayout(['amd64']);

  beforeAll(async () => {
    const layout = img();
    basic = await startRegistry({ kind: 'htpasswd', user: USER, password: PASSWORD });
    await skopeo([`oci:${layout.dir}:amd64`, `docker://${basic.host}/priv/app:1`, '--dest-tls-verify=false', '--dest-creds', `${USER}:${PASSWORD}`]);
    const cert = throwawayCert();
    tokens = await startTokenService(cert, { [USER]: PASSWORD }, [REFRESH]);
    tokenReg = await startRegistry({ kind: 'token', realm: tokens.realm, certPem: cert.certPem });
    await skopeo([`oci:${layout.dir}:amd64`, `docker://${tokenReg.host}/org/app:1`, '--dest-tls-verify=false', '--dest-creds', `${USER}:${PASSWORD}`]);
  });
  afterAll(stopAll);

  it('Basic: auths[host].auth (base64 user:password) and auths[http://host] username/password', async () => {
    const a = dockerConfig({ auths: { [basic.host]: { auth: b64(`${USER}:${PASSWORD}`) } } });
    const p = await pullImage(`${basic.host}/priv/app:1`, { ...fast, credentials: a });
    p.close();
    expect(p.layers).toHaveLength(2);
    const b = dockerConfig({ auths: { [`http://${basic.host}/v2/`]: { username: USER, password: PASSWORD } } });
    (await pullImage(`${basic.host}/priv/app:1`, { ...fast, credentials: b })).close();
  });

  it('Basic: 401 without credentials names the sources tried; wrong ones name their source, never the secret', async () => {
    const none = dockerConfig({ auths: { 'other.example': { auth: b64('x:y') } } });
    const e = await failure(pullImage(`${basic.host}/priv/app:1`, { ...fast, credentials: none }));
    expect(e.code).toBe('REGISTRY_UNAUTHORIZED');
    expect(e.message).toContain(`auths in ${join(none.dockerConfig, 'config.json')} (no entry for ${basic.host})`);
    const nofile = { dockerConfig: tmp() };
    const e2 = await failure(pullImage(`${basic.host}/priv/app:1`, { ...fast, credentials: nofile }));
    expect(e2.message).toContain(`${join(nofile.dockerConfig, 'config.json')} (no such file)`);
    const wrong = dockerConfig({ auths: { [basic.host]: { auth: b64(`${USER}:wrong-pass`) } } });
    const e3 = await failure(pullImage(`${basic.host}/priv/app:1`, { ...fast, credentials: wrong }));
    expect(e3.code).toBe('REGISTRY_UNAUTHORIZED');
    expect(e3.message).toContain(`credentials from auths["${basic.host}"]`);
  });

  it('Bearer token: credHelpers[host] through the docker-credential helper protocol, token scoped to the repository', async () => {
    const c = dockerConfig(
      { credsStore: 'never', credHelpers: { [tokenReg.host]: 'eiftest' } },
      { eiftest: `printf '{"ServerURL":"%s","Username":"${USER}","Secret":"${PASSWORD}"}' "$url"`, never: 'exit 7' },
    );
    tokens.requests.length = 0;
    const p = await pullImage(`${tokenReg.host}/org/app:1`, { ...fast, credentials: c });
    p.close();
    expect(readFileSync(c.log, 'utf8')).toBe(`${tokenReg.host}\n`);
    expect(tokens.requests).toHaveLength(1); // one token, cached for the manifest and every blob
    expect(tokens.requests[0]!.query).toContain(`scope=${encodeURIComponent('repository:org/app:pull')}`);
    expect(tokens.requests[0]!.query).toContain('service=test-registry');
    expect(tokens.requests[0]!.authorization).toBe(`Basic ${b64(`${USER}:${PASSWORD}`)}`);
  });

  it('Bearer token: credsStore helper; identity tokens (auths identitytoken, helper <token>) use the refresh-token grant', async () => {
    const store = dockerConfig({ credsStore: 'eifstore' }, { eifstore: `echo '{"Username":"${USER}","Secret":"${PASSWORD}"}'` });
    (await pullImage(`${tokenReg.host}/org/app:1`, { ...fast, credentials: store })).close();
    tokens.requests.length = 0;
    const idt = dockerConfig({ auths: { [tokenReg.host]: { identitytoken: REFRESH } } });
    (await pullImage(`${tokenReg.host}/org/app:1`, { ...fast, credentials: idt })).close();
    expect(tokens.requests[0]!.method).toBe('POST');
    expect(new URLSearchParams(tokens.requests[0]!.body).get('grant_type')).toBe('refresh_token');
    const helperTok = dockerConfig({ credsStore: 'eiftok' }, { eiftok: `echo '{"Username":"<token>","Secret":"${REFRESH}"}'` });
    (await pullImage(`${tokenReg.host}/org/app:1`, { ...fast, credentials: helperTok })).close();
  });

  it('Bearer token: anonymous gets 401 naming the sources tried; a wrong identity token is refused without showing it', async () => {
    const c = dockerConfig({ credsStore: 'empty' }, { empty: 'echo "credentials not found in native keychain"; exit 1' });
    const e = await failure(pullImage(`${tokenReg.host}/org/app:1`, { ...fast, credentials: c }));
    expect(e.code).toBe('REGISTRY_UNAUTHORIZED');
    expect(e.message).toContain('docker-credential-empty): no credentials');
    expect(e.message).toContain('so anonymous');
    const wrongTok = dockerConfig({ auths: { [tokenReg.host]: { identitytoken: 'not-it' } } });
    const e2 = await failure(pullImage(`${tokenReg.host}/org/app:1`, { ...fast, credentials: wrongTok }));
    expect(e2.code).toBe('REGISTRY_UNAUTHORIZED');
    expect(e2.message).not.toContain('not-it');
  });

  it('a configured helper that says "credentials not found" means anonymous: auths is not read (docker/cli GetCredentialsStore, nativeStore.Get)', async () => {
    const valid = { [tokenReg.host]: { auth: b64(`${USER}:${PASSWORD}`) } };
    for (const [cfg, helper] of [
      [{ credHelpers: { [tokenReg.host]: 'nf' }, auths: valid }, 'credHelpers'],
      [{ credsStore: 'nf', auths: valid }, 'credsStore'],
      [{ credHelpers: { [tokenReg.host]: 'nf' }, credsStore: 'ok', auths: valid }, 'credHelpers'], // the host's helper, not the store
    ] as const) {
      const c = dockerConfig(cfg, { nf: 'echo "credentials not found in native keychain"; exit 1', ok: `echo '{"Username":"${USER}","Secret":"${PASSWORD}"}'` });
      const found = await findCredentials(tokenReg.host, c);
      expect(found.credential).toBeUndefined();
      expect(found.tried).toHaveLength(1);
      expect(found.tried[0]).toContain(`${helper}`);
      expect(found.tried[0]).toContain('docker-credential-nf');
      expect(readFileSync(c.log, 'utf8')).toBe(`${tokenReg.host}\n`); // the helper was asked, once, for this host
      tokens.requests.length = 0;
      const e = await failure(pullImage(`${tokenReg.host}/org/app:1`, { ...fast, credentials: c }));
      expect(e.code).toBe('REGISTRY_UNAUTHORIZED'); // the valid auths entry was not used
      expect(e.message).not.toContain('auths[');
      expect(tokens.requests.length).toBeGreaterThan(0);
      expect(tokens.requests.every((r) => r.authorization === undefined)).toBe(true); // token asked for anonymously
    }
    // an empty secret from the helper is "none" too; a helper for another host does not count (credsStore answers)
    const empty = dockerConfig({ credsStore: 'blank', auths: valid }, { blank: `echo '{"Username":"","Secret":""}'` });
    expect((await findCredentials(tokenReg.host, empty)).credential).toBeUndefined();
    const other = dockerConfig({ credHelpers: { 'other.example': 'nf' }, credsStore: 'ok' }, { nf: 'exit 9', ok: `echo '{"Username":"${USER}","Secret":"${PASSWORD}"}'` });
    expect((await findCredentials(tokenReg.host, other)).credential?.source).toContain('credsStore');
    // without any helper, auths answers
    const plain = dockerConfig({ auths: valid });
    expect((await findCredentials(tokenReg.host, plain)).credential?.source).toBe(`auths["${tokenReg.host}"] in ${join(plain.dockerConfig, 'config.json')}`);
  });

  it('a failing, missing or silent helper is REGISTRY_CREDENTIALS, without its output', async () => {
    const failing = dockerConfig({ credsStore: 'bad' }, { bad: `echo "${PASSWORD}"; exit 2` });
    const e = await failure(findCredentials(tokenReg.host, failing));
    expect(e.code).toBe('REGISTRY_CREDENTIALS');
    const absent = dockerConfig({ credHelpers: { [tokenReg.host]: 'not-installed-anywhere' } });
    expect((await failure(findCredentials(tokenReg.host, absent))).message).toContain('not installed');
    const slow = dockerConfig({ credsStore: 'slow' }, { slow: 'sleep 5' });
    expect((await failure(findCredentials(tokenReg.host, { ...slow, helperTimeoutMs: 300 }))).message).toContain('did not answer');
    const garbage = dockerConfig({ credsStore: 'garbage' }, { garbage: `echo "{${PASSWORD}"` });
    expect((await failure(findCredentials(tokenReg.host, garbage))).code).toBe('REGISTRY_CREDENTIALS');
  });
});
