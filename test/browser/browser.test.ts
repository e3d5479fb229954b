/**
 * The browser build in a real browser (headless Chromium): the same WASM core, EIF build/describe and attestation
 * verification run in a web page and agree with Node. Skips with a message when Chromium is not installed
 * (`scripts/install-test-deps.sh` installs it; CI runs that first).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { build } from 'vite';
import { chromium } from 'playwright-core';
import { initCore } from '../../src/core/index.js';
import { buildEifBytes } from '../../src/eif/builder.js';
import { describeEifFileDetails } from '../../src/node/describe.js';
import { toHex } from '../../src/util/hex.js';
import { sha384 } from '../../src/core/index.js';
import { HAVE_SHARED, REPO_ROOT, sharedPath } from '../helpers/shared.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));
const suite = CHROMIUM ? describe : describe.skip;
const name = CHROMIUM ? 'eifkit in headless Chromium' : 'eifkit in headless Chromium (skipped: no Chromium; run scripts/install-test-deps.sh)';

suite(name, () => {
  let dir: string;
  let server: Server;
  let base: string;
  beforeAll(async () => {
    await initCore();
    dir = mkdtempSync(join(tmpdir(), 'eifkit-browser-'));
    await build({
      configFile: false,
      logLevel: 'silent',
      build: {
        outDir: dir,
        emptyOutDir: false,
        minify: false,
        target: 'es2022',
        lib: { entry: join(REPO_ROOT, 'src', 'browser.ts'), formats: ['es'], fileName: () => 'eifkit.js' },
      },
    });
    copyFileSync(join(REPO_ROOT, 'test', 'browser', 'page.html'), join(dir, 'index.html'));
    copyFileSync(join(REPO_ROOT, 'test-vectors', 'eif', 'three-ramdisks.eif'), join(dir, 'three-ramdisks.eif'));
    if (HAVE_SHARED) copyFileSync(sharedPath('attestation', 'real', 'anjuna-attestdoc_testdata_sample_prod_doc.cose'), join(dir, 'doc.cose'));
    const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript' };
    server = createServer((req, res) => {
      const p = join(dir, new URL(req.url!, 'http://x').pathname);
      if (!p.startsWith(dir) || !existsSync(p)) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': types[extname(p)] ?? 'application/octet-stream' }).end(readFileSync(p));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  }, 120_000);
  afterAll(() => {
    server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('builds, describes and verifies in the page exactly as Node does', async () => {
    const query = HAVE_SHARED ? '?doc=doc.cose&at=1616018515685' : '';
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    let r: any;
    try {
      const page = await browser.newPage();
      await page.goto(`${base}/index.html${query}`);
      await page.waitForFunction(() => document.getElementById('result')!.textContent !== 'running', undefined, { timeout: 60_000 });
      r = JSON.parse((await page.textContent('#result'))!);
    } finally {
      await browser.close();
    }
    expect(r.error).toBeUndefined();
    expect(r.sha384abc).toBe('cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7');
    expect(r.crcCheck).toBe(0xcbf43926);
    expect(r.describe).toEqual((await describeEifFileDetails(join(REPO_ROOT, 'test-vectors/eif/three-ramdisks.eif'))).describe);
    const kernel = Uint8Array.from({ length: 300000 }, (_, i) => (i * 7) & 255);
    const rd0 = Uint8Array.from({ length: 5000 }, (_, i) => (i * 13) & 255);
    const rd1 = Uint8Array.from({ length: 70000 }, (_, i) => (i * 31) & 255);
    const node = await buildEifBytes({ kernel, cmdline: 'console=ttyS0', ramdisks: [rd0, rd1], name: 'browser', buildTime: '2024-01-01T00:00:00+00:00' });
    expect(r.built).toEqual({ measurements: node.measurements, sha384: toHex(sha384(node.eif)) });
    if (HAVE_SHARED) {
      expect(r.attestationAtTimestamp).toBe(true);
      expect(r.attestationNow).toBe(false);
      expect(r.attestationTampered).toBe(false);
      expect(r.attestationBatch).toEqual(['ok', 'ATT_SIGNATURE_INVALID', 'ok', 'ok']);
    }
  }, 120_000);
});
