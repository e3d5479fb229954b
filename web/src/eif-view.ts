/**
 * The EIF section: the file's header table read here (a few small slices), then its PCR streams and CRC measured
 * in Web Workers (eifkit's measureEifPart), combined by inspectEifParts (PCRs, CRC check, signature verdict,
 * describe JSON as nitro-cli prints it). The file is read once: worker 0 reads it and relays each piece to the
 * others over a MessageChannel (eifkit's relay; the buffers are moved, not copied), which read only the small
 * sections and any bytes not relayed themselves.
 */
import { PART_CRC_STRIPE, SectionType, blobSource, inspectEifParts, readLayout, type EifInspection, type EifMeasurePart, type EifMeasureShare } from 'eifkit/browser';
import { type MeasureRelay, relayPorts } from './messages.js';
import { measuringSlots, newRequestId, type WorkerSlot } from './pool.js';
import { $, begin, bytesText, codeOf, h, showError } from './ui.js';

/**
 * How many workers measure: 3 (stream A, stream B, CRC) on devices with ≥ 3 cores, else 2 (A and half the CRC; B
 * and the other half).
 * `?threads=1|2|3` in the page's query overrides it (the bench compares them).
 */
export function workerCount(cores: number, override?: string | null): number {
  return override === '1' ? 1 : override === '2' ? 2 : override === '3' ? 3 : cores >= 3 ? 3 : 2;
}

/**
 * The shares of `n` workers. Two workers each read (nearly) every byte for their SHA stream, so each also CRCs
 * half of the bytes (inspectEifParts combines them): one worker doing the whole CRC on top of its SHA stream
 * finished ~1 s after the other on a 1 GiB image. The halves are stripes of a piece taken in turn, not two
 * ranges: the workers go in step (worker 0 relays each piece to worker 1), so with halves each would wait for
 * the other during the half it does not CRC (bench/README.md, web).
 */
export function shares(n: number): EifMeasureShare[] {
  if (n === 1) return [{ pcr0: true, pcr2: true, crc: true }];
  const stripe = PART_CRC_STRIPE;
  if (n === 2) return [{ pcr0: true, crc: { index: 0, count: 2, stripe } }, { pcr2: true, crc: { index: 1, count: 2, stripe } }];
  return [{ pcr0: true }, { pcr2: true }, { crc: true }];
}

/** `?chunk=MiB` in the page's query: the size of the workers' reads (the bench compares them); else the default. */
function chunkOverride(): number | undefined {
  const mib = Number(new URLSearchParams(location.search).get('chunk'));
  return Number.isFinite(mib) && mib > 0 && mib <= 64 ? Math.round(mib * 1048576) : undefined;
}

/** `?read=stream|slices` in the page's query: how the workers read the file (the bench compares them). */
function readerOverride(): 'stream' | 'slices' | undefined {
  const r = new URLSearchParams(location.search).get('read');
  return r === 'stream' || r === 'slices' ? r : undefined;
}

/**
 * `?relay=off` in the page's query: every worker reads the file itself (the bench compares them). Else the relay
 * ends of `n` workers: worker 0 sends to each other worker over its own channel (`?relay-buffers=N`: its pool).
 */
export function relays(n: number, query: string = location.search): (MeasureRelay | undefined)[] {
  const q = new URLSearchParams(query);
  if (n < 2 || q.get('relay') === 'off') return Array.from({ length: n }, () => undefined);
  const buffers = Number(q.get('relay-buffers')); // `?relay-buffers=N`: the reader's pool per port (the bench compares them)
  const channels = Array.from({ length: n - 1 }, () => new MessageChannel());
  return [{ send: channels.map((c) => c.port1), buffers: Number.isInteger(buffers) && buffers >= 2 && buffers <= 64 ? buffers : undefined }, ...channels.map((c) => ({ receive: c.port2 }))];
}

let current: { id: number; end: () => void } | undefined;

function stop(): void {
  if (!current) return;
  for (const w of measuringSlots()) w.cancel(current.id);
  current.end();
  current = undefined;
}

