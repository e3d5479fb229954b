/**
 * The page (issue 13): wiring of the sections. Everything is computed here and in Web Workers from files the
 * user picks; nothing is fetched after load (the CSP's connect-src 'none' holds the page to it).
 */
import { initCore, pcr8FromCertificatePem } from 'eifkit/browser';
import { awsRootFingerprint, checkDocument, setAnchor, setExpected, warmUp } from './attestation-view.js';
import { checkEif, workerCount, type EifDone } from './eif-view.js';
import { startPool } from './pool.js';
import { fromFragment, parseExpected, toFragment, type ExpectedEntry, type ExpectedInput } from './expected.js';
import { runSpeed } from './speed-view.js';
import { checkImage } from './image-view.js';
import type { ImageResult } from './messages.js';
import { $, begin, codeOf, dropZone, showError } from './ui.js';

declare const __EIFKIT_VERSION__: string;

const textarea = $<HTMLTextAreaElement>('expected-input');
const roleArn = $<HTMLInputElement>('role-arn');
const instanceId = $<HTMLInputElement>('instance-id');

let typed: ExpectedEntry[] = [];
let fromEif: ExpectedEntry[] = [];
let fromImage: ExpectedEntry[] = [];

function expectedInput(): ExpectedInput {
  return { text: textarea.value, roleArn: roleArn.value, instanceId: instanceId.value };
}

function publishExpected(): void {
  const all = [...typed];
  for (const e of [...fromEif, ...fromImage]) if (!all.some((t) => t.index === e.index && t.hex === e.hex)) all.push(e);
  all.sort((a, b) => a.index - b.index);
  setExpected(all);
  const n = typed.length;
  $('exp-summary').textContent = n === 0 ? '' : `${n} expected PCR${n === 1 ? '' : 's'}: ${typed.map((e) => `PCR${e.index}`).join(', ')}.`;
}

/** Read the expected-values inputs; on success, put them into the URL fragment (never sent anywhere). */
function readExpected(updateUrl: boolean): void {
  const box = $('exp-error');
  box.replaceChildren();
  try {
    typed = parseExpected(expectedInput());
    $('pcr3-out').textContent = typed.find((e) => e.source === 'role ARN')?.hex ?? '';
    $('pcr4-out').textContent = typed.find((e) => e.source === 'instance ID')?.hex ?? '';
    if (updateUrl) {
      const frag = toFragment(expectedInput());
      history.replaceState(null, '', `${location.pathname}${location.search}${frag}`);
    }
  } catch (e) {
    typed = [];
    const { code, message } = codeOf(e, 'WEB_EXPECTED_INVALID');
    showError(box, code, message);
  }
  publishExpected();
}

function loadFragment(): void {
  const v = fromFragment(location.hash);
  textarea.value = v.text;
  roleArn.value = v.roleArn;
  instanceId.value = v.instanceId;
  readExpected(false);
}

function onEifDone(r: EifDone | undefined): void {
  if (!r) {
    fromEif = [];
  } else {
    const m = r.inspection.measurements;
    fromEif = [
      { index: 0, hex: m.PCR0, source: 'EIF file' },
      { index: 1, hex: m.PCR1, source: 'EIF file' },
      { index: 2, hex: m.PCR2, source: 'EIF file' },
      { index: 8, hex: m.PCR8 ?? '0'.repeat(96), source: m.PCR8 ? 'EIF signer' : 'EIF (unsigned)' },
    ];
  }
  publishExpected();
}

function onImageDone(r: ImageResult | undefined): void {
  fromImage = [];
  if (r) {
    if (r.PCR0) fromImage.push({ index: 0, hex: r.PCR0, source: 'container image' });
    if (r.PCR1) fromImage.push({ index: 1, hex: r.PCR1, source: 'container image' });
    fromImage.push({ index: 2, hex: r.PCR2, source: 'container image' });
  }
  publishExpected();
}

async function readFile(f: File): Promise<Uint8Array> {
  try {
    return new Uint8Array(await f.arrayBuffer());
  } catch (e) {
    throw Object.assign(new Error(`${f.name}: the browser could not read the file (${(e as Error).message})`), { code: 'WEB_FILE_UNREADABLE' });
  }
}

/**
 * A document file chosen or dropped: the clock of the verdict's data-ms starts here. The marks att:start,
 * att:read (bytes in hand), att:verified, att:verdict (in the DOM) and att:details let bench/web.mjs show where
 * the time goes.
 */
async function onDocumentFile(f: File): Promise<void> {
  const t0 = performance.now();
  for (const m of ['att:start', 'att:read', 'att:verified', 'att:verdict', 'att:details']) performance.clearMarks(m);
  performance.mark('att:start');
  const end = begin();
  try {
    const bytes = await readFile(f);
    performance.mark('att:read');
    await checkDocument(bytes, f.name, t0);
  } catch (e) {
    const { code, message } = codeOf(e, 'WEB_FILE_UNREADABLE');
    showError($('att-error'), code, message);
  } finally {
    end();
  }
}

