/**
 * `eif verify`: structure + contiguity + CRC + signature + expected PCRs, every check reported, ok only when all
 * hold (eif-format.md Appendix B). Structural errors are reported as a failed check, not thrown.
 */
import { readInputFile } from './file-source.js';
import { EifError } from '../errors.js';
import { type Measurements, pcrMapOfJson, UNSIGNED_PCR8 } from '../eif/pcr.js';
import { type ReadOptions, inspectEifFile } from './reader.js';

export type PcrName = 'PCR0' | 'PCR1' | 'PCR2' | 'PCR8';
export const PCR_NAMES: PcrName[] = ['PCR0', 'PCR1', 'PCR2', 'PCR8'];

export interface VerifyEifOptions extends ReadOptions {
  expected?: Partial<Record<PcrName, string>>;
  /** PEM bytes of the certificate the image must be signed with. */
  signingCertificatePem?: Uint8Array;
}

export interface VerifyCheck {
  check: string;
  ok: boolean;
  /** Stable code of the failure. */
  code?: string;
  detail: string;
}

export interface VerifyEifResult {
  ok: boolean;
  checks: VerifyCheck[];
  measurements?: Measurements;
}

const HEX96 = /^[0-9a-f]{96}$/;

/** Normalise and check expected PCR values (96 hex digits each). Throws BAD_PCR_VALUE (usage). */
export function normaliseExpected(e: Partial<Record<string, unknown>>, source: string): Partial<Record<PcrName, string>> {
  const out: Partial<Record<PcrName, string>> = {};
  for (const k of PCR_NAMES) {
    const v = e[k];
    if (v === undefined || v === null) continue;
    const t = typeof v === 'string' ? v.trim().toLowerCase().replace(/^0x/, '') : '';
    if (!HEX96.test(t)) throw new EifError('BAD_PCR_VALUE', `${k} in ${source} must be 96 hex digits (a SHA-384 PCR)`, { exitCode: 2 });
    out[k] = t;
  }
  return out;
}

/** An expectations file is a few hundred bytes of JSON (eif build / describe output); 1 MiB is generous. */
const MAX_EXPECT_FILE = 1 << 20;

/** Read expected measurements from a JSON file: nitro-cli build/describe output or a bare map. */
export function readExpectFile(path: string): Partial<Record<PcrName, string>> {
  let v: unknown;
  let bytes: Uint8Array;
  try {
    bytes = readInputFile(path, 'expectations file', { bytes: MAX_EXPECT_FILE, code: 'EXPECT_TOO_LARGE' });
  } catch (e) {
    if (e instanceof EifError) throw new EifError(e.code, e.message, { exitCode: 2 });
    throw e;
  }
  try {
    // `eif build --format eif_build` / eif_build print `Output file: <path>` before the JSON map (eif-format.md §6.1)
    v = JSON.parse(new TextDecoder().decode(bytes).replace(/^\uFEFF?Output file: [^\n]*\n/, ''));
  } catch (e) {
    throw new EifError('EXPECT_NOT_JSON', `expectations file ${path} is not JSON: ${(e as Error).message}`, { exitCode: 2 });
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) {
    throw new EifError('EXPECT_EMPTY', `expectations file ${path} is not a JSON object with PCR0/PCR1/PCR2/PCR8`, { exitCode: 2 });
  }
  // A tool's output for a whole image pins PCR0/1/2 and PCR8 (no PCR8: "unsigned", zeros); a bare map, what it lists.
  let fields: Record<string, unknown>;
  try {
    fields = pcrMapOfJson(v as Record<string, unknown>).map;
  } catch (e) {
    if (e instanceof EifError) throw new EifError('EXPECT_INCOMPLETE', `expectations file ${path}: ${e.message}`, { exitCode: 2 });
    throw e;
  }
  const out = normaliseExpected(fields, path);
  if (Object.keys(out).length === 0) throw new EifError('EXPECT_EMPTY', `expectations file ${path} has no PCR0/PCR1/PCR2/PCR8`, { exitCode: 2 });
  return out;
}

/**
 * Verify an EIF file: structure, contiguity, CRC, signature (against `signingCertificatePem` when given) and the
 * `expected` PCRs, every check reported; `ok` only when all hold (eif-format.md Appendix B).
 *
 * @example
 * import { verifyEifFile } from 'eifkit';
 * const r = await verifyEifFile('app.eif', { expected: { PCR0: pcr0Hex } }); // 96 hex digits
 * for (const c of r.checks) if (!c.ok) console.log(c.check, c.code, c.detail);
 */
