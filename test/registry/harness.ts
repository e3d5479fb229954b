/**
 * Real registries for the registry tests (issue 12): Debian's `docker-registry` (CNCF distribution) on 127.0.0.1 free
 * ports with temp storage — open, htpasswd Basic, or behind a token service this file runs (ES256 JWTs with an x5c
 * chain from a throwaway openssl certificate) — plus a counting proxy and a small fake registry for misbehaviour
 * (corrupt blobs, hangs, 429, redirects). Images are pushed with skopeo from OCI layouts written here (busybox-static
 * in one layer). Every process is stopped by its pid in `stopAll()`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, createPrivateKey, randomBytes, sign } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const procs: ChildProcess[] = [];
const servers: http.Server[] = [];
const dirs: string[] = [];

export function tmp(prefix = 'eifkit-reg-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** Why the real-registry tests cannot run here, or undefined. */
export function missingTools(): string | undefined {
  for (const t of ['docker-registry', 'skopeo', 'openssl']) {
    if (spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0) return `${t} not installed (scripts/install-test-deps.sh)`;
  }
  if (!bcrypt('x')) return 'no bcrypt (htpasswd from apache2-utils, or python3 crypt)';
  return undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

/** A bcrypt hash for htpasswd: `htpasswd -nbB`, else python3's crypt. */
export function bcrypt(password: string): string | undefined {
  const h = spawnSync('htpasswd', ['-nbB', '-C', '4', 'u', password], { encoding: 'utf8' });
  if (h.status === 0) return h.stdout.trim().split(':')[1];
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-W', 'ignore', '-c', 'import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)))', password], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.startsWith('$2')) return r.stdout.trim();
  }
  return undefined;
}

export interface Registry {
  host: string;
  url: string;
  pid: number;
  log(): string;
}

async function waitHttp(url: string, ms: number, child?: ChildProcess, logFile?: string): Promise<void> {
  const end = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get(url, (res) => {
        res.resume();
        resolve(true);
      });
      req.on('error', () => resolve(false));
      req.setTimeout(1000, () => req.destroy());
    });
    if (ok) return;
    if (child && child.exitCode !== null) throw new Error(`registry exited: ${logFile ? readFileSync(logFile, 'utf8').slice(-2000) : ''}`);
    if (Date.now() > end) throw new Error(`${url} did not answer in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export type RegistryAuth = { kind: 'none' } | { kind: 'htpasswd'; user: string; password: string } | { kind: 'token'; realm: string; certPem: string };

/** Start `docker-registry serve` on a free port with temp storage. */
export async function startRegistry(auth: RegistryAuth = { kind: 'none' }): Promise<Registry> {
  const dir = tmp('eifkit-registry-');
  const port = await freePort();
  let authYaml = '';
  if (auth.kind === 'htpasswd') {
    writeFileSync(join(dir, 'htpasswd'), `${auth.user}:${bcrypt(auth.password)}\n`);
    authYaml = `auth:\n  htpasswd:\n    realm: test-realm\n    path: ${join(dir, 'htpasswd')}\n`;
  } else if (auth.kind === 'token') {
    writeFileSync(join(dir, 'root.pem'), auth.certPem);
    authYaml = `auth:\n  token:\n    realm: ${auth.realm}\n    service: test-registry\n    issuer: eifkit-test-issuer\n    rootcertbundle: ${join(dir, 'root.pem')}\n`;
  }
  writeFileSync(
    join(dir, 'config.yml'),
    `version: 0.1\nlog:\n  level: info\n  formatter: text\n  accesslog:\n    disabled: false\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  redirect:\n    disable: true\nhttp:\n  addr: 127.0.0.1:${port}\n  secret: ${randomBytes(8).toString('hex')}\n${authYaml}`,
  );
  const logFile = join(dir, 'registry.log');
  const { openSync } = await import('node:fs');
  const fd = openSync(logFile, 'a');
  const child = spawn('docker-registry', ['serve', join(dir, 'config.yml')], { stdio: ['ignore', fd, fd] });
  procs.push(child);
  await waitHttp(`http://127.0.0.1:${port}/v2/`, 15_000, child, logFile);
  return { host: `127.0.0.1:${port}`, url: `http://127.0.0.1:${port}`, pid: child.pid!, log: () => readFileSync(logFile, 'utf8') };
}

