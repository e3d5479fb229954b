/**
 * An OCI distribution (v2) client on node:http / node:https (issue 12): manual redirects (Authorization dropped when
 * the host changes, as blob storage such as S3 refuses or would leak it), the `WWW-Authenticate` challenge (Bearer
 * token per repository scope, cached until it expires; Basic), bounded retries with backoff for time-outs, resets, 5xx
 * and 429 (Retry-After honoured up to a cap), and errors with stable codes. Plain HTTP only for localhost,
 * 127.0.0.0/8, ::1 and `--insecure-registry` hosts or CIDRs (HTTPS tried first without certificate checks, as Docker
 * does); like Docker's daemon, a host name counts as in a CIDR (127.0.0.0/8 included) when an address it resolves to
 * is.
 *
 * Secrets (passwords, identity tokens, bearer tokens) are only ever put in request headers / bodies; no message,
 * error or log line is built from them.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { IncomingMessage } from 'node:http';
import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { EifError } from '../../errors.js';
import type { ErrorCode } from '../../error-codes.js';
import { findCredentials, type Credential, type CredentialOptions } from './credentials.js';
import { apiHost } from './reference.js';

export interface RegistryClientOptions {
  /**
   * Hosts (`host` or `host:port`) or CIDRs (`10.0.0.0/8`, `fd00::/8`) that may be reached over plain HTTP / unverified
   * TLS (`--insecure-registry`).
   */
  insecureRegistries?: string[];
  /** No byte for this long (connecting, waiting for headers, or mid-body) fails the attempt. Default 30 000. */
  timeoutMs?: number;
  /** Attempts after the first for transient failures. Default 3. */
  retries?: number;
  /** First backoff delay, doubled each retry. Default 500. */
  backoffMs?: number;
  /** A 429 / 503 whose Retry-After asks for longer than this fails at once. Default 60 000. */
  maxRetryAfterMs?: number;
  credentials?: CredentialOptions;
  /** Every HTTP request made (method and URL without query), for tests and `--verbose`-style logs. */
  onRequest?: (method: string, url: string) => void;
  userAgent?: string;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parse a `WWW-Authenticate` header: `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`. */
export function parseChallenge(header: string | undefined): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?\s*/gy;
  re.lastIndex = 0;
  const rest = m[2]!;
  let p: RegExpExecArray | null;
  while (re.lastIndex < rest.length && (p = re.exec(rest)) !== null) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

/** localhost, 127.0.0.0/8, ::1: plain HTTP allowed, as Docker's default insecure CIDR. */
export function isLoopbackHost(host: string): boolean {
  const h = hostname(host);
  return h === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '::1' || h === '[::1]';
}

