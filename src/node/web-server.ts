/**
 * The static server of `eif web` (issue 13): serves the built page (dist-web/, written by `npm run build:web` and
 * shipped in the package) on a local address, with the Content-Security-Policy the page is built to meet
 * (docs/web.md). GET and HEAD of files under the folder only; nothing else is read, nothing is logged.
 */
import { createServer, type Server } from 'node:http';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EifError } from '../errors.js';

/**
 * The policy the page meets: its own scripts and WebAssembly ('wasm-unsafe-eval' lets WebAssembly.compile run;
 * no other eval), its own workers and styles, no connection anywhere, no frames, no forms.
 */
export const WEB_CSP =
  "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.txt': 'text/plain; charset=utf-8',
};

/** The built page's folder in this package (dist-web/ next to dist/). */
export function webRoot(): string {
  return join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist-web');
}

export interface WebServer {
  /** http://host:port/ */
  url: string;
  port: number;
  server: Server;
  close(): Promise<void>;
}

/** The file a request path names inside `root`, or undefined (outside, absent, not a file). */
function fileFor(root: string, urlPath: string): string | undefined {
  let p: string;
  try {
    p = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (p.includes('\0')) return undefined;
  if (p.endsWith('/')) p += 'index.html';
  const full = normalize(join(root, p));
  if (full !== root && !full.startsWith(root + sep)) return undefined;
  try {
    return statSync(full).isFile() ? full : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Serve `root` (default: the package's dist-web/) on host:port (port 0: any free one). Throws WEB_NOT_BUILT when
 * the folder has no index.html, WEB_LISTEN when the address cannot be used.
 *
 * @example
 * const s = await startWebServer({ host: '127.0.0.1', port: 0 });
 * console.log(s.url); // http://127.0.0.1:40123/
 * await s.close();
 */
export async function startWebServer(o: { root?: string; host?: string; port?: number } = {}): Promise<WebServer> {
  const root = normalize(o.root ?? webRoot());
  if (!existsSync(join(root, 'index.html'))) {
    throw new EifError('WEB_NOT_BUILT', `the page is not built (no ${join(root, 'index.html')}); from a clone, run: npm run build:web`);
  }
  const host = o.host ?? '127.0.0.1';
  const server = createServer((req, res) => {
    const headers: Record<string, string> = {
      'content-security-policy': WEB_CSP,
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-resource-policy': 'same-origin',
      'cache-control': 'no-cache',
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...headers, allow: 'GET, HEAD' }).end();
      return;
    }
    const file = fileFor(root, new URL(req.url ?? '/', 'http://x').pathname);
    if (!file) {
      res.writeHead(404, { ...headers, 'content-type': 'text/plain; charset=utf-8' }).end('not found\n');
      return;
    }
    let body: Buffer;
    try {
      body = readFileSync(file);
    } catch {
      res.writeHead(404, headers).end();
      return;
    }
    res.writeHead(200, { ...headers, 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': String(body.length) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      reject(new EifError('WEB_LISTEN', `cannot listen on ${host}:${o.port ?? 0}: ${e.code === 'EADDRINUSE' ? 'the port is in use' : e.code === 'EACCES' ? 'not permitted (ports below 1024 need privileges)' : e.code === 'EADDRNOTAVAIL' ? 'no such local address' : e.message}`)),
    );
    server.listen(o.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const shown = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shown}:${port}/`,
    port,
    server,
    close: () => new Promise<void>((r) => {
      server.closeAllConnections?.();
      server.close(() => r());
    }),
  };
}