export async function verifyEifFile(path: string, o: VerifyEifOptions = {}): Promise<VerifyEifResult> {
  const checks: VerifyCheck[] = [];
  const fail = (check: string, code: string, detail: string) => checks.push({ check, ok: false, code, detail });
  const pass = (check: string, detail: string) => checks.push({ check, ok: true, detail });
  let inspection;
  try {
    inspection = await inspectEifFile(path, o);
  } catch (e) {
    if (!(e instanceof EifError) || !e.code.startsWith('EIF_')) throw e;
    fail('structure', e.code, e.message);
    return { ok: false, checks };
  }
  const { layout } = inspection;
  pass('structure', `EIF v${layout.header.version}, ${layout.sections.length} sections, ${layout.fileSize} bytes`);
  // Header rules of the boot stack (src/eif/boot-rules.ts): each its own failed check and code.
  if (layout.headerFindings.length === 0) pass('header', `flags 0x${layout.header.flags.toString(16)} and version ${layout.header.version} fit the image`);
  for (const f of layout.headerFindings) checks.push({ check: 'header', ok: false, code: f.code, detail: f.message });
  if (layout.contiguous) pass('contiguous', 'sections follow each other from byte 548 to the end of the file');
  else fail('contiguous', 'EIF_NOT_CONTIGUOUS', layout.warnings.join('; '));
  const crcHex = (n: number) => '0x' + n.toString(16).padStart(8, '0');
  if (inspection.checkCrc) pass('crc', `CRC-32 ${crcHex(inspection.storedCrc)}`);
  else fail('crc', 'EIF_CRC_MISMATCH', `stored CRC ${crcHex(inspection.storedCrc)}, computed ${crcHex(inspection.computedCrc)}`);

  const m = inspection.measurements;
  const verdict = inspection.signature;
  const sig = verdict?.inspection;
  if (verdict?.error && !sig) fail('signature', verdict.error.code, verdict.error.message);
  if (sig) {
    if (verdict!.error) fail('signature', verdict!.error.code, verdict!.error.message);
    else pass('signature', `COSE_Sign1 ${sig.algorithm} verifies with the embedded certificate`);
    if (sig.payloadMatches) pass('signed-pcr0', 'the signed payload is this image\'s PCR0');
    else fail('signed-pcr0', 'SIG_PAYLOAD_MISMATCH', 'the signed payload is not this image\'s PCR0 (SignatureCheck false)');
  }
  const expected = { ...(o.expected ?? {}) };
  if (o.signingCertificatePem) {
    const { pcr8FromCertificatePem } = await import('../signing/certificate.js'); // loaded only when asked for
    const want = pcr8FromCertificatePem(o.signingCertificatePem);
    // An expectations file of an unsigned build implies PCR8 zero; the certificate names the signer explicitly.
    if (expected.PCR8 !== undefined && expected.PCR8 !== UNSIGNED_PCR8 && expected.PCR8 !== want) {
      fail('PCR8', 'PCR_MISMATCH', 'the --signing-certificate and the expected PCR8 disagree');
    }
    expected.PCR8 = want;
  }
  for (const k of PCR_NAMES) {
    const want = expected[k];
    if (want === undefined) continue;
    // An unsigned image's enclave reports PCR8 as zeros (eif-format.md §3.2): that is what an unsigned image "has".
    const unsigned = inspection.signatureBytes === undefined;
    const got = k === 'PCR8' && unsigned ? UNSIGNED_PCR8 : m[k];
    if (got === want) pass(k, got);
    else if (got === undefined) fail(k, 'PCR_ABSENT', `${k} expected ${want}, but the signature section could not be read`);
    else if (k === 'PCR8' && unsigned) fail(k, 'PCR_ABSENT', `${k} expected ${want}, but the image is not signed`);
    else if (k === 'PCR8' && want === UNSIGNED_PCR8) fail(k, 'PCR_MISMATCH', `the expectations are of an unsigned image (PCR8 zero), but this image is signed (PCR8 ${got})`);
    else fail(k, 'PCR_MISMATCH', `expected ${want}, got ${got}`);
  }
  return { ok: checks.every((c) => c.ok), checks, measurements: m };
}
