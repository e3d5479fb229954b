// Driving the web page in headless Chromium (playwright-core), shared by bench/web.mjs and test/web/: launch,
// open the page and wait until it is ready, choose a file and wait until the page is done, and sample the heap of
// the page and its workers through the DevTools protocol. Not a bench suite (no `meta`).
import { existsSync } from 'node:fs';

export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));

/**
 * Heap of the page and each of its workers, read through the browser's DevTools protocol (Runtime.getHeapUsage:
 * V8 heap used, and ArrayBuffer backing stores where this Chromium reports them). Workers are reached with
 * Target.attachToTarget (non-flat sessions: messages go through Target.sendMessageToTarget).
 */
export async function heapSampler(browser, page) {
  const cdp = await browser.newBrowserCDPSession();
  const pageCdp = await page.context().newCDPSession(page);
  let seq = 1;
  const pending = new Map();
  cdp.on('Target.receivedMessageFromTarget', (e) => {
    const m = JSON.parse(e.message);
    const p = pending.get(m.id);
    if (p) {
      pending.delete(m.id);
      p(m.result ?? {});
    }
  });
  const { targetInfos } = await cdp.send('Target.getTargets');
  const workers = [];
  for (const t of targetInfos.filter((x) => x.type === 'worker')) {
    const { sessionId } = await cdp.send('Target.attachToTarget', { targetId: t.targetId, flatten: false });
    workers.push({ title: t.title, sessionId });
  }
  const ask = (sessionId, method) =>
    new Promise((resolve) => {
      const id = seq++;
      pending.set(id, resolve);
      cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method }) }).catch(() => resolve({}));
      setTimeout(() => pending.has(id) && (pending.delete(id), resolve({})), 2000);
    });
  const peak = { page: 0, workers: 0, workerMax: 0, samples: 0 };
  const bytesOf = (r) => (r.usedSize ?? 0) + (r.backingStorageSize ?? 0);
  const sample = async () => {
    const p = bytesOf(await pageCdp.send('Runtime.getHeapUsage'));
    let sum = 0;
    let max = 0;
    for (const w of workers) {
      const b = bytesOf(await ask(w.sessionId, 'Runtime.getHeapUsage'));
      sum += b;
      max = Math.max(max, b);
    }
    peak.page = Math.max(peak.page, p);
    peak.workers = Math.max(peak.workers, sum);
    peak.workerMax = Math.max(peak.workerMax, max);
    peak.samples++;
  };
  let timer;
  let running = false;
  return {
    workers: workers.length,
    start() {
      timer = setInterval(() => {
        if (running) return;
        running = true;
        sample().finally(() => (running = false));
      }, 100);
    },
    async stop() {
      clearInterval(timer);
      await sample();
      await cdp.detach().catch(() => {});
      await pageCdp.detach().catch(() => {});
      return { ...peak };
    },
  };
}

export async function launch() {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--enable-precise-memory-info'],
  });
}

/** Open the page, wait for it to be ready; `requests` collects every request made after that. */
export async function openPage(browser, url) {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const requests = [];
  let loaded = false;
  page.on('request', (r) => loaded && requests.push(r.url()));
  await page.goto(url);
  await page.waitForSelector('body[data-state=done]', { timeout: 60_000 });
  loaded = true;
  return { page, requests };
}

/** Choose a file in an input and wait until the page says it is done. */
export async function choose(page, testid, file, timeout = 600_000) {
  await page.evaluate(() => (document.body.dataset.state = 'waiting'));
  await page.setInputFiles(`[data-testid=${testid}]`, file);
  await page.waitForSelector('body[data-state=done]', { timeout });
}

