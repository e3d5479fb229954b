/**
 * Registry credentials as the Docker CLI keeps them (issue 12, "Auth as Docker users have it"):
 * `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`): `credHelpers[host]`, else `credsStore`, through the
 * `docker-credential-<name> get` protocol (server URL on stdin → `{"Username","Secret"}` on stdout; the username
 * `<token>` marks an identity token; "credentials not found" = anonymous, as in the Docker CLI); only when no helper
 * is configured, `auths[host]` (`auth` = base64 `user:password`, or `username`/`password`, or `identitytoken`).
 *
 * A secret never enters a message: what the user is told names the *sources* tried (file path, helper name), and
 * helper output is never echoed.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { EifError } from '../../errors.js';
import { DOCKER_HUB, DOCKER_HUB_AUTH_KEY } from './reference.js';

export interface Credential {
  /** Basic auth (also sent to a token realm). */
  username?: string;
  password?: string;
  /** OAuth2 refresh token (`identitytoken`, or a helper's `<token>` user): exchanged at the token realm. */
  identityToken?: string;
  /** Where it came from, for messages: `credHelpers (docker-credential-ecr-login)`, `auths in /root/.docker/config.json`. */
  source: string;
}

export interface CredentialLookup {
  credential?: Credential;
  /** Every source looked at, in order, with what it gave (`no entry`, `no credentials`, `helper failed`). */
  tried: string[];
}

export interface CredentialOptions {
  /** Folder of config.json (default: $DOCKER_CONFIG, else ~/.docker). */
  dockerConfig?: string;
  /** Environment for helpers and the default folder (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Time a credential helper may take (default 30 s). */
  helperTimeoutMs?: number;
}

interface DockerConfig {
  auths?: Record<string, { auth?: string; username?: string; password?: string; identitytoken?: string }>;
  credsStore?: string;
  credHelpers?: Record<string, string>;
}

