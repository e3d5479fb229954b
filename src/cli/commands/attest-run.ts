/**
 * The work behind `eif attest inspect|verify <doc>` (the yargs definitions are in ./attest.ts, which loads this
 * module only when an attest command runs).
 *
 * `eif attest inspect|verify <doc>` — attestation documents on the command line (attestation.md §2.2; design in
 * docs/attestation.md). `<doc>` is a file or `-` (stdin), raw CBOR, base64 or hex. Exit status: 0 authentic /
 * valid, 1 not (reasons printed), 2 usage error (bad flag, unreadable file).
 */
import { decodeEmulatedDocument } from '../../attestation/document.js';
import { closeSync } from 'node:fs';
import { EifError, usageError } from '../../errors.js';
import { fromHex, toHex } from '../../util/hex.js';
import { RFC3339_SHAPE, rfc3339Ms } from '../../util/rfc3339.js';
import {
  decodeAttestationInput,
  inspectAttestation,
  parseDuration,
  parsePolicyJson,
  parseTrustAnchors,
  verifyAttestation,
  type AttestationDocument,
  type AttestationPolicy,
  type AttestationResult,
  type EifMeasurements,
} from '../../attestation/index.js';
import { MAX_DOCUMENT_BYTES } from '../../attestation/document.js';
import { normalizePolicy } from '../../attestation/policy.js';
import { BYTE_FIELD_RULES } from '../../attestation/field-rules.js';
import { openInput, readInputFile } from '../../node/file-source.js';
import { measureEifFile } from '../../node/describe.js';
import { printJson } from '../output.js';

export interface CommonArgs {
  doc: string;
  at?: string;
  /** A string, or an array when the flag is repeated. */
  root?: string | string[];
  json: boolean;
  /** Exit status only: nothing on stdout (usage errors still go to stderr). */
  quiet: boolean;
}

/** `--nonce`, `--user-data`, `--public-key`: one flag per row of BYTE_FIELD_RULES. */
type ByteFieldFlags = { [F in (typeof BYTE_FIELD_RULES)[number]['flag']]?: string };

export interface VerifyArgs extends CommonArgs, ByteFieldFlags {
  eif?: string;
  pcr?: string | string[];
  policy?: string;
  'max-age'?: string;
  'allow-debug': boolean;
}

/** Largest input read (a base64 document is 4/3 of the raw size, hex twice; whitespace on top). */
const MAX_INPUT = 4 * MAX_DOCUMENT_BYTES;
/** Largest --policy file (`eif describe` output with 4 KiB of custom metadata is well under this). */
const MAX_POLICY_BYTES = 64 * 1024;
/** Largest --root file (a PEM certificate is under 2 KiB). */
const MAX_ROOT_BYTES = 64 * 1024;
/** The largest time a Date can hold (ms). */
const MAX_TIME_MS = 8.64e15;

/** RFC 3339 date-time or epoch milliseconds → ms. Impossible dates and times out of Date's range are refused. */
export function parseTime(text: string): number {
  const t = text.trim();
  if (/^\d{1,16}$/.test(t)) {
    if (Number(t) <= MAX_TIME_MS) return Number(t);
    throw usageError(`--at: ${t} is later than the last time a date can hold (${MAX_TIME_MS} ms)`);
  }
  const ms = rfc3339Ms(t);
  if (ms !== undefined) return ms;
  if (RFC3339_SHAPE.test(t)) {
    throw usageError(`--at: ${JSON.stringify(text)} is not a real date and time (no such day in that month, or hour, minute, second or offset out of range)`);
  }
  throw usageError(`--at: ${JSON.stringify(text)} is neither an RFC 3339 time (2025-11-10T17:20:10Z) nor epoch milliseconds`);
}

/**
 * All of stdin, up to `limit` bytes, through process.stdin: libuv waits for the data on the event loop (also for a
 * non-blocking stdin, without spinning), so Ctrl-C / SIGTERM while waiting are handled (the CLI's INTERRUPTED
 * line). A synchronous read held the signal until stdin closed, and a read on the thread pool kept the process
 * from exiting.
 */