/** Run one share on a pool worker; resolves with its part, rejects with {code, message}. */
function runShare(slot: WorkerSlot, id: number, file: File, share: EifMeasureShare, relay: MeasureRelay | undefined, onProgress: (read: number, planned: number) => void): Promise<EifMeasurePart> {
  const ports = relayPorts(relay);
  return new Promise((resolve, reject) => {
    const done = slot.request({ kind: 'measure', id, file, share, chunkSize: chunkOverride(), reader: readerOverride(), relay }, (m) => {
      if (m.kind === 'progress') onProgress(m.read, m.planned);
      else if (m.kind === 'part') {
        done();
        resolve(m.part);
      } else if (m.kind === 'error') {
        done();
        reject({ code: m.code, message: m.message });
      }
    }, ports);
  });
}

export interface EifDone {
  inspection: EifInspection;
  file: File;
  ms: number;
}

/** Measure `file`; `onDone` gets the inspection (for the attestation table). A new file cancels the old run. */
export async function checkEif(file: File, onDone: (r: EifDone | undefined) => void): Promise<void> {
  stop();
  const end = begin();
  const id = newRequestId();
  current = { id, end };
  const mine = current;
  const errBox = $('eif-error');
  const result = $('eif-result');
  const bar = $<HTMLProgressElement>('eif-bar');
  const rate = $('eif-rate');
  errBox.replaceChildren();
  result.hidden = true;
  $('eif-progress').hidden = false;
  bar.value = 0;
  rate.textContent = `${file.name}: reading the section table…`;
  onDone(undefined);
  const t0 = performance.now();
  try {
    await readLayout(blobSource(file)); // a file that is not an EIF fails here, once, before any worker starts
    const slots = measuringSlots();
    const plan = shares(slots.length);
    const relay = relays(plan.length);
    const progress = plan.map(() => ({ read: 0, planned: 1 }));
    let lastPaint = 0;
    const paint = (): void => {
      const now = performance.now();
      if (now - lastPaint < 250) return; // a progress bar needs no more; each paint costs the main thread ~4 ms
      lastPaint = now;
      const read = progress.reduce((n, p) => n + p.read, 0);
      const planned = progress.reduce((n, p) => n + p.planned, 0);
      const frac = Math.min(1, read / Math.max(1, planned));
      bar.value = frac;
      const secs = (now - t0) / 1000;
      rate.textContent = `${Math.round(frac * 100)} % · ${(((frac * file.size) / 1e6) / Math.max(secs, 1e-3)).toFixed(0)} MB/s`;
    };
    const parts = await Promise.all(
      plan.map((share, i) =>
        runShare(slots[i]!, id, file, share, relay[i], (read, planned) => {
          progress[i] = { read, planned };
          paint();
        }),
      ),
    );
    if (current !== mine) return;
    const inspection = await inspectEifParts(file, parts);
    const ms = performance.now() - t0;
    bar.value = 1;
    rate.textContent = `${bytesText(file.size)} in ${(ms / 1000).toFixed(2)} s · ${(file.size / 1e6 / (ms / 1000)).toFixed(0)} MB/s`;
    rate.dataset.ms = String(Math.round(ms));
    rate.dataset.timing = JSON.stringify(parts.map((p) => p.timing)); // where each worker's time went (the bench)
    render(file, inspection);
    onDone({ inspection, file, ms });
  } catch (e) {
    if (current !== mine) return;
    for (const w of measuringSlots()) w.cancel(id);
    const { code, message } = codeOf(e, 'WEB_WORKER_FAILED');
    showError(errBox, code, `${file.name}: ${message}`);
    $('eif-progress').hidden = true;
  } finally {
    if (current === mine) {
      current = undefined;
      end();
    }
  }
}

function badge(ok: boolean, yes: string, no: string): HTMLElement {
  return h('span', { class: `badge ${ok ? 'ok' : 'bad'}` }, ok ? yes : no);
}

function kvTable(rows: [string, Node | string][]): HTMLTableElement {
  return h('table', { class: 'kv' }, h('tbody', {}, ...rows.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, v)))));
}

