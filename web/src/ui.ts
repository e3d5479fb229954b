/** Small DOM helpers: element building, error lines with their code, and the page's busy/done state. */

type Child = Node | string | number | null | undefined | false;

/** `h('td', { class: 'hex' }, text)`: an element with attributes (strings) and children (text is escaped). */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string | undefined> = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined) e.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined && c !== false) e.append(typeof c === 'number' ? String(c) : c);
  return e;
}

export const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

/** A failure: `CODE: message`, in an element with data-testid="error". */
export function errorLine(code: string, message: string): HTMLElement {
  return h('p', { class: 'error', 'data-testid': 'error', 'data-code': code }, h('code', {}, code), ': ', message);
}

export function showError(box: HTMLElement, code: string, message: string): void {
  box.replaceChildren(errorLine(code, message));
}

/** The code and message of anything thrown (EifError has .code; other errors get `fallback`). */
export function codeOf(e: unknown, fallback = 'WEB_WORKER_FAILED'): { code: string; message: string } {
  const x = e as { code?: unknown; message?: unknown } | null;
  if (x && typeof x.code === 'string' && /^[A-Z][A-Z0-9_]+$/.test(x.code)) return { code: x.code, message: String(x.message) };
  return { code: fallback, message: String(x?.message ?? e) };
}

let busy = 0;
/** Work started for some input: body data-state="busy" until every piece of work has ended. */
export function begin(): () => void {
  busy++;
  document.body.dataset.state = 'busy';
  let ended = false;
  return () => {
    if (ended) return;
    ended = true;
    if (--busy === 0) document.body.dataset.state = 'done';
  };
}

export function hex(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += x.toString(16).padStart(2, '0');
  return s;
}

export function bytesText(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}

/** "3 h 12 min", "4 years 8 months", … for a duration in ms (≥ 0). */
export function ageText(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 90) return `${s} s`;
  const min = Math.round(s / 60);
  if (min < 120) return `${min} min`;
  const hrs = Math.floor(min / 60);
  if (hrs < 48) return `${hrs} h ${min % 60} min`;
  const days = Math.floor(hrs / 24);
  if (days < 60) return `${days} days`;
  const months = Math.floor(days / 30.44);
  if (months < 24) return `${months} months`;
  return `${Math.floor(months / 12)} years ${months % 12} months`;
}

/** Make `zone` accept a dropped file (and show it is a target while dragged over). */
export function dropZone(zone: HTMLElement, onFile: (f: File) => void): void {
  zone.addEventListener('dragover', (e) => {
    e.preventDefault();
    zone.classList.add('over');
  });
  zone.addEventListener('dragleave', () => zone.classList.remove('over'));
  zone.addEventListener('drop', (e) => {
    e.preventDefault();
    zone.classList.remove('over');
    const f = e.dataTransfer?.files[0];
    if (f) onFile(f);
  });
}