async function readStdin(what: string, limit: number, tooLargeExit: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > limit) break;
      chunks.push(chunk);
    }
  } catch (e) {
    throw usageError(`cannot read ${what} from stdin: ${(e as Error).message}`);
  } finally {
    process.stdin.destroy();
  }
  if (total > limit) throw new EifError('ATT_INPUT_TOO_LARGE', `${what} on stdin is larger than ${limit} bytes`, { exitCode: tooLargeExit });
  const out = new Uint8Array(total);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

/**
 * Read a whole file (or stdin for '-') of at most `limit` bytes, through openInput. An empty path, or a file
 * that cannot be read (missing, a directory, a FIFO, a device…), is a usage error (USAGE_INPUT); a larger
 * input fails with ATT_INPUT_TOO_LARGE and exit status `tooLargeExit`.
 */
async function readInput(path: string, what: string, limit: number, tooLargeExit: number): Promise<Uint8Array> {
  if (path === '') throw usageError(`${what}: the path is empty ('-' reads stdin)`, 'USAGE_INPUT');
  if (path === '-') return readStdin(what, limit, tooLargeExit);
  try {
    return readInputFile(path, what, { bytes: limit, code: 'ATT_INPUT_TOO_LARGE' });
  } catch (e) {
    if (e instanceof EifError && e.code === 'ATT_INPUT_TOO_LARGE') throw new EifError(e.code, e.message, { exitCode: tooLargeExit });
    if (!(e instanceof EifError) && typeof (e as NodeJS.ErrnoException)?.code !== 'string') throw e; // a bug, not the file
    throw usageError((e as Error).message, 'USAGE_INPUT');
  }
}

function hexFlag(value: string | undefined, flag: string): Uint8Array | undefined {
  if (value === undefined) return undefined;
  try {
    return fromHex(value, flag);
  } catch (e) {
    throw usageError((e as Error).message);
  }
}

/** --root files (PEM or DER), checked here so a bad anchor is a usage error. */
async function loadRoots(flag: string | string[] | undefined): Promise<Uint8Array[] | undefined> {
  const files = flag === undefined ? [] : ([] as string[]).concat(flag);
  if (files.length === 0) return undefined;
  const out: Uint8Array[] = [];
  for (const f of files) {
    const bytes = await readInput(f, 'root certificate', MAX_ROOT_BYTES, 2);
    try {
      parseTrustAnchors([bytes]);
    } catch (e) {
      throw usageError(`--root ${f}: ${(e as Error).message}`, 'ATT_ROOTS_INVALID');
    }
    out.push(bytes);
  }
  return out;
}

function hexOrNull(b: Uint8Array | null): string | null {
  return b === null ? null : toHex(b);
}

/** The document as JSON: byte fields as lowercase hex, times as ISO 8601. */
function documentJson(d: AttestationDocument): Record<string, unknown> {
  return {
    moduleId: d.moduleId,
    digest: d.digest,
    timestamp: d.timestamp,
    time: new Date(d.timestamp).toISOString(),
    debug: d.debug,
    pcrs: Object.fromEntries(Object.entries(d.pcrs).map(([i, v]) => [i, toHex(v)])),
    publicKey: hexOrNull(d.publicKey),
    userData: hexOrNull(d.userData),
    nonce: hexOrNull(d.nonce),
    tagged: d.tagged,
    indefiniteMap: d.indefiniteMap,
    chain: d.chain,
  };
}

function optionalText(b: Uint8Array | null): string {
  if (b === null) return 'null';
  return b.length === 0 ? "h'' (empty)" : `${toHex(b)} (${b.length} bytes)`;
}

/**
 * The human report: the verdict first, then its reasons and the time hint, then the document's details (a reader
 * who sees only the first lines knows the answer).
 */
function printReport(source: string, encoding: string, r: AttestationResult, verdict: string, hint: string | undefined): void {
  const out: string[] = [`verdict       ${verdict}`];
  for (const e of r.errors) out.push(`  ${e.code}: ${e.message}`);
  if (hint) out.push(`note          ${hint}`);
  out.push(`document      ${source} (${encoding})`);
  const d = r.document;
  if (d) {
    out.push(
      `module_id     ${d.moduleId}`,
      `digest        ${d.digest}`,
      `timestamp     ${new Date(d.timestamp).toISOString()} (${d.timestamp})`,
      `mode          ${d.debug ? 'DEBUG (PCR0/1/2 all zero)' : 'production'}`,
      'pcrs',
    );
    for (const [i, v] of Object.entries(d.pcrs)) out.push(`  PCR${i.padEnd(3)} ${toHex(v)}`);
    out.push(`public_key    ${optionalText(d.publicKey)}`, `user_data     ${optionalText(d.userData)}`, `nonce         ${optionalText(d.nonce)}`);
    if (d.chain.length) {
      out.push('certificates');
      for (const c of d.chain) {
        out.push(`  ${c.role.padEnd(12)} ${c.subject}`, `  ${''.padEnd(12)} valid ${c.notBefore} .. ${c.notAfter}`);
      }
    }
  }
  process.stdout.write(out.join('\n') + '\n');
}

