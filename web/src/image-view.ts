/**
 * The container-image section: a `docker save` or OCI archive → the customer ramdisk nitro-cli would make → its
 * PCR2; with nitro-cli's blobs (bzImage or Image, cmdline, init, nsm.ko) also PCR0 and PCR1. Runs on the page's
 * spare worker; the archive is read by slices.
 */
import type { ImageBlobs, ImageResult } from './messages.js';
import { newRequestId, speedWorker } from './pool.js';
import { $, begin, bytesText, h, showError } from './ui.js';

/** Which blob a file is, by nitro-cli's file names. */
export function blobsOf(files: readonly File[]): ImageBlobs {
  const out: ImageBlobs = {};
  for (const f of files) {
    if (f.name === 'bzImage' || f.name === 'Image') out.kernel = f;
    else if (f.name === 'cmdline') out.cmdline = f;
    else if (f.name === 'init') out.init = f;
    else if (f.name === 'nsm.ko') out.nsm = f;
  }
  return out;
}

/**
 * Memory allowed for the uncompressed layers where the browser has no private file system (OPFS) to spill them
 * to; `?layer-memory-mib=N` changes it and `?layers=memory` forces memory (tests, bench).
 */
const params = new URLSearchParams(location.search);
export const LAYER_MEMORY_LIMIT = (Number(params.get('layer-memory-mib')) || 512) * 1048576;
const SPILL: 'auto' | 'memory' = params.get('layers') === 'memory' ? 'memory' : 'auto';

/** The latest checkImage call: an earlier one that ends later must not show its (stale) result. */
let latest = 0;

export function checkImage(archive: File, blobFiles: readonly File[], onDone: (r: ImageResult | undefined) => void): void {
  const end = begin();
  const mine = ++latest;
  const status = $('image-status');
  const err = $('image-error');
  err.replaceChildren();
  $('image-result').hidden = true;
  onDone(undefined);
  const blobs = blobsOf(blobFiles);
  const names = Object.keys(blobs);
  if (blobFiles.length > 0 && names.length < 4) {
    status.textContent = `blobs: found ${names.join(', ') || 'none'} of kernel (bzImage / Image), cmdline, init, nsm.ko: PCR0 and PCR1 need all four`;
  }
  const done = speedWorker().request({ kind: 'image', id: newRequestId(), archive, blobs, spill: SPILL, memoryLimit: LAYER_MEMORY_LIMIT }, (m) => {
    if (mine !== latest) {
      if (m.kind !== 'image-progress') (done(), end());
      return;
    }
    if (m.kind === 'image-progress') status.textContent = m.text;
    else if (m.kind === 'image-result') {
      done();
      render(archive, m.result);
      status.textContent = `${bytesText(archive.size)} archive in ${(m.result.ms / 1000).toFixed(2)} s`;
      onDone(m.result);
      end();
    } else if (m.kind === 'error') {
      done();
      showError(err, m.code, `${archive.name}: ${m.message}`);
      status.textContent = '';
      end();
    }
  });
}

function render(archive: File, r: ImageResult): void {
  const row = (name: string, value: string | undefined, id: string) =>
    value === undefined ? [h('dt', {}, name), h('dd', { class: 'muted' }, 'needs the blobs (bzImage or Image, cmdline, init, nsm.ko)')] : [h('dt', {}, name), h('dd', { 'data-testid': id }, value)];
  $('image-pcrs').replaceChildren(...row('PCR0', r.PCR0, 'image-pcr0'), ...row('PCR1', r.PCR1, 'image-pcr1'), ...row('PCR2', r.PCR2, 'image-pcr2'));
  $('image-facts').replaceChildren(
    h('table', { class: 'kv' }, h('tbody', {},
      h('tr', {}, h('th', { scope: 'row' }, 'Archive'), h('td', {}, `${archive.name} (${bytesText(archive.size)})`)),
      h('tr', {}, h('th', { scope: 'row' }, 'Image'), h('td', {}, `${r.repoTags.join(', ') || '(untagged)'} · ${r.architecture} · ${r.layers} layer${r.layers === 1 ? '' : 's'}`)),
      h('tr', {}, h('th', { scope: 'row' }, 'Customer ramdisk'), h('td', {}, `${bytesText(r.customerSize)}, ${r.customerEntries} cpio entries`)),
      h('tr', {}, h('th', { scope: 'row' }, 'Uncompressed layers'), h('td', { 'data-testid': 'image-spill', 'data-spill': r.spill }, r.spill === 'opfs' ? `${bytesText(r.spilledBytes)} kept in this site's private file system while measuring (OPFS, removed after)` : `kept in memory (limit ${bytesText(LAYER_MEMORY_LIMIT)}: this browser offers no private file system)`)),
    )),
    ...(r.warnings.length ? [h('ul', { class: 'notes' }, ...r.warnings.map((w) => h('li', { class: 'warn' }, w)))] : []),
  );
  $('image-result').hidden = false;
}