/** A throwaway self-signed P-256 certificate and key (openssl). */
export function throwawayCert(): { certPem: string; keyPem: string; certDer: Buffer } {
  const d = tmp('eifkit-cert-');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(d, 'k.pem'), '-out', join(d, 'c.pem'), '-days', '2', '-subj', '/CN=eifkit-test-token-issuer'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
  const certPem = readFileSync(join(d, 'c.pem'), 'utf8');
  const b64 = certPem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  return { certPem, keyPem: readFileSync(join(d, 'k.pem'), 'utf8'), certDer: Buffer.from(b64, 'base64') };
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export interface TokenService {
  realm: string;
  requests: { authorization?: string; query: string; method: string; body: string }[];
}

/**
 * A token endpoint (the flow of Docker Hub, GHCR, ECR): Basic `user:password`, or a refresh token (`POST` form with
 * grant_type=refresh_token), grants pull+push on the requested repository; anonymous gets no access (the registry
 * then answers 401). Tokens are ES256 JWTs whose x5c is the throwaway certificate.
 */
export async function startTokenService(cert: { keyPem: string; certDer: Buffer }, users: Record<string, string>, refreshTokens: string[] = []): Promise<TokenService> {
  const key = createPrivateKey(cert.keyPem);
  const svc: TokenService = { realm: '', requests: [] };
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const u = new URL(req.url!, 'http://x');
      svc.requests.push({ authorization: req.headers.authorization, query: u.search, method: req.method!, body });
      const params = req.method === 'POST' ? new URLSearchParams(body) : u.searchParams;
      let ok = false;
      const a = req.headers.authorization;
      if (a?.startsWith('Basic ')) {
        const [user, ...pw] = Buffer.from(a.slice(6), 'base64').toString().split(':');
        if (users[user!] === undefined || users[user!] !== pw.join(':')) {
          res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
          return;
        }
        ok = true;
      } else if (req.method === 'POST' && params.get('grant_type') === 'refresh_token') {
        if (!refreshTokens.includes(params.get('refresh_token') ?? '')) {
          res.writeHead(401).end('{"details":"bad refresh token"}');
          return;
        }
        ok = true;
      }
      const scope = params.get('scope') ?? '';
      const m = /^repository:([^:]+):(.+)$/.exec(scope);
      const access = ok && m ? [{ type: 'repository', name: m[1], actions: ['pull', 'push'] }] : [];
      const now = Math.floor(Date.now() / 1000);
      const header = { typ: 'JWT', alg: 'ES256', x5c: [cert.certDer.toString('base64')] };
      const claims = { iss: 'eifkit-test-issuer', sub: ok ? 'someone' : '', aud: params.get('service'), exp: now + 300, nbf: now - 10, iat: now, jti: randomBytes(8).toString('hex'), access };
      const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
      const sig = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
      const token = `${input}.${b64url(sig)}`;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ token, access_token: token, expires_in: 300 }));
    });
  });
  servers.push(server);
  const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as net.AddressInfo).port)));
  svc.realm = `http://127.0.0.1:${port}/token`;
  return svc;
}

/** A proxy in front of a registry that records every request (method and path) it forwards. */
export async function countingProxy(target: string): Promise<{ host: string; requests: string[] }> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const up = http.request(`http://${target}${req.url}`, { method: req.method, headers: { ...req.headers, host: target } }, (r) => {
      const headers = { ...r.headers };
      // the registry names its own host in Location / WWW-Authenticate: keep the client coming back through us
      res.writeHead(r.statusCode!, headers);
      r.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  servers.push(server);
  const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as net.AddressInfo).port)));
  return { host: `127.0.0.1:${port}`, requests };
}

export type FakeHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** A bare HTTP server for misbehaving-registry tests. */
export async function fakeServer(handler: FakeHandler, hostName = '127.0.0.1', listenOn = '127.0.0.1'): Promise<{ host: string; port: number; server: http.Server }> {
  const server = http.createServer(handler);
  servers.push(server);
  const port = await new Promise<number>((r) => server.listen(0, listenOn, () => r((server.address() as net.AddressInfo).port)));
  return { host: `${hostName}:${port}`, port, server };
}

// ---- images ---------------------------------------------------------------------------------------------------