/**
 * A document checked at "now" whose certificates have expired (they live ~3 h): was it authentic at its own
 * timestamp? Then say so and suggest `--at <timestamp>`. Only when no --at was given and a validity period is
 * among the failures; the answer is an inspection (chain and signature) at the document's time.
 */
async function validAtDocumentTime(
  r: AttestationResult,
  bytes: Uint8Array,
  a: CommonArgs,
  roots: Uint8Array[] | undefined,
): Promise<{ valid: boolean; hint?: string } | undefined> {
  if (a.at !== undefined || !r.document || !r.errors.some((e) => e.code === 'ATT_CERT_VALIDITY')) return undefined;
  const then = await inspectAttestation(bytes, { at: r.document.timestamp, roots });
  const iso = new Date(r.document.timestamp).toISOString();
  if (!then.ok) return { valid: false };
  return {
    valid: true,
    hint: `the certificate chain was valid at the document's own time (${iso}) but is not now; to check it as of then: --at ${iso}`,
  };
}

function resultJson(r: AttestationResult, encoding: string, then: { valid: boolean; hint?: string } | undefined): Record<string, unknown> {
  return {
    ok: r.ok,
    errors: r.errors,
    ...(then ? { validAtDocumentTime: then.valid, ...(then.hint ? { hint: then.hint } : {}) } : {}),
    encoding,
    document: r.document ? documentJson(r.document) : null,
  };
}

interface ReadDocument {
  bytes: Uint8Array;
  encoding: string;
  at: number | undefined;
  roots: Uint8Array[] | undefined;
  /** Set when the input is not a document at all (ATT_INPUT_NOT_DOCUMENT, …): the verdict without verifying. */
  refused?: AttestationResult;
}

async function readDocument(a: CommonArgs): Promise<ReadDocument> {
  const at = a.at === undefined ? undefined : parseTime(a.at);
  const roots = await loadRoots(a.root);
  const raw = await readInput(a.doc, 'attestation document', MAX_INPUT, 1);
  try {
    const { bytes, encoding } = decodeAttestationInput(raw);
    return { bytes, encoding, at, roots };
  } catch (e) {
    if (!(e instanceof EifError)) throw e;
    const refused = { ok: false, errors: [{ code: e.code, message: e.message }], document: null } as AttestationResult;
    return { bytes: raw, encoding: 'unrecognized', at, roots, refused };
  }
}

/** Print the result as --json, --quiet or the report asks, and set the exit status. */
async function report(a: CommonArgs, d: ReadDocument, r: AttestationResult, verdicts: [string, string]): Promise<void> {
  process.exitCode = r.ok ? 0 : 1;
  if (a.quiet) return;
  const then = r.ok ? undefined : await validAtDocumentTime(r, d.bytes, a, d.roots);
  if (a.json) printJson(resultJson(r, d.encoding, then));
  else printReport(a.doc === '-' ? 'stdin' : a.doc, d.encoding, r, r.ok ? verdicts[0] : verdicts[1], then?.hint);
}

/** Expected PCRs from repeated --pcr N=HEX flags. */
function pcrFlags(flag: string | string[] | undefined): Record<number, string> {
  const out: Record<number, string> = {};
  for (const item of flag === undefined ? [] : ([] as string[]).concat(flag)) {
    const m = /^(?:PCR)?(\d{1,2})=(?:0x)?([0-9a-fA-F]+)$/i.exec(item.trim());
    if (!m || Number(m[1]) > 31) throw usageError(`--pcr ${JSON.stringify(item)}: expected N=HEX with N in 0..31`);
    if (m[2]!.length !== 96) throw usageError(`--pcr ${item}: a PCR is 48 bytes (96 hex digits), found ${m[2]!.length} digits`);
    const n = Number(m[1]);
    if (out[n] !== undefined && out[n]!.toLowerCase() !== m[2]!.toLowerCase()) throw usageError(`--pcr: PCR${n} given twice with different values`);
    out[n] = m[2]!;
  }
  return out;
}

