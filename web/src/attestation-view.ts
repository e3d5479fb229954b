/**
 * The attestation section: authenticity at the document's own time (COSE signature, chain to the pinned AWS root
 * or a chosen anchor — eifkit's inspectAttestation), how old the document is and whether its chain has expired
 * since, the decoded fields, and the PCR table against the expected values (typed, from the link, or from the EIF).
 */
import {
  AWS_NITRO_ROOT_SHA256,
  decodeAttestationInput,
  inspectAttestation,
  parseTrustAnchors,
  warmUpAttestation,
  type AttestationDocument,
  type AttestationResult,
} from 'eifkit/browser';
import type { ExpectedEntry } from './expected.js';
import { $, ageText, begin, codeOf, h, hex, showError } from './ui.js';

interface Anchor {
  bytes: Uint8Array;
  sha256: string;
}

let anchor: Anchor | undefined;
let lastInput: { input: Uint8Array | string; label: string } | undefined;
let lastDoc: AttestationDocument | null = null;
let expected: ExpectedEntry[] = [];
let run = 0;
const WARM_ROUNDS = Number(new URLSearchParams(location.search).get('warm') ?? 24) || 0;

export function awsRootFingerprint(): string {
  return AWS_NITRO_ROOT_SHA256;
}

/**
 * At load: pay the first-call costs of the verification path before a document comes (bench/web.mjs, "first
 * document of a fresh page"): eifkit's warmUpAttestation verifies its complete throw-away document WARM_ROUNDS
 * times (each a new chain: the engine moves the verifier's code to its optimising tiers; in one A/B run on a
 * loaded 2-core box, 0 / 3 / 12 / 30 rounds gave 24 / 16 / 13 / 10 ms for the first document; on 2026-12-03 night,
 * 10 loads each, 12 / 24 / 40 rounds: dropped 1 s after ready 9.3 / 8.8 / 9.2 ms, dropped at ready 16.2 / 11.6 /
 * 11.3 ms, warm-up 237 / 332 / 397 ms: 24, bench/README.md) and prepares the AWS root, and the browser reads a
 * Blob once. `?warm=N` sets the rounds (0–100).
 */
export async function warmUp(): Promise<void> {
  const t0 = performance.now();
  await new Blob([new Uint8Array(16)]).arrayBuffer();
  await warmUpAttestation({ rounds: WARM_ROUNDS });
  performance.measure('att:warm-up', { start: t0 });
}

/** A root chosen in the advanced box (undefined: back to the AWS root). Re-checks the current document. */
export async function setAnchor(bytes: Uint8Array | undefined): Promise<void> {
  const status = $('root-status');
  if (bytes === undefined) {
    anchor = undefined;
    status.textContent = '';
  } else {
    try {
      const [a] = parseTrustAnchors([bytes]);
      anchor = { bytes, sha256: a!.sha256 };
      status.textContent = `Custom trust anchor in use (SHA-256 ${a!.sha256}).`;
    } catch (e) {
      // the anchor in use (and the verdict made with it) stays; the error says why the new one was refused
      const { code, message } = codeOf(e, 'ATT_ROOTS_INVALID');
      showError($('att-error'), code, `the chosen root was not used: ${message}`);
      return;
    }
  }
  if (lastInput) await checkDocument(lastInput.input, lastInput.label);
}

/** New expected values (from the expected-values box and the EIF): the PCR table is redrawn. */
export function setExpected(entries: ExpectedEntry[]): void {
  expected = entries;
  renderTable();
}

/** Starts with a CBOR array or tag (major types 4 and 6): a damaged COSE_Sign1 rather than some other file. */
function looksLikeCbor(b: Uint8Array): boolean {
  const x = b[0] ?? 0;
  return (x >= 0x80 && x <= 0x9f) || (x >= 0xc0 && x <= 0xdb);
}

/** After the next paint (a frame, then a task); at most ~50 ms later where frames do not come (a hidden tab). */
function afterPaint(): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 50);
    requestAnimationFrame(() => setTimeout(() => (clearTimeout(timer), resolve()), 0));
  });
}

const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');

/**
 * Check a document (file bytes, or pasted text). The verdict's element gets data-ms: the time from `t0` (the
 * change or drop event) to the verdict in the DOM, which is painted in the next frame; the details (notes,
 * fields, chain, PCR table) follow a frame later, and body data-state turns "done" only after them.
 */
