/** Image references as `docker pull` reads them, and where credentials are looked up (issue 12). */
import { describe, expect, it } from 'vitest';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { apiHost, formatReference, parseReference } from '../../src/node/registry/reference.js';
import { findCredentials, hostOfAuthKey, serverUrlFor } from '../../src/node/registry/credentials.js';
import { choosePlatform, familiarName, parsePlatform } from '../../src/node/registry/pull.js';
import { parseChallenge } from '../../src/node/registry/client.js';
import { EifError } from '../../src/errors.js';
import { tempDir } from '../helpers/eif.js';

const D = `sha256:${'ab'.repeat(32)}`;

describe('parseReference (Docker normalisation)', () => {
  it.each([
    ['app', 'docker.io/library/app:latest'],
    ['app:1.4.2', 'docker.io/library/app:1.4.2'],
    ['org/app', 'docker.io/org/app:latest'],
    ['docker.io/app', 'docker.io/library/app:latest'],
    ['index.docker.io/library/app:x', 'docker.io/library/app:x'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/a/b/c:t', 'localhost:5000/a/b/c:t'],
    ['127.0.0.1:5000/app', '127.0.0.1:5000/app:latest'],
    ['123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1.4.2', '123456789012.dkr.ecr.us-east-1.amazonaws.com/app:1.4.2'],
    [`ghcr.io/org/app@${D}`, `ghcr.io/org/app@${D}`],
    [`app:v1@${D}`, `docker.io/library/app:v1@${D}`],
    ['my_org/app-name.x__y', 'docker.io/my_org/app-name.x__y:latest'],
    ['host:5000/app:5000', 'host:5000/app:5000'],
  ])('%s → %s', (input, want) => {
    expect(formatReference(parseReference(input))).toBe(want);
  });

  it('a first component without . or : and not localhost is a path, not a host', () => {
    expect(parseReference('myhost/app')).toEqual({ registry: 'docker.io', repository: 'myhost/app', tag: 'latest' });
    expect(parseReference(`app@${D}`)).toEqual({ registry: 'docker.io', repository: 'library/app', digest: D });
  });

  it.each(['', 'App', 'org/App:1', 'app:', 'app:-x', `app@sha256:${'AB'.repeat(32)}`, 'app@sha512:00', 'a//b', '/app', 'app/', 'a..b', `app:${'x'.repeat(129)}`, 'bad host!/app'])(
    'refuses %j with USAGE_IMAGE_REFERENCE (exit 2)',
    (input) => {
      try {
        parseReference(input);
        throw new Error('accepted');
      } catch (e) {
        expect(e).toBeInstanceOf(EifError);
        expect((e as EifError).code).toBe('USAGE_IMAGE_REFERENCE');
        expect((e as EifError).exitCode).toBe(2);
      }
    },
  );

  it("the familiar name (docker inspect's RepoTags after a pull)", () => {
    expect(familiarName(parseReference('app'))).toBe('app:latest');
    expect(familiarName(parseReference('docker.io/org/app:1'))).toBe('org/app:1');
    expect(familiarName(parseReference('localhost:5000/library/app:1'))).toBe('localhost:5000/library/app:1');
    expect(familiarName(parseReference(`ghcr.io/o/a@${D}`))).toBe(`ghcr.io/o/a@${D}`);
  });

  it("Docker Hub's API host and credential key", () => {
    expect(apiHost('docker.io')).toBe('registry-1.docker.io');
    expect(apiHost('ghcr.io')).toBe('ghcr.io');
    expect(serverUrlFor('docker.io')).toBe('https://index.docker.io/v1/');
    expect(hostOfAuthKey('https://index.docker.io/v1/')).toBe('docker.io');
    expect(hostOfAuthKey('http://localhost:5000/v2/')).toBe('localhost:5000');
  });
});

describe('credentials from config.json', () => {
  const dir = tempDir();
  it('Docker Hub entries are found under https://index.docker.io/v1/; a bad auth or non-JSON file is REGISTRY_CREDENTIALS without its text', async () => {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: Buffer.from('me:pw').toString('base64') } } }));
    const r = await findCredentials('docker.io', { dockerConfig: dir });
    expect(r.credential).toMatchObject({ username: 'me', password: 'pw' });
    expect(r.credential!.source).toContain('https://index.docker.io/v1/');
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { 'x.io': { auth: Buffer.from('nocolon').toString('base64') } } }));
    await expect(findCredentials('x.io', { dockerConfig: dir })).rejects.toMatchObject({ code: 'REGISTRY_CREDENTIALS' });
    writeFileSync(join(dir, 'config.json'), '{"auths": {"x.io": {"auth": "c2VjcmV0LXRleHQ="}');
    const e = await findCredentials('x.io', { dockerConfig: dir }).catch((x: EifError) => x);
    expect((e as EifError).code).toBe('REGISTRY_CREDENTIALS');
    expect((e as EifError).message).not.toContain('c2VjcmV0');
  });
  it('$DOCKER_CONFIG names the folder', async () => {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ auths: { 'y.io': { username: 'u', password: 'p' } } }));
    const r = await findCredentials('y.io', { env: { DOCKER_CONFIG: dir, PATH: process.env.PATH } });
    expect(r.credential?.username).toBe('u');
  });
});

describe('platforms and challenges', () => {
  const m = (architecture: string, variant?: string, os = 'linux') => ({ digest: `sha256:${architecture}${variant ?? ''}`, size: 1, platform: { os, architecture, ...(variant ? { variant } : {}) } });
  it('the only real platform is the default (attestation manifests are not images); else --platform or the host', () => {
    expect(choosePlatform([m('arm64', 'v8'), m('unknown', undefined, 'unknown')], undefined, 'x').digest).toBe('sha256:arm64v8');
    expect(choosePlatform([m('amd64'), m('arm64', 'v8')], 'linux/arm64', 'x').digest).toBe('sha256:arm64v8');
    expect(choosePlatform([m('amd64'), m('arm64')], 'linux/arm64/v8', 'x').digest).toBe('sha256:arm64');
    expect(choosePlatform([m('amd64'), m('arm64')], 'linux/aarch64', 'x').digest).toBe('sha256:arm64');
    expect(() => choosePlatform([m('amd64'), m('arm', 'v7')], 'linux/arm/v6', 'img')).toThrow(/has no image for linux\/arm\/v6; it has: linux\/amd64, linux\/arm\/v7/);
    expect(() => parsePlatform('amd64')).toThrow(EifError);
  });
  it('WWW-Authenticate', () => {
    expect(parseChallenge('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/x:pull"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/x:pull' },
    });
    expect(parseChallenge('Basic realm="a \\"b\\""')).toEqual({ scheme: 'basic', params: { realm: 'a "b"' } });
    expect(parseChallenge(undefined)).toBeUndefined();
  });
});