async function onCertificate(f: File): Promise<void> {
  const end = begin();
  const out = $('pcr8-out');
  try {
    const pcr8 = pcr8FromCertificatePem(new TextDecoder().decode(await readFile(f)));
    const lines = textarea.value.split('\n').filter((l) => !/^\s*(pcr)?\s*8\s*[:=\s]/i.test(l));
    if (textarea.value.trim().startsWith('{')) {
      showError($('exp-error'), 'WEB_EXPECTED_INVALID', 'PCR8 from a certificate is added to PCR lines; the box holds JSON. Clear it or use PCR lines.');
      return;
    }
    textarea.value = [...lines.filter((l) => l.trim() !== ''), `PCR8=${pcr8}`].join('\n');
    out.textContent = `PCR8 = ${pcr8} (from ${f.name})`;
    readExpected(true);
  } catch (e) {
    const { code, message } = codeOf(e, 'SIG_CERT_UNREADABLE');
    showError($('exp-error'), code, `${f.name}: ${message}`);
    out.textContent = '';
  } finally {
    end();
  }
}

function wire(): void {
  // A file dropped outside a drop zone must not make the browser open it (and leave the page).
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());

  const eifInput = $<HTMLInputElement>('eif-input');
  eifInput.addEventListener('change', () => {
    const f = eifInput.files?.[0];
    if (f) void checkEif(f, onEifDone);
  });
  dropZone(document.querySelector<HTMLElement>('#eif .drop')!, (f) => void checkEif(f, onEifDone));

  const imageInput = $<HTMLInputElement>('image-input');
  const blobsInput = $<HTMLInputElement>('blobs-input');
  const runImage = (f: File | undefined): void => {
    if (f) checkImage(f, [...(blobsInput.files ?? [])], onImageDone);
  };
  imageInput.addEventListener('change', () => runImage(imageInput.files?.[0]));
  blobsInput.addEventListener('change', () => runImage(imageInput.files?.[0]));
  dropZone(document.querySelector<HTMLElement>('#image .drop')!, (f) => runImage(f));

  const attInput = $<HTMLInputElement>('attestation-input');
  attInput.addEventListener('change', () => {
    const f = attInput.files?.[0];
    if (f) void onDocumentFile(f);
  });
  dropZone(document.querySelector<HTMLElement>('#attestation .drop')!, (f) => void onDocumentFile(f));
  const pasted = $<HTMLTextAreaElement>('attestation-text');
  const checkPasted = (): void => {
    if (pasted.value.trim() !== '') void checkDocument(pasted.value, 'pasted document');
  };
  $('attestation-check').addEventListener('click', checkPasted);
  pasted.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) checkPasted();
  });
  pasted.addEventListener('paste', () => setTimeout(checkPasted, 0));

  const rootInput = $<HTMLInputElement>('root-input');
  rootInput.addEventListener('change', async () => {
    const f = rootInput.files?.[0];
    if (!f) return;
    const end = begin();
    try {
      await setAnchor(await readFile(f));
    } catch (e) {
      const { code, message } = codeOf(e, 'WEB_FILE_UNREADABLE');
      showError($('att-error'), code, message);
    } finally {
      end();
    }
  });
  $('root-clear').addEventListener('click', () => {
    rootInput.value = '';
    void setAnchor(undefined);
  });
  $('aws-root-fp').textContent = `${awsRootFingerprint().slice(0, 16)}…`;
  $('aws-root-fp').title = awsRootFingerprint();

  // typing: read the values 150 ms after the last key (one piece of pending work however many keys)
  let timer: ReturnType<typeof setTimeout> | undefined;
  let pending: (() => void) | undefined;
  const soon = (): void => {
    clearTimeout(timer);
    pending ??= begin();
    timer = setTimeout(() => {
      readExpected(true);
      pending?.();
      pending = undefined;
    }, 150);
  };
  for (const el of [textarea, roleArn, instanceId]) el.addEventListener('input', soon);
  window.addEventListener('hashchange', loadFragment);
  const cert = $<HTMLInputElement>('cert-input');
  cert.addEventListener('change', () => {
    const f = cert.files?.[0];
    if (f) void onCertificate(f);
  });
  $('copy-link').addEventListener('click', async () => {
    const status = $('copy-status');
    try {
      await navigator.clipboard.writeText(location.href);
      status.textContent = 'Link copied.';
    } catch {
      status.textContent = `Copy this link: ${location.href}`;
    }
  });
  $('speed-run').addEventListener('click', runSpeed);
}

async function main(): Promise<void> {
  const end = begin();
  $('version').textContent = __EIFKIT_VERSION__;
  try {
    const pool = startPool(workerCount(navigator.hardwareConcurrency || 2, new URLSearchParams(location.search).get('threads')));
    await initCore();
    wire();
    loadFragment();
    // the workers' scripts are the page's last requests: "done" means nothing more will be fetched; the warm-up
    // (a few ms, overlapping with the workers' start) is part of loading, so the first document finds it done
    await Promise.all([pool, warmUp()]);
  } catch (e) {
    const { code, message } = codeOf(e, 'CORE_INIT_FAILED');
    showError($('eif-error'), code, message);
  } finally {
    end();
  }
}

void main();