export async function checkDocument(input: Uint8Array | string, label: string, t0 = performance.now()): Promise<void> {
  const end = begin();
  const mine = ++run;
  lastInput = { input, label };
  const errBox = $('att-error');
  errBox.replaceChildren();
  try {
    let bytes: Uint8Array | undefined;
    let r: AttestationResult;
    try {
      bytes = decodeAttestationInput(input).bytes; // raw CBOR, or base64 / hex text (typed or in a file)
    } catch (e) {
      if (typeof input !== 'string' && looksLikeCbor(input)) {
        bytes = input; // a CBOR array or tag, but not COSE_Sign1's start: the strict decoder names what is wrong
      } else {
        const { code, message } = codeOf(e, 'ATT_INPUT');
        r = { ok: false, errors: [{ code: code as AttestationResult['errors'][number]['code'], message }], document: null };
      }
    }
    // decoded once, inside the check, and verified at the document's own time (a malformed document: the
    // check reports the problem with its code, and there is no time to name)
    if (bytes) r = await inspectAttestation(bytes, { at: 'document', roots: anchor ? [anchor.bytes] : undefined });
    performance.mark('att:verified');
    r = r!;
    if (mine !== run) return;
    const verdict = $('attestation-verdict');
    const doc = r.document;
    lastDoc = doc;
    const against = anchor ? `the custom trust anchor (SHA-256 ${anchor.sha256.slice(0, 16)}…), not the AWS root` : 'the AWS Nitro Enclaves root pinned in this page';
    if (r.ok && doc) {
      verdict.className = 'verdict ok';
      verdict.replaceChildren(
        h('span', { class: 'title' }, anchor ? 'AUTHENTIC (custom trust anchor)' : 'AUTHENTIC'),
        h('p', {}, `The COSE signature verifies and the certificate chain leads to ${against}, valid at the document's own time, ${iso(doc.timestamp)}.`),
      );
    } else {
      verdict.className = 'verdict bad';
      verdict.replaceChildren(
        h('span', { class: 'title' }, 'NOT AUTHENTIC'),
        h('p', {}, doc ? `Checked against ${against} at the document's own time, ${iso(doc.timestamp)}:` : `Checked against ${against}:`),
        h('ul', {}, ...r.errors.map((e) => h('li', { 'data-testid': 'error', 'data-code': e.code }, h('code', {}, e.code), ': ', e.message))),
      );
    }
    verdict.dataset.ms = (performance.now() - t0).toFixed(2);
    verdict.dataset.codes = r.errors.map((e) => e.code).join(' ');
    performance.mark('att:verdict');
    // the verdict is painted first; the details (fields, chain, PCR tables: most of the layout) come a frame later
    $('att-result').hidden = false;
    $('att-notes').replaceChildren();
    $('att-fields').replaceChildren();
    $('att-pcr-table').replaceChildren();
    await afterPaint();
    if (mine !== run) return;
    const now = Date.now();
    const notes: HTMLElement[] = [];
    if (doc) {
      if (r.ok) {
        const age = now - doc.timestamp;
        notes.push(h('li', { 'data-testid': 'attestation-age' }, age >= 0 ? `Issued ${ageText(age)} ago (${iso(doc.timestamp)}).` : `Its timestamp lies ${ageText(-age)} in the future of this computer's clock.`));
        const ends = doc.chain.map((c) => Date.parse(c.notAfter));
        const first = Math.min(...ends);
        notes.push(
          first < now
            ? h('li', { 'data-testid': 'attestation-chain-now', class: 'warn' }, `The certificate chain has expired since (${iso(first)}; NSM certificates live about 3 hours): this document proves what the enclave was at ${iso(doc.timestamp)}, not that it is fresh.`)
            : h('li', { 'data-testid': 'attestation-chain-now' }, `The certificate chain is still valid now (until ${iso(first)}).`),
        );
      }
      if (doc.debug) {
        notes.push(h('li', { 'data-testid': 'debug-flag', class: 'warn' }, 'DEBUG MODE: PCR0, PCR1 and PCR2 are all zero. The enclave was started with --debug-mode: its console can be read and its measurements prove nothing about the code it runs.'));
      }
    }
    $('att-notes').replaceChildren(...notes);
    $('att-fields').replaceChildren(...(doc ? fields(doc, r.ok) : []));
    renderTable();
    performance.mark('att:details');
  } catch (e) {
    const { code, message } = codeOf(e, 'ATT_INTERNAL');
    showError(errBox, code, `${label}: ${message}`);
  } finally {
    end();
  }
}