/** A ustar archive of regular files and directories (enough for test layers). */
export function tarOf(entries: { name: string; data?: Uint8Array; mode?: number; dir?: boolean }[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const h = Buffer.alloc(512);
    h.write(e.name, 0, 100, 'utf8');
    h.write(`${(e.mode ?? (e.dir ? 0o755 : 0o644)).toString(8).padStart(7, '0')}\0`, 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    const size = e.dir ? 0 : (e.data?.length ?? 0);
    h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
    h.write(`${(1_700_000_000).toString(8).padStart(11, '0')}\0`, 136);
    h.write('        ', 148);
    h.write(e.dir ? '5' : '0', 156);
    h.write('ustar\0', 257);
    h.write('00', 263);
    let sum = 0;
    for (const b of h) sum += b;
    h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    parts.push(h);
    if (!e.dir && e.data) {
      parts.push(Buffer.from(e.data));
      if (e.data.length % 512) parts.push(Buffer.alloc(512 - (e.data.length % 512)));
    }
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

const sha = (b: Uint8Array) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export interface BuiltImage {
  /** The OCI layout folder. */
  dir: string;
  /** ref.name → manifest (or index) digest. */
  refs: Record<string, string>;
  /** Per arch: manifest digest, config digest, layer digests. */
  arch: Record<string, { manifest: string; config: string; layers: string[] }>;
}

/**
 * An OCI layout with, per architecture, an image of two gzip (or uncompressed) layers (busybox-static and an app layer saying its
 * arch), tagged `<arch>`, plus an index of both tagged `multi`.
 */
export function buildLayout(archs: ('amd64' | 'arm64')[] = ['amd64', 'arm64'], extraBytes = 0, compress = true): BuiltImage {
  const dir = tmp('eifkit-layout-');
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (b: Uint8Array) => {
    const d = sha(b);
    writeFileSync(join(dir, 'blobs', 'sha256', d.slice(7)), b);
    return d;
  };
  const busybox = existsSync('/bin/busybox') ? readFileSync('/bin/busybox') : Buffer.from('not busybox');
  // a nonce per layout: skopeo's blob-info cache (/var/lib/containers/cache, kept across runs) would otherwise swap in
  // another compression of a layer it has seen before, and the pushed manifest would not be this one
  const nonce = { name: 'bin/.nonce', data: randomBytes(16) };
  const base = tarOf([{ name: 'bin/', dir: true }, { name: 'bin/busybox', data: busybox, mode: 0o755 }, nonce]);
  const refs: Record<string, string> = {};
  const arch: BuiltImage['arch'] = {};
  const top: object[] = [];
  const children: object[] = [];
  for (const a of archs) {
    const extra = extraBytes > 0 ? [{ name: 'app/big.bin', data: randomBytes(extraBytes) }] : [];
    const app = tarOf([{ name: 'app/', dir: true }, { name: 'app/arch', data: Buffer.from(`${a}\n`) }, { name: 'app/.nonce', data: randomBytes(16) }, ...extra]);
    const layers = [base, app];
    const gz = layers.map((l) => (compress ? gzipSync(l, { level: 1 }) : l));
    const config = Buffer.from(
      JSON.stringify({
        architecture: a,
        os: 'linux',
        config: { Cmd: ['/bin/busybox', 'cat', '/app/arch'], Env: ['PATH=/bin'] },
        rootfs: { type: 'layers', diff_ids: layers.map(sha) },
        history: [{ created_by: 'test' }, { created_by: 'test' }],
      }),
    );
    const cfgD = put(config);
    const layerDs = gz.map(put);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: cfgD, size: config.length },
        layers: gz.map((g, i) => ({ mediaType: `application/vnd.oci.image.layer.v1.tar${compress ? '+gzip' : ''}`, digest: layerDs[i], size: g.length })),
      }),
    );
    const mD = put(manifest);
    arch[a] = { manifest: mD, config: cfgD, layers: layerDs };
    refs[a] = mD;
    const desc = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: mD, size: manifest.length, platform: { architecture: a, os: 'linux', ...(a === 'arm64' ? { variant: 'v8' } : {}) } };
    children.push(desc);
    top.push({ ...desc, annotations: { 'org.opencontainers.image.ref.name': a } });
  }
  const index = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: children }));
  const iD = put(index);
  refs.multi = iD;
  top.push({ mediaType: 'application/vnd.oci.image.index.v1+json', digest: iD, size: index.length, annotations: { 'org.opencontainers.image.ref.name': 'multi' } });
  writeFileSync(join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: top }));
  return { dir, refs, arch };
}

/** `skopeo copy` (plain HTTP / no TLS checks to the test registries). Returns stderr on failure. */
export async function skopeo(args: string[]): Promise<void> {
  const child = spawn('skopeo', ['--insecure-policy', 'copy', '--quiet', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  procs.push(child);
  let err = '';
  child.stderr!.on('data', (c) => (err += c));
  const code = await new Promise<number | null>((r) => child.on('close', r));
  if (code !== 0) throw new Error(`skopeo ${args.join(' ')}: ${err}`);
}

/** The digest skopeo pushed for a tag (what the registry serves), via a plain GET of the manifest. */
export function sha256Of(b: Uint8Array): string {
  return sha(b);
}

/** Stop everything this file started (by pid / server handle) and remove temp folders. */
export async function stopAll(): Promise<void> {
  for (const p of procs) {
    if (p.exitCode === null && p.signalCode === null && p.pid) {
      try {
        process.kill(p.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
    }
  }
  await Promise.all(procs.map((p) => (p.exitCode === null && p.signalCode === null ? new Promise((r) => p.once('close', r)) : undefined)));
  for (const s of servers) {
    s.closeAllConnections?.();
    s.close();
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}
