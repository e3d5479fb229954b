/**
 * The web page (issue 13) in headless Chromium, driven by playwright-core through its stable hooks: EIF PCRs and
 * describe fields equal the CLI's (shared vectors and our own, signed and unsigned), every genuine attestation
 * document is AUTHENTIC at its own time with its fields, every hostile one is NOT AUTHENTIC with its code, the
 * expected values round-trip through the URL fragment, and no request leaves the page after load. Screenshots go
 * to $EIFKIT_SCREENSHOTS (default: <tmp>/eifkit-web-screenshots). A large EIF with memory readings of the page and
 * its workers: 1 GiB by default (EIFKIT_WEB_BIG_MIB=128 lowers it), built in the background while the other tests
 * run (startBigBuild). Skips without Chromium.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { build } from 'vite';
import { chromium, type Browser, type Page } from 'playwright-core';
// @ts-expect-error plain JS shared with bench/web.mjs
import { CHROMIUM, choose, heapSampler, launch, openPage } from '../../bench/web-harness.mjs';
// @ts-expect-error plain JS shared with bench/image.mjs
import { makeBenchImage } from '../../bench/image-gen.mjs';
import { startWebServer, WEB_CSP, type WebServer } from '../../src/node/web-server.js';
import { buildEifBytes } from '../../src/eif/builder.js';
import { createPemSigner } from '../../src/signing/signer.js';
import { HAVE_SHARED, REPO_ROOT, sharedPath } from '../helpers/shared.js';
import { eif } from '../helpers/eif.js';
import { HAVE_OPENSSL, makeEcKey } from '../signing/keys.js';
import { REASON_CODES } from '../attestation/helpers/reason-codes.js';

const suite = CHROMIUM ? describe : describe.skip;
const title = CHROMIUM ? 'the web page in headless Chromium' : 'the web page in headless Chromium (skipped: no Chromium; run scripts/install-test-deps.sh)';
const SHOTS = process.env.EIFKIT_SCREENSHOTS ?? join(tmpdir(), 'eifkit-web-screenshots');
const BIG_MIB = Number(process.env.EIFKIT_WEB_BIG_MIB ?? 1024);
/** Files in the generated gzip image (two layers of random, incompressible data). */
const IMAGE_MIB = Number(process.env.EIFKIT_WEB_IMAGE_MIB ?? 256);

/**
 * Start building the large EIF in the background (the CLI, as a child process): it runs while the other tests
 * drive the page, and the large-EIF test awaits it. The ramdisk is a sparse file of zeros (ftruncate): the EIF's
 * size and every byte hashed are those of random data, without generating or writing them; the README before it
 * keeps the ramdisk from being all zeros.
 */
function startBigBuild(dir: string): { done: Promise<{ status: number | null; stdout: string; stderr: string }>; child: ChildProcess } {
  const rd = join(dir, 'big.img');
  const fd = openSync(rd, 'w');
  ftruncateSync(fd, BIG_MIB * 2 ** 20);
  closeSync(fd);
  const image = join(dir, 'big.eif');
  const args = ['build', '--kernel', join(REPO_ROOT, 'package.json'), '--cmdline', 'x', '--ramdisk', join(REPO_ROOT, 'README.md'), '--ramdisk', rd, '--output', image];
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'eif.js'), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (status) => {
      rmSync(rd, { force: true });
      resolve({ status, stdout, stderr });
    });
    child.on('error', (e) => resolve({ status: null, stdout, stderr: `${stderr}${e.message}` }));
  });
  return { done, child };
}

interface Opened {
  page: Page;
  requests: string[];
  cspViolations: string[];
}

