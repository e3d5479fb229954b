/** Hash speed on this device: the WASM core's SHA-384 and CRC-32 against WebCrypto's SHA-384, in a worker. */
import type { FromWorker, SpeedRow } from './messages.js';
import { newRequestId, speedWorker } from './pool.js';
import { $, begin, bytesText, h, showError } from './ui.js';

export const SPEED_SIZES = [64 << 10, 1 << 20, 16 << 20];

export function runSpeed(): void {
  const end = begin();
  const button = $<HTMLButtonElement>('speed-run');
  const status = $('speed-status');
  button.disabled = true;
  status.textContent = 'measuring…';
  $('speed-error').replaceChildren();
  const rows: SpeedRow[] = [];
  const finish = (): void => {
    done();
    button.disabled = false;
    end();
  };
  const done = speedWorker().request({ kind: 'speed', id: newRequestId(), sizes: SPEED_SIZES }, (m: FromWorker) => {
    if (m.kind === 'speed-row') {
      rows.push(m.row);
      render(rows);
      status.textContent = `measured ${bytesText(m.row.size)}…`;
    } else if (m.kind === 'speed-done') {
      status.textContent = `done (${navigator.hardwareConcurrency || '?'} logical cores reported)`;
      finish();
    } else if (m.kind === 'error') {
      showError($('speed-error'), m.code, m.message);
      status.textContent = '';
      finish();
    }
  });
}

const mbps = (v: number): string => `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} MB/s`;

function render(rows: SpeedRow[]): void {
  const max = Math.max(...rows.flatMap((r) => [r.wasmSha384, r.webCryptoSha384, r.wasmCrc32]));
  const bar = (label: string, v: number, cls: string) =>
    h('div', { class: 'bar-row' }, h('span', {}, label), h('div', { class: `bar ${cls}`, style: undefined, 'data-width': String(v / max) }), h('span', { class: 'num' }, mbps(v)));
  const table = h(
    'table',
    { 'data-testid': 'speed-table' },
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'size'), h('th', { scope: 'col' }, 'WASM SHA-384'), h('th', { scope: 'col' }, 'WebCrypto SHA-384'), h('th', { scope: 'col' }, 'WASM ÷ WebCrypto'), h('th', { scope: 'col' }, 'WASM CRC-32'))),
    h('tbody', {}, ...rows.map((r) => h('tr', {}, h('td', {}, bytesText(r.size)), h('td', { class: 'num' }, mbps(r.wasmSha384)), h('td', { class: 'num' }, mbps(r.webCryptoSha384)), h('td', { class: 'num' }, `${(r.wasmSha384 / r.webCryptoSha384).toFixed(2)}×`), h('td', { class: 'num' }, mbps(r.wasmCrc32))))),
  );
  const chart = h('div', { class: 'chart', role: 'img', 'aria-label': 'Bar chart of the throughputs in the table' },
    ...rows.flatMap((r) => [h('div', { class: 'group' }, bytesText(r.size)), bar('WASM SHA-384', r.wasmSha384, ''), bar('WebCrypto SHA-384', r.webCryptoSha384, 'webcrypto'), bar('WASM CRC-32', r.wasmCrc32, 'crc')]),
  );
  // widths set through the CSSOM (the page's CSP has no 'unsafe-inline' for style attributes)
  for (const b of chart.querySelectorAll<HTMLElement>('.bar')) b.style.width = `${(Number(b.dataset.width) * 100).toFixed(1)}%`;
  $('speed-result').replaceChildren(table, chart);
}