function render(file: File, i: EifInspection): void {
  const d = i.describe as Record<string, any>;
  const m = i.measurements;
  const pcrs = $('eif-pcrs');
  const row = (name: string, value: string, id: string) => [h('dt', {}, name), h('dd', { 'data-testid': id }, value)];
  pcrs.replaceChildren(
    ...row('PCR0', m.PCR0, 'pcr0'),
    ...row('PCR1', m.PCR1, 'pcr1'),
    ...row('PCR2', m.PCR2, 'pcr2'),
    ...(m.PCR8 ? row('PCR8', m.PCR8, 'pcr8') : [h('dt', {}, 'PCR8'), h('dd', { class: 'muted' }, 'not signed: an enclave started from it reports PCR8 as 48 zero bytes')]),
  );
  const sections = h(
    'table',
    {},
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, '#'), h('th', { scope: 'col' }, 'type'), h('th', { scope: 'col' }, 'offset'), h('th', { scope: 'col' }, 'size'))),
    h(
      'tbody',
      {},
      ...i.layout.sections.map((s) =>
        h('tr', {}, h('td', { class: 'num' }, s.index), h('td', {}, SectionType[s.type] ?? String(s.type)), h('td', { class: 'num' }, s.offset), h('td', { class: 'num' }, bytesText(s.size))),
      ),
    ),
  );
  const crcHex = (n: number) => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
  const crc = i.checkCrc
    ? h('span', {}, badge(true, 'CRC OK', ''), ` header and computed: ${crcHex(i.computedCrc)}`)
    : h('span', {}, badge(false, '', 'CRC MISMATCH'), ` header ${crcHex(i.layout.header.crc32)}, computed ${crcHex(i.computedCrc)}: the file is damaged`);
  const meta = (d.Metadata ?? {}) as Record<string, unknown>;
  const metaRows: [string, string][] = Object.entries(meta).map(([k, v]) => [k, v === null ? '—' : typeof v === 'string' ? v : JSON.stringify(v)]);
  const cert = d.SigningCertificate as Record<string, any> | undefined;
  const signature = d.IsSigned
    ? h(
        'div',
        {},
        h('p', {}, badge(d.SignatureCheck === true, 'SIGNATURE MATCHES THIS IMAGE', 'SIGNED FOR ANOTHER IMAGE'), ' ',
          d.SignatureCheck ? 'The COSE signature verifies with the certificate and covers this PCR0.' : 'The COSE signature verifies, but its payload is not this image’s PCR0 (SignatureCheck false).'),
        kvTable([
          ['Issuer', Object.entries(cert?.IssuerName ?? {}).map(([k, v]) => `${k}=${v}`).join(', ')],
          ['Algorithm', String(cert?.Algorithm ?? '')],
          ['Not before', String(cert?.NotBefore ?? '')],
          ['Not after', String(cert?.NotAfter ?? '')],
          ['PCR8 (certificate)', h('span', { class: 'mono' }, m.PCR8 ?? '')],
        ]),
      )
    : h('p', {}, h('span', { class: 'badge none' }, 'NOT SIGNED'), ' The image has no signature section.');
  $('eif-describe').replaceChildren(
    h('h3', {}, 'Image'),
    kvTable([
      ['File', `${file.name} (${bytesText(file.size)})`],
      ['EIF version', String(d.EifVersion)],
      ['Image name', d.ImageName === undefined ? '— (no metadata section: EIF v3)' : String(d.ImageName)],
      ['Image version', d.ImageVersion === undefined ? '—' : String(d.ImageVersion)],
      ['CRC-32', crc],
    ]),
    ...(metaRows.length ? [h('h3', {}, 'Build metadata'), kvTable(metaRows)] : []),
    h('h3', {}, 'Signature'),
    signature,
    h('h3', {}, `Sections (${i.layout.sections.length})`),
    sections,
    h('details', {}, h('summary', {}, 'describe-eif JSON (as nitro-cli prints it)'), h('pre', { 'data-testid': 'describe-json', class: 'mono json' }, JSON.stringify(d, null, 2))),
  );
  $('eif-result').hidden = false;
}
