/**
 * The library side of issue 13: a small app imports `eifkit/browser` by package name (installed as a dependency:
 * node_modules/eifkit → this repository's package, its `exports` map and dist/), is bundled by vite as users do, and
 * runs in headless Chromium: it builds, measures and inspects an EIF given as a File and gets Node's results.
 */
import { afterAll, beforeAll, expect, it, describe } from 'vitest';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'vite';
import type { Browser } from 'playwright-core';
// @ts-expect-error plain JS shared with bench/web.mjs
import { CHROMIUM, launch } from '../../bench/web-harness.mjs';
import { startWebServer, type WebServer } from '../../src/node/web-server.js';
import { buildEifBytes } from '../../src/eif/builder.js';
import { sha384 } from '../../src/core/index.js';
import { toHex } from '../../src/util/hex.js';
import { REPO_ROOT } from '../helpers/shared.js';

const HAVE_DIST = existsSync(join(REPO_ROOT, 'dist', 'browser.js'));
const run = CHROMIUM && HAVE_DIST ? describe : describe.skip;

run(CHROMIUM ? 'a vite app using eifkit/browser, in headless Chromium' : 'a vite app using eifkit/browser (skipped: no Chromium)', () => {
  let dir: string;
  let server: WebServer;
  let browser: Browser;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'eifkit-consumer-'));
    const app = join(dir, 'app');
    mkdirSync(join(app, 'node_modules'), { recursive: true });
    cpSync(join(REPO_ROOT, 'test', 'web', 'consumer'), app, { recursive: true });
    symlinkSync(REPO_ROOT, join(app, 'node_modules', 'eifkit'));
    await build({ root: app, configFile: false, logLevel: 'silent', build: { outDir: join(dir, 'out'), target: 'es2022' } });
    server = await startWebServer({ root: join(dir, 'out'), port: 0 });
    browser = await launch();
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('builds, measures and inspects an EIF as Node does, under the page CSP', async () => {
    const page = await browser.newPage();
    const violations: string[] = [];
    page.on('console', (m) => /Content Security Policy|Refused/.test(m.text()) && violations.push(m.text()));
    await page.goto(server.url);
    await page.waitForFunction(() => document.getElementById('out')!.textContent !== 'running', undefined, { timeout: 60_000 });
    const r = JSON.parse((await page.textContent('#out'))!);
    expect(r.error).toBeUndefined();
    const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 131 + seed) & 255);
    const node = await buildEifBytes({ kernel: bytes(5000, 1), cmdline: 'console=ttyS0', ramdisks: [bytes(700, 2), bytes(3 << 20, 3)], buildTime: '2024-01-01T00:00:00+00:00' });
    expect(r.built).toEqual(node.measurements);
    expect(r.measured).toEqual(node.measurements);
    expect(r.crc).toBe(true);
    expect(r.sha).toBe(toHex(sha384(node.eif)));
    expect(r.attestation[0]).toMatch(/^ATT_/);
    expect(violations).toEqual([]);
  });
});