suite(title, () => {
  let dir: string;
  let server: WebServer;
  let browser: Browser;
  let big: ReturnType<typeof startBigBuild> | undefined;
  const eifs: { name: string; path: string }[] = [];
  const opened: Opened[] = [];

  const open = async (suffix = ''): Promise<Opened> => {
    const o = (await openPage(browser, server.url + suffix)) as Opened;
    o.cspViolations = [];
    o.page.on('console', (m) => /Content Security Policy|Refused to/i.test(m.text()) && o.cspViolations.push(m.text()));
    o.page.on('pageerror', (e) => o.cspViolations.push(`page error: ${e.message}`));
    opened.push(o);
    return o;
  };
  const text = async (p: Page, id: string): Promise<string> => ((await p.getByTestId(id).first().textContent()) ?? '').trim();
  const codes = (p: Page): Promise<string[]> => p.getByTestId('error').evaluateAll((els) => els.map((e) => e.getAttribute('data-code') ?? ''));
  const shot = async (p: Page, name: string): Promise<void> => {
    mkdirSync(SHOTS, { recursive: true });
    const file = join(SHOTS, `${name}.png`);
    await p.screenshot({ path: file, fullPage: true });
    expect(readFileSync(file).subarray(1, 4).toString()).toBe('PNG');
  };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'eifkit-web-'));
    big = startBigBuild(dir);
    const site = join(dir, 'site');
    await build({ configFile: join(REPO_ROOT, 'web', 'vite.config.ts'), logLevel: 'silent', build: { outDir: site, emptyOutDir: true } });
    server = await startWebServer({ root: site, port: 0 });
    browser = await launch();

    // our own images: unsigned with a ramdisk of several pieces (9 MiB), and the same signed with a P-384 key
    const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7 + (i >> 11)) & 255);
    const pins = { buildTime: '2024-01-01T00:00:00+00:00', name: 'web-test', version: '1.2.3', imgOs: 'Linux', imgKernel: '6.1' };
    const input = { ...pins, kernel: bytes(300_000, 1), cmdline: 'console=ttyS0 reboot=k', ramdisks: [bytes(70_000, 2), bytes(9 << 20, 3), bytes(5000, 4)] };
    const unsigned = await buildEifBytes(input);
    writeFileSync(join(dir, 'own-unsigned.eif'), unsigned.eif);
    eifs.push({ name: 'own-unsigned', path: join(dir, 'own-unsigned.eif') });
    if (HAVE_OPENSSL) {
      const key = makeEcKey(dir, 'signer', 'P-384');
      const signed = await buildEifBytes({ ...input, signer: await createPemSigner({ certificatePem: key.certPem, privateKeyPem: key.keyPem }) });
      writeFileSync(join(dir, 'own-signed.eif'), signed.eif);
      eifs.push({ name: 'own-signed', path: join(dir, 'own-signed.eif') });
    }
    for (const v of ['three-ramdisks', 'empty-cmdline', 'one-ramdisk-aarch64']) eifs.push({ name: v, path: join(REPO_ROOT, 'test-vectors', 'eif', `${v}.eif`) });
    if (HAVE_SHARED) {
      for (const v of ['min-signed', 'min-unsigned', 'one-ramdisk-arm64flag']) eifs.push({ name: `shared-${v}`, path: sharedPath('eif', 'synthetic', `${v}.eif`) });
    }
  }, 180_000);

  afterAll(async () => {
    if (big && big.child.exitCode === null && big.child.signalCode === null) {
      big.child.kill();
      await big.done;
    }
    await browser?.close();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // Every page opened by a test: nothing requested after load, no CSP violation, no uncaught error; then closed
  // (its workers end with it).
  afterEach(async () => {
    for (const o of opened.splice(0)) {
      expect(o.requests).toEqual([]);
      expect(o.cspViolations).toEqual([]);
      await o.page.close();
    }
  });

  it('is served with the documented Content-Security-Policy, and meets it', async () => {
    const r = await fetch(server.url);
    expect(r.headers.get('content-security-policy')).toBe(WEB_CSP);
    expect(WEB_CSP).toContain("'wasm-unsafe-eval'");
    expect(WEB_CSP).toContain("connect-src 'none'");
    expect((await fetch(server.url + '../package.json')).status).toBe(404);
    const { page } = await open();
    expect(await page.evaluate(() => document.body.dataset.state)).toBe('done');
    // labels for every control, and the file inputs reachable from the keyboard
    const unlabeled = await page.evaluate(() =>
      [...document.querySelectorAll('input, textarea')].filter((e) => (e as HTMLInputElement).labels?.length === 0).map((e) => e.id),
    );
    expect(unlabeled).toEqual([]);
    await page.keyboard.press('Tab'); // skip link
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('data-testid'))).toBe('eif-input');
    await shot(page, 'empty');
  });

  it('shows the PCRs and describe fields the CLI gives, for signed and unsigned images', async () => {
    const { page } = await open();
    for (const e of eifs) {
      await choose(page, 'eif-input', e.path);
      const cli = eif(['describe', e.path]);
      expect(cli.status, cli.stderr).toBe(0);
      const want = JSON.parse(cli.stdout);
      expect(await codes(page)).toEqual([]);
      expect(await text(page, 'pcr0')).toBe(want.Measurements.PCR0);
      expect(await text(page, 'pcr1')).toBe(want.Measurements.PCR1);
      expect(await text(page, 'pcr2')).toBe(want.Measurements.PCR2);
      if (want.IsSigned) expect(await text(page, 'pcr8')).toBe(want.Measurements.PCR8);
      else expect(await page.getByTestId('pcr8').count()).toBe(0);
      expect(JSON.parse(await text(page, 'describe-json')), e.name).toEqual(want);
      if (e.name === 'own-signed' || e.name === 'own-unsigned') await shot(page, `eif-${e.name}`);
    }
    expect(eifs.some((e) => e.name.endsWith('signed') && !e.name.endsWith('unsigned'))).toBe(HAVE_OPENSSL || HAVE_SHARED);
  });

  it('shows the code of every EIF failure the CLI reports, and keeps working after it', async () => {
    const good = readFileSync(join(REPO_ROOT, 'test-vectors', 'eif', 'three-ramdisks.eif'));
    const crcBad = Uint8Array.from(good);
    crcBad[crcBad.length - 10] ^= 1; // in the last ramdisk: the CRC no longer matches (describe: CheckCRC false)
    const cases: [string, Uint8Array][] = [
      ['not-an-eif.eif', new TextEncoder().encode('{"this": "is JSON, not an EIF"}\n'.repeat(40))],
      ['truncated.eif', good.subarray(0, 700)],
      ['cut-short.eif', good.subarray(0, good.length - 100)],
      ['empty.eif', new Uint8Array(0)],
    ];
    const { page } = await open();
    for (const [name, bytes] of cases) {
      const path = join(dir, name);
      writeFileSync(path, bytes);
      await choose(page, 'eif-input', path);
      const cli = eif(['describe', path]);
      expect(cli.status).toBe(1);
      const code = /^eif: error ([A-Z0-9_]+):/.exec(cli.stderr)![1];
      expect(await codes(page), name).toEqual([code]);
      expect(await text(page, 'error')).toContain(name);
    }
    await shot(page, 'eif-error');
    writeFileSync(join(dir, 'crc.eif'), crcBad);
    await choose(page, 'eif-input', join(dir, 'crc.eif'));
    expect(await codes(page)).toEqual([]);
    const d = JSON.parse(await text(page, 'describe-json'));
    expect(d.CheckCRC).toBe(false);
    expect(d).toEqual(JSON.parse(eif(['describe', join(dir, 'crc.eif')]).stdout));
  });

  describe.skipIf(!HAVE_SHARED)('attestation documents of ../shared/test-vectors', () => {
    interface IndexEntry { file: string; timestamp_ms?: number | null; expect: 'accept' | 'reject'; pcr0?: string; module_id?: string; debug_mode?: boolean; pcr_count?: number }
    const index = (): IndexEntry[] => JSON.parse(readFileSync(sharedPath('attestation', 'INDEX.json'), 'utf8'));

    it('every genuine document is AUTHENTIC at its own time, with its fields; the invalid ones are not', async () => {
      const { page } = await open();
      for (const e of index()) {
        await choose(page, 'attestation-input', sharedPath('attestation', e.file));
        const verdict = await text(page, 'attestation-verdict');
        if (e.expect === 'reject') {
          expect(verdict, e.file).toMatch(/^NOT AUTHENTIC/);
          expect((await codes(page))[0], e.file).toMatch(/^ATT_/);
          continue;
        }
        expect(verdict, e.file).toMatch(/^AUTHENTIC/);
        expect(verdict).toContain(new Date(e.timestamp_ms!).toISOString());
        expect(await codes(page)).toEqual([]);
        expect(await page.locator('[data-field=module_id]').textContent()).toBe(e.module_id);
        expect(await text(page, 'attested-pcr0')).toBe(e.pcr0);
        expect(await page.locator('[data-testid^=attested-pcr]').count()).toBe(e.pcr_count);
        expect(await text(page, 'attestation-age')).toMatch(/^Issued .* ago/);
        expect(await text(page, 'attestation-chain-now')).toMatch(/has expired since/);
        expect(await page.getByTestId('debug-flag').count(), e.file).toBe(e.debug_mode ? 1 : 0);
        if (e.file.endsWith('evervault-beta-debug.cose')) await shot(page, 'attestation-debug');
        if (e.file.endsWith('anjuna-attestdoc_testdata_sample_prod_doc.cose')) await shot(page, 'attestation-authentic');
      }
    });

    it('every synthetic case (its own root as the anchor) is judged as the library judges it, with the same code', async () => {
      const cases = JSON.parse(readFileSync(sharedPath('attestation', 'synthetic', 'cases.json'), 'utf8')) as { cases: { id: string; file: string; expect: string; reason: string }[] };
      const { page } = await open();
      await choose(page, 'root-input', sharedPath('attestation', 'synthetic', 'root.der'));
      expect(await page.locator('#root-status').textContent()).toMatch(/Custom trust anchor in use/);
      for (const c of cases.cases) {
        await choose(page, 'attestation-input', sharedPath('attestation', 'synthetic', c.file));
        const verdict = await text(page, 'attestation-verdict');
        if (c.expect === 'accept') {
          expect(verdict, c.id).toMatch(/^AUTHENTIC \(custom trust anchor\)/);
        } else {
          expect(verdict, c.id).toMatch(/^NOT AUTHENTIC/);
          expect((await codes(page))[0], c.id).toBe(REASON_CODES[c.reason]);
        }
        if (c.id === 'chain-other-root') await shot(page, 'attestation-rejected');
      }
    });

    it('a wrong root, pasted text and garbage are reported with their codes', async () => {
      const { page } = await open();
      const doc = readFileSync(sharedPath('attestation', 'real', 'anjuna-attestdoc_testdata_sample_prod_doc.cose'));
      await page.getByTestId('attestation-text').fill(doc.toString('base64'));
      await page.evaluate(() => (document.body.dataset.state = 'waiting'));
      await page.getByRole('button', { name: 'Check pasted document' }).click();
      await page.waitForSelector('body[data-state=done]');
      expect(await text(page, 'attestation-verdict')).toMatch(/^AUTHENTIC/);
      await page.getByTestId('attestation-text').fill(doc.toString('hex'));
      await page.evaluate(() => (document.body.dataset.state = 'waiting'));
      await page.getByTestId('attestation-text').press('Control+Enter');
      await page.waitForSelector('body[data-state=done]');
      expect(await text(page, 'attestation-verdict')).toMatch(/^AUTHENTIC/);
      await page.getByTestId('attestation-text').fill('this is not a document');
      await page.evaluate(() => (document.body.dataset.state = 'waiting'));
      await page.getByRole('button', { name: 'Check pasted document' }).click();
      await page.waitForSelector('body[data-state=done]');
      expect(await text(page, 'attestation-verdict')).toMatch(/^NOT AUTHENTIC/);
      expect(await codes(page)).toEqual(['ATT_INPUT_NOT_DOCUMENT']);
      await choose(page, 'attestation-input', join(REPO_ROOT, 'package.json'));
      expect(await codes(page)).toEqual(['ATT_INPUT_NOT_DOCUMENT']);
      writeFileSync(join(dir, 'truncated.cose'), doc.subarray(0, 1000));
      await choose(page, 'attestation-input', join(dir, 'truncated.cose'));
      expect((await codes(page))[0]).toBe('ATT_CBOR_TRUNCATED');
      await choose(page, 'root-input', sharedPath('attestation', 'synthetic', 'root.der'));
      await choose(page, 'attestation-input', sharedPath('attestation', 'real', 'anjuna-attestdoc_testdata_sample_prod_doc.cose'));
      expect(await text(page, 'attestation-verdict')).toMatch(/^NOT AUTHENTIC/);
      expect(await codes(page)).toContain('ATT_ROOT_UNTRUSTED');
      writeFileSync(join(dir, 'not-a-root.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
      await choose(page, 'root-input', join(dir, 'not-a-root.pem'));
      expect(await page.locator('#att-error').getByTestId('error').getAttribute('data-code')).toBe('ATT_ROOTS_INVALID');
      expect(await page.locator('#root-status').textContent()).toMatch(/Custom trust anchor in use/); // the previous one stays
    });

    it('expected values round-trip through the URL fragment and fill the PCR table', async () => {
      const e = index().find((x) => x.file.endsWith('anjuna-attestdoc_testdata_sample_prod_doc.cose'))! as IndexEntry & { pcr1: string; pcr2: string };
      const pub = JSON.parse(readFileSync(sharedPath('eif', 'published-vectors.json'), 'utf8')).pcr3_pcr4_aws_user_guide;
      const frag = `#PCR0=${e.pcr0}&PCR1=${e.pcr1}&role=${encodeURIComponent(pub.PCR3.input)}&instance=${pub.PCR4.input}`;
      const { page } = await open(frag);
      expect(await page.getByTestId('expected-input').inputValue()).toBe(`PCR0=${e.pcr0}\nPCR1=${e.pcr1}`);
      expect(await page.getByTestId('role-arn').inputValue()).toBe(pub.PCR3.input);
      expect(await page.locator('#pcr3-out').textContent()).toBe(pub.PCR3.value);
      expect(await page.locator('#pcr4-out').textContent()).toBe(pub.PCR4.value);
      await choose(page, 'attestation-input', sharedPath('attestation', e.file));
      const match = (i: number) => page.getByTestId(`pcr-row-${i}`).getAttribute('data-match');
      expect([await match(0), await match(1), await match(3), await match(4)]).toEqual(['true', 'true', 'false', 'false']);
      await shot(page, 'attestation-table');

      // nitro-cli JSON typed in: the fragment follows (PCR8 pinned to zeros for an unsigned image), and a new page
      // opened with that link shows the same values
      const nitro = { Measurements: { HashAlgorithm: 'Sha384 { ... }', PCR0: e.pcr0, PCR1: e.pcr1, PCR2: e.pcr2 } };
      await page.evaluate(() => (document.body.dataset.state = 'waiting'));
      await page.getByTestId('expected-input').fill(JSON.stringify(nitro, null, 2));
      await page.waitForSelector('body[data-state=done]');
      const link = page.url();
      expect(new URL(link).hash).toBe(`#PCR0=${e.pcr0}&PCR1=${e.pcr1}&PCR2=${e.pcr2}&PCR8=${'0'.repeat(96)}&role=${encodeURIComponent(pub.PCR3.input).replace(/%20/g, '+')}&instance=${pub.PCR4.input}`);
      expect([await match(0), await match(1), await match(2), await match(8)]).toEqual(['true', 'true', 'true', 'true']);
      const again = await open(new URL(link).search + new URL(link).hash);
      expect(await again.page.getByTestId('expected-input').inputValue()).toBe(`PCR0=${e.pcr0}\nPCR1=${e.pcr1}\nPCR2=${e.pcr2}\nPCR8=${'0'.repeat(96)}`);
      expect(await again.page.getByTestId('instance-id').inputValue()).toBe(pub.PCR4.input);

      // a signing certificate gives PCR8, as `eif pcr --signing-certificate` does
      const cert = sharedPath('eif', 'synthetic', 'test-signing-cert.pem');
      await choose(again.page, 'cert-input', cert);
      const pcr8 = JSON.parse(eif(['pcr', '--signing-certificate', cert]).stdout).PCR8;
      expect(await again.page.locator('#pcr8-out').textContent()).toContain(pcr8);
      expect(new URL(again.page.url()).hash).toContain(`PCR8=${pcr8}`);

      // bad input: its code, and the link keeps the last good values
      const before = again.page.url();
      await again.page.evaluate(() => (document.body.dataset.state = 'waiting'));
      await again.page.getByTestId('expected-input').fill('PCR0=abc');
      await again.page.waitForSelector('body[data-state=done]');
      expect(await codes(again.page)).toEqual(['WEB_EXPECTED_INVALID']);
      expect(again.page.url()).toBe(before);
    });
  });

  describe.skipIf(!HAVE_SHARED)('container images of ../shared/test-vectors/oci', () => {
    it('gives the PCR2 nitro-cli gives a docker save archive, and PCR0/PCR1 with the blobs', async () => {
      const expected = JSON.parse(readFileSync(sharedPath('oci', 'expected.json'), 'utf8'));
      const blobs = ['bzImage', 'cmdline', 'init', 'nsm.ko'].map((f) => sharedPath('oci', 'blobs', f));
      const { page } = await open();
      for (const name of ['sample-app', 'sample-entrypoint']) {
        // clearing the blobs re-checks the previous archive: let that end before the next choice (its end would
        // otherwise mark the page done before the new archive's work began)
        await page.getByTestId('blobs-input').setInputFiles([]);
        await page.waitForSelector('body:not([data-state=busy])');
        await choose(page, 'image-input', sharedPath('oci', expected[name].archive));
        expect(await codes(page)).toEqual([]);
        expect(await text(page, 'image-pcr2')).toBe(expected[name].PCR2);
        expect(await page.getByTestId('image-pcr0').count()).toBe(0);
        await choose(page, 'blobs-input', blobs);
        expect([await text(page, 'image-pcr0'), await text(page, 'image-pcr1'), await text(page, 'image-pcr2')]).toEqual([expected[name].PCR0, expected[name].PCR1, expected[name].PCR2]);
      }
      await page.locator('#image').screenshot({ path: join(SHOTS, 'image.png') });
      // not an archive: the reader's code
      await choose(page, 'image-input', join(REPO_ROOT, 'package.json'));
      expect((await codes(page))[0]).toMatch(/^OCI_/);
    });
  });

  it('measures the hash speed of this browser', async () => {
    const { page } = await open();
    await page.evaluate(() => (document.body.dataset.state = 'waiting'));
    await page.getByTestId('speed-run').click();
    await page.waitForSelector('body[data-state=done]', { timeout: 60_000 });
    const rows = await page.getByTestId('speed-table').locator('tbody tr').allTextContents();
    expect(rows).toHaveLength(3);
    for (const r of rows) expect(r).toMatch(/\d+(\.\d)? MB\/s.*\d+(\.\d)? MB\/s/);
    await page.locator('#speed').screenshot({ path: join(SHOTS, 'speed.png') });
  });

  it(`reads a ${IMAGE_MIB} MiB gzip image with its layers spilled to OPFS: flat worker memory, the CLI's PCR2; without OPFS, memory up to a stated limit`, async () => {
    const archive = join(dir, 'gz-image.tar');
    const img = await makeBenchImage(archive, { mib: IMAGE_MIB, gzip: true });
    for (const l of img.layers as { tar: string; blob: string }[]) for (const f of [l.tar, l.blob]) rmSync(f, { force: true }); // only the archive is needed
    const blobs = join(dir, 'standin-blobs');
    expect(eif(['blobs', '--standin', blobs]).status).toBe(0);
    const cli = eif(['build', '--docker-archive', archive, '--blobs', blobs, '--output', join(dir, 'gz-image.eif')]);
    expect(cli.status, cli.stderr).toBe(0);
    rmSync(join(dir, 'gz-image.eif'));
    const want = JSON.parse(cli.stdout).Measurements.PCR2;

    // OPFS: the worker's heap stays flat while hundreds of MiB of layers are decompressed, spilled and read back
    const { page } = await open();
    const heap = await heapSampler(browser, page);
    heap.start();
    await choose(page, 'image-input', archive, 600_000);
    const peak = await heap.stop();
    expect(await codes(page)).toEqual([]);
    expect(await text(page, 'image-pcr2')).toBe(want);
    expect(await page.getByTestId('image-spill').getAttribute('data-spill')).toBe('opfs');
    const spilled = await text(page, 'image-spill');
    expect(spilled).toMatch(/MiB kept in this site's private file system/);
    expect(Number(/^([\d.]+) MiB/.exec(spilled)![1])).toBeGreaterThanOrEqual(IMAGE_MIB);
    expect(peak.workerMax).toBeLessThan(128 << 20); // kept in memory, the layers alone would be > IMAGE_MIB
    // the spill folder is gone afterwards
    const left = await page.evaluate(async () => {
      const names: string[] = [];
      const root = (await navigator.storage.getDirectory()) as unknown as { keys(): AsyncIterable<string> };
      for await (const k of root.keys()) names.push(k);
      return names;
    });
    expect(left).toEqual([]);
    console.log(`web: ${IMAGE_MIB} MiB gzip image (${(img.size / 2 ** 20).toFixed(0)} MiB archive) in ${await page.locator('#image-status').textContent()}; peak heap page ${(peak.page / 2 ** 20).toFixed(1)} MiB, largest worker ${(peak.workerMax / 2 ** 20).toFixed(1)} MiB (${peak.samples} samples)`);

    // no OPFS (forced): memory, up to the stated limit, then the code
    const small = await open('?layers=memory&layer-memory-mib=16');
    await choose(small.page, 'image-input', archive, 600_000);
    expect(await codes(small.page)).toEqual(['OCI_SPILL_MEMORY']);
    expect(await text(small.page, 'error')).toContain('16777216 bytes');
    await shot(small.page, 'image-memory-limit');

    // a browser profile on disk (not the fresh in-memory context above): the spill is written to disk and removed
    const profile = mkdtempSync(join(tmpdir(), 'eifkit-web-profile-'));
    const ctx = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
    try {
      const p = await ctx.newPage();
      await p.goto(server.url);
      await p.waitForSelector('body[data-state=done]', { timeout: 60_000 });
      const du = (): number => Number(execFileSync('du', ['-sm', profile], { encoding: 'utf8' }).split('\t')[0]);
      const before = du();
      let most = before;
      const poll = setInterval(() => (most = Math.max(most, du())), 250);
      await choose(p, 'image-input', archive, 600_000);
      clearInterval(poll);
      expect(await p.getByTestId('image-pcr2').textContent()).toBe(want);
      expect(most - before).toBeGreaterThan(IMAGE_MIB / 2); // sampled while it ran: at least one layer on disk
      expect(du() - before).toBeLessThan(16);
    } finally {
      await ctx.close();
      rmSync(profile, { recursive: true, force: true });
    }
    rmSync(archive);
  }, 900_000);

  it('gives the CLI\'s PCRs with 1, 2 and 3 measuring workers, the file relayed from worker 0 or read by each (?relay=off)', async () => {
    const picked = eifs.filter((e) => ['own-unsigned', 'own-signed', 'one-ramdisk-aarch64'].includes(e.name));
    for (const q of ['?threads=1', '?threads=2', '?threads=3', '?threads=2&relay=off', '?threads=3&chunk=0.1']) {
      const { page } = await open(q);
      for (const e of picked) {
        await choose(page, 'eif-input', e.path);
        const want = JSON.parse(eif(['describe', e.path]).stdout);
        expect(await codes(page), `${q} ${e.name}`).toEqual([]);
        expect(JSON.parse(await text(page, 'describe-json')), `${q} ${e.name}`).toEqual(want);
      }
    }
  });

  it('a file dropped while a large one is measured cancels it: the workers (relay ends included) are free at once for the new one', async () => {
    const b = await big!.done; // started in beforeAll (startBigBuild)
    expect(b.status, b.stderr).toBe(0);
    const image = join(dir, 'big.eif');
    const small = eifs.find((e) => e.name === 'own-unsigned')!;
    const want = JSON.parse(eif(['describe', small.path]).stdout);
    for (const q of ['', '?threads=3']) {
      const { page } = await open(q);
      await page.setInputFiles('[data-testid=eif-input]', image);
      await page.waitForFunction(() => (document.getElementById('eif-bar') as HTMLProgressElement).value > 0.02, undefined, { timeout: 120_000 });
      await choose(page, 'eif-input', small.path, 60_000);
      expect(await codes(page), q).toEqual([]);
      expect(JSON.parse(await text(page, 'describe-json')), q).toEqual(want);
      // and another (choosing the same file again fires no change event): no worker is stuck in the cancelled run
      const other = eifs.find((e) => e.name === 'three-ramdisks')!;
      await choose(page, 'eif-input', other.path, 60_000);
      expect(JSON.parse(await text(page, 'describe-json')), q).toEqual(JSON.parse(eif(['describe', other.path]).stdout));
    }
  }, 300_000);

  it(`measures a ${BIG_MIB} MiB EIF with flat memory in the page and its workers`, async () => {
    const b = await big!.done; // started in beforeAll (startBigBuild)
    expect(b.status, b.stderr).toBe(0);
    const image = join(dir, 'big.eif');
    const want = JSON.parse(b.stdout).Measurements;
    const { page } = await open();
    const heap = await heapSampler(browser, page);
    expect(heap.workers).toBeGreaterThanOrEqual(2);
    heap.start();
    // the page stays responsive while the workers hash: the longest gap of a 20 ms timer on the main thread
    await page.evaluate(() => {
      const w = window as unknown as { maxLag: number; lagTimer: number };
      w.maxLag = 0;
      let last = performance.now();
      w.lagTimer = window.setInterval(() => {
        const now = performance.now();
        w.maxLag = Math.max(w.maxLag, now - last - 20);
        last = now;
      }, 20);
    });
    await choose(page, 'eif-input', image, 600_000);
    const peak = await heap.stop();
    const lag = await page.evaluate(() => {
      const w = window as unknown as { maxLag: number; lagTimer: number };
      clearInterval(w.lagTimer);
      return w.maxLag;
    });
    expect(lag).toBeLessThan(500); // a blocked main thread would stall for seconds; a loaded box adds scheduling delay
    expect(await codes(page)).toEqual([]);
    expect(await text(page, 'pcr0')).toBe(want.PCR0);
    expect(await text(page, 'pcr2')).toBe(want.PCR2);
    // V8 heap + ArrayBuffer backing stores: the reader's pool of ≤ 6 relayed 1 MiB buffers, two in a worker reading alone, whatever the file's size
    expect(peak.page).toBeLessThan(32 << 20);
    expect(peak.workerMax).toBeLessThan(48 << 20);
    console.log(`web: ${BIG_MIB} MiB EIF in ${await page.locator('#eif-rate').getAttribute('data-ms')} ms (main thread's longest stall ${lag.toFixed(0)} ms); peak heap page ${(peak.page / 2 ** 20).toFixed(1)} MiB, workers ${(peak.workers / 2 ** 20).toFixed(1)} MiB (largest ${(peak.workerMax / 2 ** 20).toFixed(1)} MiB, ${peak.samples} samples)`);
    rmSync(image);
  }, 900_000);
});