/** The folder holding config.json. */
export function dockerConfigDir(opts: CredentialOptions = {}): string {
  const env = opts.env ?? process.env;
  return opts.dockerConfig ?? (env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker'));
}

/** Strip scheme and path: the host form under which `auths` keys are compared (Docker's ConvertToHostname). */
export function hostOfAuthKey(key: string): string {
  let k = key.replace(/^https?:\/\//, '');
  const slash = k.indexOf('/');
  if (slash >= 0) k = k.slice(0, slash);
  return k === 'index.docker.io' || k === 'registry-1.docker.io' ? DOCKER_HUB : k;
}

/** The server URL a registry's credentials are stored under (Docker Hub: https://index.docker.io/v1/). */
export function serverUrlFor(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_AUTH_KEY : registry;
}

function readConfig(path: string): DockerConfig | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new EifError('REGISTRY_CREDENTIALS', `cannot read the Docker config ${path}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not an object');
    return v as DockerConfig;
  } catch {
    // the parser's message could quote the file's text (a secret): say only where
    throw new EifError('REGISTRY_CREDENTIALS', `the Docker config ${path} is not a JSON object`);
  }
}

/** Run `docker-credential-<name> get` with the server URL on stdin. Undefined when the helper has none for it. */
export async function runCredentialHelper(name: string, serverUrl: string, opts: CredentialOptions = {}): Promise<Omit<Credential, 'source'> | undefined> {
  const exe = `docker-credential-${name}`;
  const src = `credential helper ${exe}`;
  if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new EifError('REGISTRY_CREDENTIALS', `invalid credential helper name in the Docker config: ${JSON.stringify(name)}`);
  const timeout = opts.helperTimeoutMs ?? 30_000;
  const out = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
    let child;
    try {
      child = spawn(exe, ['get'], { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'ignore'] });
    } catch (e) {
      reject(e);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new EifError('REGISTRY_CREDENTIALS', `${src} did not answer within ${timeout} ms`));
    }, timeout);
    child.stdout.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= 1 << 20) chunks.push(c);
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new EifError('REGISTRY_CREDENTIALS', e.code === 'ENOENT' ? `${src} is not installed (not found on PATH)` : `${src} could not start (${e.code ?? 'error'})`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(chunks).toString('utf8') });
    });
    child.stdin.on('error', () => {}); // a helper that exits without reading stdin
    child.stdin.end(serverUrl);
  });
  if (out.code !== 0) {
    // the protocol's "credentials not found" answer (stdout, exit 1): no credentials, not a failure
    if (/credentials not found/i.test(out.stdout)) return undefined;
    throw new EifError('REGISTRY_CREDENTIALS', `${src} failed (exit status ${out.code}) for ${serverUrl}`);
  }
  let v: { Username?: unknown; Secret?: unknown };
  try {
    v = JSON.parse(out.stdout) as typeof v;
  } catch {
    throw new EifError('REGISTRY_CREDENTIALS', `${src} did not print JSON for ${serverUrl}`);
  }
  if (typeof v.Secret !== 'string' || v.Secret === '') return undefined;
  const user = typeof v.Username === 'string' ? v.Username : '';
  return user === '<token>' ? { identityToken: v.Secret } : { username: user, password: v.Secret };
}

function fromAuthsEntry(entry: NonNullable<DockerConfig['auths']>[string], path: string): Omit<Credential, 'source'> | undefined {
  if (entry.identitytoken) return { identityToken: entry.identitytoken };
  if (entry.auth) {
    let decoded: string;
    try {
      decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    } catch {
      decoded = '';
    }
    const i = decoded.indexOf(':');
    if (i <= 0) throw new EifError('REGISTRY_CREDENTIALS', `the "auth" entry in ${path} is not base64 of user:password`);
    return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
  }
  if (entry.username && entry.password !== undefined) return { username: entry.username, password: entry.password };
  return undefined;
}

/**
 * Find the credentials for a registry, the way the Docker CLI chooses (docker/cli configfile `GetCredentialsStore`):
 * the helper `credHelpers[<server URL>]` (the key is the registry host as written in the reference, `host:port`, or
 * `https://index.docker.io/v1/` for Docker Hub), else `credsStore`; when one is configured it alone answers, and a
 * helper that has no credentials for the registry ("credentials not found", or an empty secret) means anonymous —
 * `auths` is not read then (the Docker CLI keeps only an e-mail there). Without a helper, the `auths` entry.
 * Returns what was tried.
 *
 * @example
 * import { findCredentials } from 'eifkit';
 * const { credential, tried } = await findCredentials('ghcr.io');
 * console.log(credential?.source ?? `anonymous (tried: ${tried.join('; ')})`);
 */
export async function findCredentials(registry: string, opts: CredentialOptions = {}): Promise<CredentialLookup> {
  const dir = dockerConfigDir(opts);
  const path = join(dir, 'config.json');
  const tried: string[] = [];
  const cfg = readConfig(path);
  if (cfg === undefined) {
    tried.push(`${path} (no such file)`);
    return { tried };
  }
  const serverUrl = serverUrlFor(registry);
  const helpers = cfg.credHelpers && typeof cfg.credHelpers === 'object' ? cfg.credHelpers : {};
  const own = Object.prototype.hasOwnProperty.call(helpers, serverUrl) && typeof helpers[serverUrl] === 'string' ? helpers[serverUrl] : undefined;
  const store = typeof cfg.credsStore === 'string' && cfg.credsStore !== '' ? cfg.credsStore : undefined;
  const helper = own !== undefined ? { kind: 'credHelpers', name: own } : store !== undefined ? { kind: 'credsStore', name: store } : undefined;
  if (helper) {
    const label = `${helper.kind}${helper.kind === 'credHelpers' ? `["${serverUrl}"]` : ''} in ${path} (docker-credential-${helper.name})`;
    const c = await runCredentialHelper(helper.name, serverUrl, opts);
    if (c) return { credential: { ...c, source: label }, tried: [...tried, label] };
    // as the Docker CLI: the configured helper is the only source; none from it is anonymous
    tried.push(`${label}: no credentials for ${serverUrl}, so anonymous (with a helper configured, auths is not read)`);
    return { tried };
  }
  const auths = cfg.auths && typeof cfg.auths === 'object' ? cfg.auths : {};
  for (const [k, entry] of Object.entries(auths)) {
    if (hostOfAuthKey(k) !== registry || entry === null || typeof entry !== 'object') continue;
    const c = fromAuthsEntry(entry, path);
    const label = `auths["${k}"] in ${path}`;
    if (c) return { credential: { ...c, source: label }, tried: [...tried, label] };
  }
  tried.push(`auths in ${path} (no entry for ${registry})`);
  return { tried };
}