/** Host without the port (`[::1]:5000` → `::1`). */
function hostname(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'));
  const i = host.lastIndexOf(':');
  return i >= 0 && host.indexOf(':') === i ? host.slice(0, i) : host;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Attempt {
  res: IncomingMessage;
  url: URL;
}

class Transient extends Error {
  constructor(
    readonly kind: 'timeout' | 'network' | 'status',
    message: string,
    readonly retryAfterMs?: number,
    readonly status?: number,
  ) {
    super(message);
  }
}

/** TLS spoken to a plain-HTTP server (or the reverse): the cue to fall back to http for an allowed host. */
class TlsMismatch extends Error {}

/**
 * The chunks of a response body; no byte for `idleMs` fails with a Transient time-out, a broken connection with a
 * Transient network failure (the caller decides whether to resume).
 */
async function* bodyChunks(res: IncomingMessage, idleMs: number, host: string): AsyncGenerator<Buffer> {
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => res.destroy(new Transient('timeout', `${host} stopped sending for ${idleMs} ms`)), idleMs);
  };
  arm();
  try {
    for await (const c of res as AsyncIterable<Buffer>) {
      arm();
      yield c;
    }
  } catch (e) {
    if (e instanceof Transient || e instanceof EifError) throw e;
    throw new Transient('network', `the connection to ${host} broke during a download (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  } finally {
    clearTimeout(timer);
  }
}

/** Read a (small) response body, at most `limit` bytes (more: REGISTRY_RESPONSE_TOO_LARGE). */
export async function readBody(res: IncomingMessage, limit: number, what: string, idleMs = 30_000): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  try {
    for await (const c of bodyChunks(res, idleMs, what)) {
      n += c.length;
      if (n > limit) {
        res.destroy();
        throw new EifError('REGISTRY_RESPONSE_TOO_LARGE', `${what} is larger than ${limit} bytes`);
      }
      chunks.push(c);
    }
  } catch (e) {
    if (e instanceof Transient) throw new EifError(e.kind === 'timeout' ? 'REGISTRY_TIMEOUT' : 'REGISTRY_UNREACHABLE', `${e.message} (reading ${what})`);
    throw e;
  }
  return Buffer.concat(chunks);
}

function drain(res: IncomingMessage): void {
  res.resume();
  res.on('error', () => {});
}

/** The registry's own words from an error body (`{"errors":[{"code","message"}]}`), cleaned for one line. */
async function registryWords(res: IncomingMessage, idleMs = 30_000): Promise<string> {
  try {
    const body = (await readBody(res, 64 << 10, 'error body', idleMs)).toString('utf8');
    const j = JSON.parse(body) as { errors?: { code?: unknown; message?: unknown }[] };
    const e = j.errors?.[0];
    if (e) return ` (${[e.code, e.message].filter((x) => typeof x === 'string').join(': ').replace(/[^\x20-\x7e]/g, '?').slice(0, 200)})`;
  } catch {
    /* not JSON: say nothing more */
  }
  return '';
}

function retryAfterMs(h: string | string[] | undefined): number | undefined {
  if (typeof h !== 'string') return undefined;
  if (/^\d+$/.test(h.trim())) return Number(h.trim()) * 1000;
  const t = Date.parse(h);
  return Number.isNaN(t) ? undefined : Math.max(0, t - Date.now());
}

interface Token {
  header: string;
  expires: number;
}

/** A client for one or more registries; tokens and the chosen scheme per host are kept for its lifetime. */
export class RegistryClient {
  readonly timeoutMs: number;
  readonly retries: number;
  readonly backoffMs: number;
  readonly maxRetryAfterMs: number;
  private readonly insecure: Set<string>;
  private readonly insecureNets = new BlockList();
  private readonly resolvedPlain = new Map<string, boolean>();
  private readonly scheme = new Map<string, 'https:' | 'http:'>();
  private readonly tokens = new Map<string, Token>();
  private readonly creds = new Map<string, Promise<{ credential?: Credential; tried: string[] }>>();
  private readonly agents = { http: new http.Agent({ keepAlive: true, maxSockets: 8 }), https: new https.Agent({ keepAlive: true, maxSockets: 8 }) };
  private readonly insecureAgent = new https.Agent({ keepAlive: true, maxSockets: 8, rejectUnauthorized: false });

  constructor(private readonly opts: RegistryClientOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.retries = opts.retries ?? 3;
    this.backoffMs = opts.backoffMs ?? 500;
    this.maxRetryAfterMs = opts.maxRetryAfterMs ?? 60_000;
    this.insecure = new Set();
    this.insecureNets.addSubnet('127.0.0.0', 8, 'ipv4'); // Docker's default insecure CIDR
    this.insecureNets.addSubnet('::1', 128, 'ipv6');
    for (const entry of opts.insecureRegistries ?? []) {
      const cidr = /^([0-9a-fA-F:.]+)\/(\d{1,3})$/.exec(entry);
      const family = cidr ? isIP(cidr[1]!) : 0;
      if (cidr && family !== 0 && Number(cidr[2]) <= (family === 4 ? 32 : 128)) {
        this.insecureNets.addSubnet(cidr[1]!, Number(cidr[2]), family === 4 ? 'ipv4' : 'ipv6');
      } else this.insecure.add(entry.replace(/^https?:\/\//, '').replace(/\/.*$/, ''));
    }
  }

  /** Is an address (IPv4 or IPv6 literal) in an insecure CIDR? */
  private inInsecureNet(address: string): boolean {
    const family = isIP(address);
    return family !== 0 && this.insecureNets.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }

  /**
   * Resolve a host name once and note whether an address of it is in an insecure CIDR (Docker's daemon does this:
   * `isCIDRMatch` over the name's IPs), so that the synchronous {@link plainAllowed} can answer for names too.
   */
  private async resolveInsecure(host: string): Promise<void> {
    const name = hostname(host);
    if (isIP(name) !== 0 || this.resolvedPlain.has(name)) return;
    let hit = false;
    try {
      hit = (await lookup(name, { all: true })).some((a) => this.inInsecureNet(a.address));
    } catch {
      /* unknown host: the request itself reports it */
    }
    this.resolvedPlain.set(name, hit);
  }

  /** Close idle keep-alive sockets (the process can then exit). */
  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
    this.insecureAgent.destroy();
  }

  /** May this host be reached without verified TLS? */
  plainAllowed(host: string): boolean {
    const name = hostname(host);
    return isLoopbackHost(host) || this.insecure.has(host) || this.insecure.has(name) || this.inInsecureNet(name) || this.resolvedPlain.get(name) === true;
  }

  /** One HTTP exchange (no redirects, no retries): resolves at the response headers; the socket's idle time-out covers the body too. */
  private send(method: string, url: URL, headers: Record<string, string>, body?: string): Promise<IncomingMessage> {
    this.opts.onRequest?.(method, `${url.origin}${url.pathname}`);
    const secure = url.protocol === 'https:';
    const lax = secure && this.plainAllowed(url.host);
    const mod = secure ? https : http;
    const agent = secure ? (lax ? this.insecureAgent : this.agents.https) : this.agents.http;
    return new Promise((resolve, reject) => {
      const req = mod.request(url, { method, headers: { 'user-agent': this.opts.userAgent ?? 'eifkit', ...headers }, agent }, (res) => {
        // from here the body's own idle timer (bodyChunks) judges: one clock, one kind of error for a stall
        req.setTimeout(0);
        resolve(res);
      });
      req.setTimeout(this.timeoutMs, () => req.destroy(new Transient('timeout', `no answer from ${url.host} within ${this.timeoutMs} ms`)));
      req.on('error', (e: NodeJS.ErrnoException) => {
        if (e instanceof Transient) return reject(e);
        // HTTPS to a host allowed plain HTTP, scheme not known yet: a TLS error, or a reset by an HTTP server
        // that got a ClientHello, is the cue to try http (as Docker does for insecure registries)
        const probing = lax && !this.scheme.has(url.host);
        if (probing && (e.code === 'EPROTO' || e.code === 'ECONNRESET' || e.code?.startsWith('ERR_SSL'))) return reject(new TlsMismatch(e.code));
        if (e.code === 'ENOTFOUND') return reject(new EifError('REGISTRY_UNKNOWN_HOST', `unknown registry host ${url.hostname}: the name does not resolve (check the image reference)`));
        reject(Object.assign(new Transient('network', `cannot reach ${url.host}: ${e.code ?? e.message}`), { code: e.code }));
      });
      req.end(body);
    });
  }

  /** `send`, following redirects (at most 10); Authorization is kept only on the same origin. */
  private async follow(method: string, url: URL, headers: Record<string, string>, body?: string): Promise<Attempt> {
    let h = headers;
    for (let hop = 0; hop <= 10; hop++) {
      const res = await this.send(method, url, h, body);
      const loc = res.headers.location;
      if (![301, 302, 303, 307, 308].includes(res.statusCode ?? 0) || !loc) return { res, url };
      drain(res);
      const next = new URL(loc, url);
      if (next.protocol !== 'https:' && next.protocol !== 'http:') throw new EifError('REGISTRY_PROTOCOL', `${url.host} redirected to a ${next.protocol} URL`);
      await this.resolveInsecure(next.host);
      if (next.protocol === 'http:' && !this.plainAllowed(next.host)) {
        throw new EifError('REGISTRY_PROTOCOL', `${url.host} redirected to plain HTTP at ${next.host}; refused (use --insecure-registry ${next.host} to allow it)`);
      }
      if (next.origin !== url.origin) {
        const { authorization: _drop, ...rest } = h;
        h = rest;
      }
      url = next;
    }
    throw new EifError('REGISTRY_PROTOCOL', `too many redirects from ${url.host}`);
  }

  /** The base URL of a registry host: https, or for allowed hosts https-then-http (remembered). */
  private async withScheme<T>(host: string, fn: (base: string) => Promise<T>): Promise<T> {
    const known = this.scheme.get(host);
    if (known) return fn(`${known}//${host}`);
    await this.resolveInsecure(host);
    if (!this.plainAllowed(host)) {
      this.scheme.set(host, 'https:');
      return fn(`https://${host}`);
    }
    try {
      const r = await fn(`https://${host}`);
      this.scheme.set(host, 'https:');
      return r;
    } catch (e) {
      if (!(e instanceof TlsMismatch)) throw e;
      this.scheme.set(host, 'http:');
      return fn(`http://${host}`);
    }
  }

  /** Run `fn` with bounded retries for transient failures; the last failure becomes a coded error. */
  private async retrying<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let last: Transient | undefined;
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt > 0) {
        const backoff = this.backoffMs * 2 ** (attempt - 1);
        await sleep(Math.max(backoff, last?.retryAfterMs ?? 0));
      }
      try {
        return await fn();
      } catch (e) {
        if (!(e instanceof Transient)) throw e;
        last = e;
        if (e.retryAfterMs !== undefined && e.retryAfterMs > this.maxRetryAfterMs) break;
      }
    }
    const tries = `${what}; gave up after ${this.retries + 1} attempt(s)`;
    if (last!.status === 429) {
      const ra = last!.retryAfterMs !== undefined ? `; the registry asks to retry after ${Math.ceil(last!.retryAfterMs / 1000)} s` : '';
      throw new EifError('REGISTRY_RATE_LIMITED', `${last!.message}${ra} (${tries})`);
    }
    const code: ErrorCode = last!.kind === 'timeout' ? 'REGISTRY_TIMEOUT' : last!.kind === 'status' ? 'REGISTRY_SERVER_ERROR' : 'REGISTRY_UNREACHABLE';
    throw new EifError(code, `${last!.message} (${tries})`);
  }

  private async credentialsFor(registry: string): Promise<{ credential?: Credential; tried: string[] }> {
    let p = this.creds.get(registry);
    if (!p) {
      p = findCredentials(registry, this.opts.credentials);
      this.creds.set(registry, p);
    }
    return p;
  }

  /** Obtain an Authorization header for a challenge (token request, or Basic). */
  private async authorize(registry: string, repository: string, ch: Challenge, key: string): Promise<void> {
    const { credential } = await this.credentialsFor(registry);
    if (ch.scheme === 'basic') {
      if (!credential?.username) throw await this.unauthorized(registry, repository, 401, 'the registry asks for a user name and password (Basic)');
      const basic = Buffer.from(`${credential.username}:${credential.password ?? ''}`).toString('base64');
      this.tokens.set(key, { header: `Basic ${basic}`, expires: Infinity });
      return;
    }
    if (ch.scheme !== 'bearer' || !ch.params.realm) {
      throw new EifError('REGISTRY_PROTOCOL', `${apiHost(registry)} asks for an authentication scheme eifkit does not speak (${ch.scheme})`);
    }
    let realm: URL;
    try {
      realm = new URL(ch.params.realm);
    } catch {
      throw new EifError('REGISTRY_PROTOCOL', `${apiHost(registry)} names an invalid token realm`);
    }
    if (realm.protocol !== 'https:' && !(realm.protocol === 'http:' && this.plainAllowed(realm.host))) {
      throw new EifError('REGISTRY_PROTOCOL', `token realm ${realm.origin} is not HTTPS; refused (use --insecure-registry ${realm.host} to allow it)`);
    }
    const scope = `repository:${repository}:pull`;
    const service = ch.params.service;
    let res: IncomingMessage;
    let url: URL;
    if (credential?.identityToken) {
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: credential.identityToken, client_id: 'eifkit', scope });
      if (service) form.set('service', service);
      ({ res, url } = await this.retrying(`token request to ${realm.host}`, () =>
        this.checkTransient(this.follow('POST', realm, { 'content-type': 'application/x-www-form-urlencoded' }, form.toString()), realm.host),
      ));
    } else {
      const u = new URL(realm);
      if (service) u.searchParams.set('service', service);
      u.searchParams.set('scope', scope);
      const h: Record<string, string> = {};
      if (credential?.username) h.authorization = `Basic ${Buffer.from(`${credential.username}:${credential.password ?? ''}`).toString('base64')}`;
      ({ res, url } = await this.retrying(`token request to ${realm.host}`, () => this.checkTransient(this.follow('GET', u, h), realm.host)));
    }
    void url;
    if (res.statusCode === 401 || res.statusCode === 403) {
      drain(res);
      throw await this.unauthorized(registry, repository, res.statusCode, `the token service ${realm.host} refused`);
    }
    if (res.statusCode !== 200) {
      const words = await registryWords(res, this.timeoutMs);
      throw new EifError('REGISTRY_AUTH_FAILED', `the token service ${realm.host} answered ${res.statusCode}${words}`);
    }
    let tok: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      tok = JSON.parse((await readBody(res, 1 << 20, 'token response', this.timeoutMs)).toString('utf8')) as typeof tok;
    } catch (e) {
      if (e instanceof EifError) throw e;
      throw new EifError('REGISTRY_AUTH_FAILED', `the token service ${realm.host} did not answer with JSON`);
    }
    const t = typeof tok.token === 'string' && tok.token ? tok.token : typeof tok.access_token === 'string' ? tok.access_token : '';
    if (!t) throw new EifError('REGISTRY_AUTH_FAILED', `the token service ${realm.host} gave no token`);
    const life = typeof tok.expires_in === 'number' && tok.expires_in > 0 ? tok.expires_in : 60;
    this.tokens.set(key, { header: `Bearer ${t}`, expires: Date.now() + Math.max(1, life - 5) * 1000 });
  }

  /** The 401/403 error: which credential sources were tried, never what they held. */
  private async unauthorized(registry: string, repository: string, status: number, what: string): Promise<EifError> {
    const { credential, tried } = await this.credentialsFor(registry);
    const who = credential
      ? `credentials from ${credential.source} were refused`
      : `no credentials found (tried: ${tried.join('; ')}); anonymous access refused (or the repository does not exist)`;
    const code: ErrorCode = status === 403 ? 'REGISTRY_DENIED' : 'REGISTRY_UNAUTHORIZED';
    return new EifError(code, `${apiHost(registry)}/${repository}: ${what} (${status}): ${who}. Log in with \`docker login ${registry}\` or set DOCKER_CONFIG`);
  }

  /** Turn statuses worth retrying (429, 5xx) into Transient failures. */
  private async checkTransient(p: Promise<Attempt>, host: string): Promise<Attempt> {
    const a = await p;
    const s = a.res.statusCode ?? 0;
    if (s === 429 || s === 500 || s === 502 || s === 503 || s === 504) {
      const ra = retryAfterMs(a.res.headers['retry-after']);
      const words = await registryWords(a.res, this.timeoutMs);
      throw new Transient('status', `${host} answered ${s}${s === 429 ? ' Too Many Requests' : ''}${words}`, ra, s);
    }
    return a;
  }

  /**
   * A request to `/v2/<repository>/…` of a registry, authenticated as needed. Resolves with a response whose status
   * is not 401/429/5xx (the caller judges the rest and must consume or drain the body). `range` resumes a download.
   *
   * @example
   * const c = new RegistryClient();
   * const { res } = await c.request({ registry: 'docker.io', repository: 'library/busybox' }, 'HEAD', 'manifests/latest', { accept: '…' });
   */
  async request(target: { registry: string; repository: string }, method: 'GET' | 'HEAD', path: string, headers: Record<string, string> = {}): Promise<Attempt> {
    const host = apiHost(target.registry);
    const key = `${host}\n${target.repository}`;
    return this.withScheme(host, async (base) => {
      const url = new URL(`${base}/v2/${target.repository}/${path}`);
      let challenged = false;
      for (;;) {
        const tok = this.tokens.get(key);
        const h = { ...headers };
        if (tok && tok.expires > Date.now()) h.authorization = tok.header;
        const a = await this.retrying(`${method} ${url.pathname} on ${host}`, () => this.checkTransient(this.follow(method, url, h), host));
        if (a.res.statusCode === 401) {
          const ch = parseChallenge(a.res.headers['www-authenticate'] as string | undefined);
          drain(a.res);
          if (challenged || !ch) throw await this.unauthorized(target.registry, target.repository, 401, `${method === 'HEAD' ? 'access' : 'pull'} refused`);
          challenged = true;
          await this.authorize(target.registry, target.repository, ch, key);
          continue;
        }
        if (a.res.statusCode === 403) {
          drain(a.res);
          throw await this.unauthorized(target.registry, target.repository, 403, 'access denied');
        }
        return a;
      }
    });
  }

  /**
   * Stream a blob into `sink`, checking its size and SHA-256 as the bytes arrive. A connection that breaks or stalls
   * mid-body is resumed with a Range request (a registry that answers 200 instead restarts it: `sink.reset()`),
   * within the retry budget. Throws REGISTRY_BLOB_NOT_FOUND, REGISTRY_DIGEST_MISMATCH, REGISTRY_TIMEOUT, ….
   *
   * @example
   * await client.download(target, layer.digest, layer.size, { write: (b) => file.write(b), reset: () => file.truncate() });
   */
  async download(
    target: { registry: string; repository: string },
    digest: string,
    size: number,
    sink: { write(chunk: Buffer): void | Promise<void>; reset(): void },
    onBytes?: (n: number) => void,
  ): Promise<void> {
    const host = apiHost(target.registry);
    let hash = createHash('sha256');
    let got = 0;
    let last: Transient | undefined;
    for (let attempt = 0; attempt <= this.retries; attempt++) {
      if (attempt > 0) await sleep(this.backoffMs * 2 ** (attempt - 1));
      const { res } = await this.request(target, 'GET', `blobs/${digest}`, got > 0 ? { range: `bytes=${got}-` } : {});
      const s = res.statusCode ?? 0;
      if (s === 404) {
        drain(res);
        throw new EifError('REGISTRY_BLOB_NOT_FOUND', `${host}/${target.repository} has no blob ${digest} (404)`);
      }
      if (s === 206 && got > 0 && new RegExp(`^bytes ${got}-`).test(String(res.headers['content-range'] ?? ''))) {
        /* resumed */
      } else if (s === 200) {
        if (got > 0) {
          hash = createHash('sha256');
          got = 0;
          sink.reset();
        }
      } else {
        throw new EifError('REGISTRY_PROTOCOL', `${host} answered ${await RegistryClient.describe(res)} for blob ${digest}`);
      }
      try {
        for await (const c of bodyChunks(res, this.timeoutMs, host)) {
          got += c.length;
          if (got > size) {
            res.destroy();
            throw new EifError('REGISTRY_DIGEST_MISMATCH', `blob ${digest} from ${host} is longer than the ${size} bytes its manifest declares; refused`);
          }
          hash.update(c);
          const wait = sink.write(c); // a promise: the sink's consumer (a decompressor) asks the download to wait
          if (wait) await wait;
          onBytes?.(c.length);
        }
        last = undefined;
        break;
      } catch (e) {
        if (!(e instanceof Transient)) throw e;
        last = e;
      }
    }
    if (last) throw new EifError(last.kind === 'timeout' ? 'REGISTRY_TIMEOUT' : 'REGISTRY_UNREACHABLE', `${last.message} (blob ${digest}; gave up after ${this.retries + 1} attempt(s))`);
    const actual = `sha256:${hash.digest('hex')}`;
    if (got !== size || actual !== digest) {
      throw new EifError('REGISTRY_DIGEST_MISMATCH', `blob from ${host}/${target.repository} does not match its digest: expected ${digest} (${size} bytes), got ${actual} (${got} bytes); refused`);
    }
  }

  /** Read the rest of an error response and describe it (for callers' messages). */
  static async describe(res: IncomingMessage): Promise<string> {
    return `${res.statusCode}${await registryWords(res)}`;
  }
}