function opt(b: Uint8Array | null): string {
  return b === null ? 'absent' : b.length === 0 ? 'empty' : `${b.length} bytes: ${hex(b)}`;
}

function fields(doc: AttestationDocument, ok: boolean): HTMLElement[] {
  const rows: [string, Node | string][] = [
    ['module_id', doc.moduleId],
    ['timestamp', `${iso(doc.timestamp)} (${doc.timestamp} ms)`],
    ['digest', doc.digest],
    ['nonce', opt(doc.nonce)],
    ['user_data', opt(doc.userData)],
    ['public_key', opt(doc.publicKey)],
    ['encoding', `${doc.tagged ? 'COSE_Sign1 with tag 18' : 'COSE_Sign1 (untagged)'}, ${doc.indefiniteMap ? 'indefinite-length' : 'definite-length'} payload map`],
  ];
  const pcrRows = Object.entries(doc.pcrs)
    .map(([i, v]) => [Number(i), v] as const)
    .sort((a, b) => a[0] - b[0])
    .map(([i, v]) => h('tr', {}, h('th', { scope: 'row' }, `PCR${i}`), h('td', { class: 'hex', 'data-testid': `attested-pcr${i}` }, hex(v))));
  const chain = doc.chain.map((c) =>
    h('tr', {}, h('td', {}, c.role), h('td', {}, c.subject), h('td', { class: 'num' }, c.notBefore.replace('.000Z', 'Z')), h('td', { class: 'num' }, c.notAfter.replace('.000Z', 'Z'))),
  );
  return [
    h('h3', {}, ok ? 'Fields' : 'Fields (as decoded, NOT verified)'),
    h('table', { class: 'kv', 'data-testid': 'attestation-fields' }, h('tbody', {}, ...rows.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', { class: 'hex', 'data-field': k }, v))))),
    h('h3', {}, `PCRs in the document (${pcrRows.length})`),
    h('table', { class: 'kv' }, h('tbody', {}, ...pcrRows)),
    ...(chain.length
      ? [
          h('h3', {}, 'Certificate chain'),
          h('table', {}, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'role'), h('th', { scope: 'col' }, 'subject'), h('th', { scope: 'col' }, 'not before'), h('th', { scope: 'col' }, 'not after'))), h('tbody', {}, ...chain)),
        ]
      : []),
  ];
}

/** Expected vs attested, PCR by PCR (only when there are expected values and a decoded document). */
function renderTable(): void {
  const box = $('att-pcr-table');
  if (!lastDoc) return void box.replaceChildren();
  if (expected.length === 0) {
    box.replaceChildren(h('p', { class: 'hint' }, 'Give expected values (below), or choose the EIF (above), to compare the PCRs.'));
    return;
  }
  let bad = 0;
  const rows = expected.map((e) => {
    const got = lastDoc!.pcrs[e.index];
    const gotHex = got ? hex(got) : undefined;
    const match = gotHex === undefined ? 'missing' : gotHex === e.hex ? 'true' : 'false';
    if (match !== 'true') bad++;
    const cell = match === 'true' ? h('span', { class: 'badge ok' }, 'match') : match === 'false' ? h('span', { class: 'badge bad' }, 'DIFFERS') : h('span', { class: 'badge bad' }, 'NOT IN DOCUMENT');
    return h('tr', { 'data-testid': `pcr-row-${e.index}`, 'data-match': match }, h('th', { scope: 'row' }, `PCR${e.index}`), h('td', { class: 'hex' }, e.hex), h('td', {}, e.source), h('td', { class: 'hex' }, gotHex ?? '—'), h('td', {}, cell));
  });
  box.replaceChildren(
    h('h3', {}, 'Expected vs attested'),
    h('p', { 'data-testid': 'pcr-summary', class: bad ? 'error' : '' }, bad ? `${bad} of ${expected.length} expected PCRs do not match the document.` : `All ${expected.length} expected PCRs match the document.`),
    h('table', {}, h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'PCR'), h('th', { scope: 'col' }, 'expected'), h('th', { scope: 'col' }, 'from'), h('th', { scope: 'col' }, 'attested'), h('th', { scope: 'col' }, 'match'))), h('tbody', {}, ...rows)),
  );
}