async function buildPolicy(a: VerifyArgs): Promise<AttestationPolicy> {
  let fromFile: AttestationPolicy = {};
  if (a.policy !== undefined) {
    const text = new TextDecoder().decode(await readInput(a.policy, 'policy file', MAX_POLICY_BYTES, 2));
    try {
      fromFile = parsePolicyJson(text);
      // every value checked now (a PCR that is not 48 bytes of hex…), so a bad file is a usage error, not a verdict
      await normalizePolicy(fromFile).catch((e: unknown) => {
        if (!(e instanceof EifError && e.code === 'ATT_POLICY_EMPTY')) throw e; // flags may add the checks
      });
    } catch (e) {
      throw usageError(`--policy ${a.policy}: ${(e as Error).message}`, 'ATT_POLICY_INVALID');
    }
  }
  let eif: EifMeasurements | undefined;
  if (a.eif !== undefined) {
    try {
      closeSync(openInput(a.eif, 'EIF').fd); // a missing or unreadable file is a usage error
    } catch (e) {
      throw usageError((e as Error).message, 'USAGE_INPUT');
    }
    try {
      eif = await measureEifFile(a.eif);
    } catch (e) {
      const code = e instanceof EifError ? `${e.code}: ` : '';
      throw new EifError('ATT_EIF_UNREADABLE', `cannot measure ${a.eif}: ${code}${(e as Error).message}`);
    }
  }
  let maxAgeMs = fromFile.maxAgeMs;
  if (a['max-age'] !== undefined) {
    try {
      maxAgeMs = parseDuration(a['max-age']);
    } catch (e) {
      throw usageError(`--max-age: ${(e as Error).message}`);
    }
  }
  const flagsPcrs = pcrFlags(a.pcr);
  const expectedPcrs = { ...fromFile.expectedPcrs, ...flagsPcrs };
  return {
    expectedPcrs: Object.keys(expectedPcrs).length ? expectedPcrs : undefined,
    eif,
    ...Object.fromEntries(BYTE_FIELD_RULES.map((r) => [r.key, hexFlag(a[r.flag], `--${r.flag}`) ?? fromFile[r.key]])),
    maxAgeMs,
    allowDebug: a['allow-debug'] || fromFile.allowDebug === true,
  };
}

/** `eif attest inspect`: authenticity only. */
export async function runInspect(a: CommonArgs): Promise<void> {
  const d = await readDocument(a);
  const r = withEmulatedDocument(d.refused ?? (await inspectAttestation(d.bytes, { at: d.at, roots: d.roots })), d.bytes);
  const emulated = r.errors.length === 1 && r.errors[0]!.code === 'ATT_EMULATED_DOCUMENT';
  await report(a, d, r, ['AUTHENTIC', emulated ? 'NOT AUTHENTIC: emulated (unsigned) document' : 'NOT AUTHENTIC']);
}

/**
 * A document from QEMU's nitro-enclave machine (`eif run --emulate`) is refused as ATT_EMULATED_DOCUMENT; inspect
 * still shows its fields and PCRs (docs/launcher.md, "Emulation"), decoded by decodeEmulatedDocument. The verdict
 * stays NOT AUTHENTIC (exit 1).
 */
function withEmulatedDocument(r: AttestationResult, bytes: Uint8Array): AttestationResult {
  if (r.document || !r.errors.some((e) => e.code === 'ATT_EMULATED_DOCUMENT')) return r;
  try {
    return { ...r, document: decodeEmulatedDocument(bytes) };
  } catch {
    return r;
  }
}

/** `eif attest verify`: authenticity and the policy. */
export async function runVerify(a: VerifyArgs): Promise<void> {
  const d = await readDocument(a);
  const policy = await buildPolicy(a);
  const r = d.refused ?? (await verifyAttestation(d.bytes, { ...policy, at: d.at, roots: d.roots }));
  await report(a, d, r, ['VALID', 'INVALID']);
}
