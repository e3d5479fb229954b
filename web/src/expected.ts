/**
 * Expected values: what the page compares a document's PCRs with. Read from the textarea (nitro-cli / `eif build`
 * / `eif describe` JSON through eifkit's parsePolicyJson, or `PCRn=hex` lines), a role ARN (PCR3), an instance ID
 * (PCR4) — and carried in the URL fragment (`#PCR0=…&PCR1=…&role=…&instance=…`), which browsers never send to a
 * server. No DOM here: test/web/expected.test.ts runs it in Node.
 */
import { EifError, parsePolicyJson, pcr3FromRoleArn, pcr4FromInstanceId } from 'eifkit/browser';

export interface ExpectedInput {
  /** The textarea: JSON or PCR lines. */
  text: string;
  roleArn: string;
  instanceId: string;
}

export interface ExpectedEntry {
  index: number;
  /** 96 lowercase hex digits. */
  hex: string;
  /** Where the value came from, for the table ("JSON", "line 2", "role ARN", …). */
  source: string;
}

const HEX96 = /^[0-9a-f]{96}$/;

function bad(message: string): never {
  throw new EifError('WEB_EXPECTED_INVALID', message);
}

function pcrValue(v: string, where: string): string {
  const hex = v.trim().toLowerCase().replace(/^0x/, '');
  if (!HEX96.test(hex)) bad(`${where}: a PCR value is 96 hex digits (SHA-384), got ${JSON.stringify(v.trim().slice(0, 24))}${v.trim().length > 24 ? '…' : ''}`);
  return hex;
}

function pcrIndex(k: string, where: string): number {
  const n = Number(k);
  if (!Number.isInteger(n) || n < 0 || n > 31) bad(`${where}: PCR index ${k} is not 0..31`);
  return n;
}

/** `PCR0=hex`, `PCR0: hex`, `pcr0 hex`, `0=hex`; blank lines and `#` comments are skipped. */
function parseLines(text: string): ExpectedEntry[] {
  const out: ExpectedEntry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (line === '') return;
    const m = /^(?:pcr)?\s*(\d{1,2})\s*[:=\s]\s*(\S+)$/i.exec(line);
    if (!m) bad(`line ${i + 1}: expected "PCRn=<96 hex digits>" or measurement JSON, got ${JSON.stringify(line.slice(0, 40))}`);
    out.push({ index: pcrIndex(m[1]!, `line ${i + 1}`), hex: pcrValue(m[2]!, `line ${i + 1}`), source: `line ${i + 1}` });
  });
  return out;
}

/**
 * Every expected PCR, sorted by index. Throws EifError: WEB_EXPECTED_INVALID (lines), ATT_POLICY_INVALID (JSON).
 * A PCR given twice with different values is refused (which one would the table show?).
 */
export function parseExpected(input: ExpectedInput): ExpectedEntry[] {
  const text = input.text.trim();
  let entries: ExpectedEntry[] = [];
  if (text.startsWith('{')) {
    const policy = parsePolicyJson(text);
    for (const [k, v] of Object.entries(policy.expectedPcrs ?? {})) {
      const hex = typeof v === 'string' ? v : Array.from(v, (b) => b.toString(16).padStart(2, '0')).join('');
      entries.push({ index: pcrIndex(k, 'JSON'), hex: pcrValue(hex, `JSON PCR${k}`), source: 'JSON' });
    }
    if (entries.length === 0) bad('the JSON names no PCR');
  } else if (text !== '') {
    entries = parseLines(text);
  }
  const role = input.roleArn.trim();
  if (role !== '') {
    if (!/^arn:aws[a-z-]*:iam::\d{12}:role\/\S+$/.test(role)) bad(`role ARN: expected arn:aws:iam::<12-digit account>:role/<name>, got ${JSON.stringify(role.slice(0, 60))}`);
    entries.push({ index: 3, hex: pcr3FromRoleArn(role), source: 'role ARN' });
  }
  const instance = input.instanceId.trim();
  if (instance !== '') {
    if (!/^i-[0-9a-f]{8,17}$/.test(instance)) bad(`instance ID: expected i- and 8 or 17 hex digits, got ${JSON.stringify(instance.slice(0, 40))}`);
    entries.push({ index: 4, hex: pcr4FromInstanceId(instance), source: 'instance ID' });
  }
  const seen = new Map<number, ExpectedEntry>();
  for (const e of entries) {
    const prev = seen.get(e.index);
    if (prev && prev.hex !== e.hex) bad(`PCR${e.index} is given twice with different values (${prev.source}, ${e.source})`);
    seen.set(e.index, e);
  }
  return [...seen.values()].sort((a, b) => a.index - b.index);
}

/** The fragment for these values (`#` included; empty when there is nothing to carry). */
export function toFragment(input: ExpectedInput): string {
  const p = new URLSearchParams();
  const role = input.roleArn.trim();
  const instance = input.instanceId.trim();
  for (const e of parseExpected({ text: input.text, roleArn: '', instanceId: '' })) p.append(`PCR${e.index}`, e.hex);
  if (role) p.append('role', role);
  if (instance) p.append('instance', instance);
  const s = p.toString();
  return s === '' ? '' : `#${s}`;
}

/** The values a fragment carries, as the page's inputs (PCR lines in the textarea). Unknown keys are ignored. */
export function fromFragment(hash: string): ExpectedInput {
  const p = new URLSearchParams(hash.replace(/^#/, ''));
  const lines: string[] = [];
  for (const [k, v] of p) if (/^pcr\d{1,2}$/i.test(k)) lines.push(`PCR${Number(k.slice(3))}=${v}`);
  return { text: lines.join('\n'), roleArn: p.get('role') ?? '', instanceId: p.get('instance') ?? '' };
}
