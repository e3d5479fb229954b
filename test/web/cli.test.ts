/**
 * `eif web` (src/cli/commands/web.ts, src/node/web-server.ts): prints its URL, serves the built page with the
 * documented CSP and nothing outside its folder, stops with exit 0 on Ctrl-C / SIGTERM; a port in use is
 * WEB_LISTEN (exit 1), a bad --port a usage error (exit 2), a missing page WEB_NOT_BUILT.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/shared.js';
import { eif } from '../helpers/eif.js';
import { WEB_CSP, startWebServer } from '../../src/node/web-server.js';

const BUILT = existsSync(join(REPO_ROOT, 'dist-web', 'index.html'));
const started: ChildProcess[] = [];
afterAll(() => {
  for (const c of started) if (c.exitCode === null) c.kill('SIGKILL');
});

/** Start `eif web …`; resolves with the child and the URL it printed. */
function serve(args: string[]): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'eif.js'), 'web', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  started.push(child);
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /^(http:\/\/\S+)\n/.exec(out);
      if (m) resolve({ child, url: m[1]!, stderr: () => err });
    });
    child.on('exit', (code) => reject(new Error(`eif web exited (${code}): ${err}`)));
  });
}

const exited = (c: ChildProcess): Promise<number | null> => new Promise((r) => (c.exitCode !== null ? r(c.exitCode) : c.on('exit', (code) => r(code))));

describe.skipIf(!BUILT)('eif web (needs dist-web/: npm run build:web)', () => {
  it('prints its URL, serves the page with the CSP, refuses paths outside, and stops on SIGINT with exit 0', async () => {
    const { child, url, stderr } = await serve(['--port', '0']);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    const page = await fetch(url);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toBe(WEB_CSP);
    expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await page.text();
    expect(html).toContain('data-testid="eif-input"');
    const script = /src="\.\/(assets\/[^"]+\.js)"/.exec(html)![1]!;
    const js = await fetch(url + script);
    expect(js.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(js.headers.get('content-security-policy')).toBe(WEB_CSP);
    for (const p of ['../package.json', '..%2Fpackage.json', '%2e%2e/package.json', 'nope.js']) expect((await fetch(url + p)).status, p).toBe(404);
    expect((await fetch(url, { method: 'POST' })).status).toBe(405);
    child.kill('SIGINT');
    expect(await exited(child)).toBe(0);
    expect(stderr()).not.toMatch(/error/i);
  });

  it('SIGTERM stops it with exit 0 too; --host is honoured', async () => {
    const { child, url } = await serve(['--port', '0', '--host', '127.0.0.1']);
    expect((await fetch(url)).status).toBe(200);
    child.kill('SIGTERM');
    expect(await exited(child)).toBe(0);
  });

  it('a port in use is WEB_LISTEN (exit 1, one line); a bad --port is a usage error (exit 2)', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const r = eif(['web', '--port', String(port)]);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^eif: error WEB_LISTEN: cannot listen on 127\.0\.0\.1:\d+: the port is in use\n$/);
      expect(r.stdout).toBe('');
    } finally {
      blocker.close();
    }
    for (const bad of ['70000', '-1', '1.5']) {
      const r = eif(['web', '--port', bad]);
      expect(r.status, bad).toBe(2);
      expect(r.stderr).toMatch(/^eif: error USAGE: --port must be an integer/);
    }
  });
});

describe('the web server', () => {
  it('refuses to start without a built page (WEB_NOT_BUILT)', async () => {
    const d = mkdtempSync(join(tmpdir(), 'eifkit-web-empty-'));
    try {
      await expect(startWebServer({ root: d, port: 0 })).rejects.toMatchObject({ code: 'WEB_NOT_BUILT' });
    } finally {
      rmSync(d, { recursive: true });
    }
  });
});
