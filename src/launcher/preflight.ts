/**
 * Pre-flight checks before any device call (ne-device.md §3, the top-10 table of §3.5): EIF validity (via the
 * EIF reader), memory sizing, hugepages free on the CPU pool's NUMA node, the CPU pool versus the request, the
 * CID, and the device node itself. Every check runs and all findings are returned together; only the full read
 * of the image (CRC, signature, measurements) is skipped when a cheaper check already failed.
 */
import type { ErrorCode } from '../error-codes.js';
import { accessSync, closeSync, constants, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { initCore } from '../core/index.js';
import { EifError, isEifError } from '../errors.js';
import type { Measurements } from '../eif/pcr.js';
import { SectionType } from '../eif/header.js';
import { readLayout } from '../eif/layout.js';
import { describeEifFileDetails } from '../node/describe.js';
import { fileSource, openInput } from '../node/file-source.js';
import { parseCertificatePem } from '../signing/certificate.js';
import { decodeSignatureSection } from '../signing/section.js';
import { type LauncherEnv, readSmallText } from './env.js';
import { deviceOpenMessage } from './ne-errors.js';
import { MIB, MIN_ENCLAVE_MIB, cidProblem, heartbeatTimeoutMs, minimumMemoryMiB, parseCpuList, planHugepages, requestedBytes } from './sizing.js';

export type Severity = 'fatal' | 'warning' | 'info';

export interface Finding {
  severity: Severity;
  code: ErrorCode;
  message: string;
}

export interface LaunchRequest {
  eifPath: string;
  memoryMiB: number;
  cpuCount?: number;
  cpuIds?: number[];
  /** 0 or undefined = automatic. */
  cid?: number;
  debugMode?: boolean;
}

export interface EifFacts {
  size: number;
  measurements?: Measurements;
  /** nitro-cli's metadata fields of the image (ImageName, ImageVersion, Metadata), for describe-enclaves --metadata. */
  metadata?: Record<string, unknown>;
}

export interface PreflightResult {
  findings: Finding[];
  fatal: boolean;
  eif?: EifFacts;
  /** Bytes the helper will ask for, and the hugepage regions it is expected to get (when sysfs is readable). */
  needBytes: number;
  plannedRegions?: number[];
  timeoutMs: number;
  pool?: number[];
}

/**
 * Thrown by `eif run` when a pre-flight finding is fatal; carries every finding. The code is the first fatal
 * finding's (PREFLIGHT_FAILED only if there is none); the one-line message is that finding's, or with several,
 * all of them (`N pre-flight checks failed: CODE: message; CODE: message`).
 */
export class PreflightError extends EifError {
  readonly findings: Finding[];
  constructor(findings: Finding[]) {
    const fatal = findings.filter((f) => f.severity === 'fatal');
    const message = fatal.length === 1
      ? fatal[0]!.message
      : `${fatal.length} pre-flight checks failed: ${fatal.map((f) => `${f.code}: ${f.message}`).join('; ')}`;
    super(fatal[0]?.code ?? 'PREFLIGHT_FAILED', message);
    this.findings = findings;
  }
}

function readInt(path: string): number | undefined {
  const t = readSmallText(path);
  return t !== undefined && /^\s*\d+\s*$/.test(t) ? Number(t) : undefined;
}

/** NUMA node whose cpulist contains `cpu`, if the node folders are visible. */
function nodeOfCpu(sysfs: string, cpu: number): number | undefined {
  const base = join(sysfs, 'devices', 'system', 'node');
  let names: string[];
  try {
    names = readdirSync(base).filter((n) => /^node\d+$/.test(n));
  } catch {
    return undefined;
  }
  for (const n of names) {
    const list = readSmallText(join(base, n, 'cpulist'));
    try {
      if (list !== undefined && parseCpuList(list).includes(cpu)) return Number(n.slice(4));
    } catch {
      /* unreadable list: skip */
    }
  }
  return undefined;
}

/** Free hugepages per size in bytes: on `node` when given (minus global reservations), else global. */
export function freeHugepages(sysfs: string, node: number | undefined): { free: Map<number, number>; where: string } | undefined {
  const global = join(sysfs, 'kernel', 'mm', 'hugepages');
  const perNode = node === undefined ? undefined : join(sysfs, 'devices', 'system', 'node', `node${node}`, 'hugepages');
  const dir = perNode && readdirSafe(perNode) ? perNode : global;
  const names = readdirSafe(dir);
  if (!names) return undefined;
  const free = new Map<number, number>();
  for (const n of names) {
    const m = /^hugepages-(\d+)kB$/.exec(n);
    if (!m) continue;
    const size = Number(m[1]) * 1024;
    const f = readInt(join(dir, n, 'free_hugepages')) ?? 0;
    const resv = readInt(join(global, n, 'resv_hugepages')) ?? 0;
    free.set(size, Math.max(0, f - resv));
  }
  return { free, where: dir === global ? 'host-wide' : `on NUMA node ${node}` };
}

function readdirSafe(p: string): string[] | undefined {
  try {
    return readdirSync(p);
  } catch {
    return undefined;
  }
}

function fmtSize(bytes: number): string {
  return bytes >= 1024 * MIB ? `${bytes / (1024 * MIB)} GiB` : `${bytes / MIB} MiB`;
}

/** openInput's codes as pre-flight findings (anything else: EIF_UNREADABLE). */
const EIF_OPEN_CODE: Partial<Record<ErrorCode, ErrorCode>> = { INPUT_NOT_FOUND: 'EIF_NOT_FOUND', INPUT_NOT_FILE: 'EIF_NOT_FILE' };

/**
 * Cheap EIF checks (header and section table, the signing certificate's validity period): bounded time whatever
 * the image size, so a launch with any fatal finding fails within a second.
 */
async function checkEifStructure(path: string, now: Date, out: Finding[]): Promise<number | undefined> {
  let input: { fd: number; size: number };
  try {
    input = openInput(path, 'EIF file');
  } catch (e) {
    if (!isEifError(e)) throw e;
    out.push({ severity: 'fatal', code: EIF_OPEN_CODE[e.code] ?? 'EIF_UNREADABLE', message: e.message });
    return undefined;
  }
  const size = input.size;
  try {
    const src = fileSource(input.fd, input.size);
    const layout = await readLayout(src);
    const sig = layout.sections.find((x) => x.type === SectionType.Signature);
    if (sig) {
      const cert = parseCertificatePem(decodeSignatureSection(src.read(sig.dataOffset, sig.size) as Uint8Array).certificatePem);
      if (cert.notAfter < now.getTime()) {
        out.push({ severity: 'fatal', code: 'EIF_CERT_EXPIRED', message: `the EIF's signing certificate expired on ${new Date(cert.notAfter).toISOString()}: the enclave would not boot (no heartbeat, nitro-cli issue #243); re-sign the EIF with a valid certificate` });
      } else if (cert.notBefore > now.getTime()) {
        out.push({ severity: 'fatal', code: 'EIF_CERT_NOT_YET_VALID', message: `the EIF's signing certificate is valid only from ${new Date(cert.notBefore).toISOString()}: check the host clock or re-sign` });
      }
    }
  } catch (e) {
    if (!isEifError(e)) throw e;
    out.push({ severity: 'fatal', code: 'EIF_INVALID', message: `${path} is not a valid EIF (${e.code}: ${e.message})` });
  } finally {
    closeSync(input.fd);
  }
  return size;
}

/** The full read: CRC over the whole file, COSE signature, measurements (for describe-enclaves). */
async function checkEifContents(path: string, size: number, out: Finding[]): Promise<EifFacts> {
  try {
    await initCore();
    const d = await describeEifFileDetails(path);
    if (!d.inspection.checkCrc) {
      out.push({ severity: 'fatal', code: 'EIF_BAD_CRC', message: `${path} fails its CRC check (stored 0x${d.inspection.storedCrc.toString(16)}, computed 0x${d.inspection.computedCrc.toString(16)}): the file is damaged; rebuild or re-download it` });
    }
    if (d.signature && !d.signature.payloadMatches) {
      out.push({ severity: 'warning', code: 'EIF_SIGNATURE_MISMATCH', message: 'the EIF\'s signature was made for a different PCR0 (SignatureCheck false)' });
    }
    for (const w of d.warnings) out.push({ severity: 'warning', code: 'EIF_WARNING', message: w });
    const metadata = Object.fromEntries(['ImageName', 'ImageVersion', 'Metadata'].filter((k) => k in d.describe).map((k) => [k, d.describe[k]]));
    return { size, measurements: d.inspection.measurements, metadata: Object.keys(metadata).length ? metadata : undefined };
  } catch (e) {
    if (!isEifError(e)) throw e;
    out.push({ severity: 'fatal', code: 'EIF_INVALID', message: `${path} is not a valid EIF (${e.code}: ${e.message})` });
    return { size };
  }
}

function checkDevice(device: string, out: Finding[]): void {
  try {
    accessSync(device, constants.R_OK | constants.W_OK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'EIO';
    const m = deviceOpenMessage(device, code);
    out.push({ severity: 'fatal', ...m });
  }
}

function checkCpus(env: LauncherEnv, req: LaunchRequest, deviceMissing: boolean, out: Finding[]): number[] | undefined {
  const poolPath = join(env.sysfsRoot, 'module', 'nitro_enclaves', 'parameters', 'ne_cpus');
  const text = readSmallText(poolPath);
  if (text === undefined) {
    out.push({
      severity: deviceMissing ? 'fatal' : 'warning',
      code: 'NE_CPU_POOL_UNREADABLE',
      message: `cannot read ${poolPath}: the nitro_enclaves driver is not loaded or sysfs is not visible here; load the driver and run nitro-enclaves-allocator.service${deviceMissing ? '' : ' (CPU pre-check skipped)'}`,
    });
    return undefined;
  }
  let pool: number[];
  try {
    pool = parseCpuList(text);
  } catch {
    out.push({ severity: 'fatal', code: 'NE_CPU_POOL_UNREADABLE', message: `cannot parse the CPU pool "${text.trim()}" in ${poolPath}` });
    return undefined;
  }
  const yaml = 'set cpu_count (or cpu_pool) in /etc/nitro_enclaves/allocator.yaml and restart nitro-enclaves-allocator.service';
  if (pool.length === 0) {
    out.push({ severity: 'fatal', code: 'CPU_POOL_EMPTY', message: `the enclave CPU pool is empty: ${yaml}` });
    return pool;
  }
  const siblings = readSmallText(join(env.sysfsRoot, 'devices', 'system', 'cpu', 'cpu0', 'topology', 'thread_siblings_list'));
  let tpc = 1;
  try {
    if (siblings !== undefined) tpc = Math.max(1, parseCpuList(siblings).length);
  } catch {
    /* unknown topology: assume 1 */
  }
  const want = req.cpuIds?.length ?? req.cpuCount ?? 0;
  if (req.cpuIds) {
    const seen = new Set<number>();
    const dups = req.cpuIds.filter((c) => (seen.has(c) ? true : (seen.add(c), false)));
    if (dups.length) out.push({ severity: 'fatal', code: 'CPU_IDS_DUPLICATE', message: `--cpu-ids lists CPU ${[...new Set(dups)].join(', ')} more than once` });
    const missing = [...seen].filter((c) => !pool.includes(c));
    if (missing.length) {
      out.push({ severity: 'fatal', code: 'CPU_NOT_IN_POOL', message: `CPU ${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} not in the enclave CPU pool [${text.trim()}]; pick CPUs from the pool or ${yaml}` });
    }
  } else if (req.cpuCount !== undefined && req.cpuCount > pool.length) {
    out.push({ severity: 'fatal', code: 'CPU_POOL_TOO_SMALL', message: `${req.cpuCount} CPUs requested but the enclave CPU pool has ${pool.length} ([${text.trim()}]): ${yaml}` });
  }
  if (tpc > 1 && want % tpc !== 0) {
    out.push({ severity: 'fatal', code: 'CPU_COUNT_NOT_FULL_CORES', message: `this host has ${tpc} threads per core and enclaves get whole cores: ask for a multiple of ${tpc} CPUs (driver error NE_ERR_FULL_CORES_NOT_USED otherwise)` });
  }
  return pool;
}

function checkHugepages(env: LauncherEnv, needBytes: number, pool: number[] | undefined, out: Finding[]): number[] | undefined {
  const node = pool && pool.length ? nodeOfCpu(env.sysfsRoot, pool[0]!) : undefined;
  const hp = freeHugepages(env.sysfsRoot, node);
  const advice = `set memory_mib in /etc/nitro_enclaves/allocator.yaml to at least ${Math.ceil(needBytes / MIB)} and restart nitro-enclaves-allocator.service`;
  if (!hp) {
    out.push({ severity: 'fatal', code: 'HUGEPAGES_INSUFFICIENT', message: `no hugepage pools are visible under ${env.sysfsRoot}: ${advice}` });
    return undefined;
  }
  const plan = planHugepages(needBytes, hp.free);
  const table = [...hp.free.entries()].sort((a, b) => b[0] - a[0]).map(([s, n]) => `${n} × ${fmtSize(s)}`).join(', ') || 'none';
  if (!plan) {
    const have = [...hp.free.entries()].reduce((a, [s, n]) => a + s * n, 0);
    out.push({ severity: 'fatal', code: 'HUGEPAGES_INSUFFICIENT', message: `${fmtSize(needBytes)} of hugepages needed but only ${fmtSize(have)} free ${hp.where} (${table}): ${advice}` });
    return undefined;
  }
  const total = plan.reduce((a, b) => a + b, 0);
  if (total > needBytes) {
    out.push({ severity: 'info', code: 'MEMORY_ROUNDED_UP', message: `the free hugepages (${table}) give ${fmtSize(total)} for the ${fmtSize(needBytes)} needed; the enclave gets ${fmtSize(total)}` });
  }
  if (plan.length > 64) {
    out.push({ severity: 'warning', code: 'MANY_MEMORY_REGIONS', message: `the enclave memory would be ${plan.length} hugepages, each one region; the hypervisor's region limit may be hit (NE_ERR_MEM_MAX_REGIONS): reserve 1 GiB pages for large enclaves` });
  }
  return plan;
}

/** MEMORY_TOO_SMALL's message: the one minimum (ne-device.md §3.1), and why it is that. */
function memoryTooSmall(memoryMiB: number, minMiB: number, eifBytes: number | undefined): string {
  const why = eifBytes === undefined
    ? `enclaves never get less than ${MIN_ENCLAVE_MIB} MiB`
    : `4 times the EIF size of ${Math.ceil(eifBytes / MIB)} MiB, and never less than ${MIN_ENCLAVE_MIB} MiB`;
  return `--memory ${memoryMiB} is too small: at least ${minMiB} MiB must be allocated (${why})`;
}

/** Run every pre-flight check. Never touches the device beyond an access() check. */
export async function preflight(env: LauncherEnv, req: LaunchRequest, now: Date = new Date()): Promise<PreflightResult> {
  const findings: Finding[] = [];
  const eifSize = await checkEifStructure(req.eifPath, now, findings);
  let eif: EifFacts | undefined = eifSize === undefined ? undefined : { size: eifSize };

  // One minimum for every check: MEMORY_TOO_SMALL names it, and the hugepage check plans for at least it.
  const minMiB = minimumMemoryMiB(eif?.size ?? 0);
  const validRequest = Number.isSafeInteger(req.memoryMiB) && req.memoryMiB > 0;
  if (!validRequest || req.memoryMiB < minMiB) {
    findings.push({ severity: 'fatal', code: 'MEMORY_TOO_SMALL', message: memoryTooSmall(req.memoryMiB, minMiB, eif?.size) });
  }

  if (req.cid !== undefined && req.cid !== 0) {
    const p = cidProblem(req.cid);
    if (p) findings.push({ severity: 'fatal', code: 'CID_INVALID', message: `--enclave-cid ${req.cid} ${p}; use 4 or above, or omit it for an automatic CID` });
  }

  const before = findings.length;
  checkDevice(env.device, findings);
  const deviceMissing = findings.length > before;
  const pool = checkCpus(env, req, deviceMissing, findings);
  const needBytes = requestedBytes(validRequest ? Math.max(req.memoryMiB, minMiB) : minMiB);
  const plannedRegions = checkHugepages(env, needBytes, pool, findings);

  // The full read (CRC, signature, measurements) takes time proportional to the image: only when all else passed.
  if (eif && !findings.some((f) => f.severity === 'fatal')) eif = await checkEifContents(req.eifPath, eif.size, findings);
  else if (eif) findings.push({ severity: 'info', code: 'EIF_NOT_HASHED', message: 'the EIF\'s CRC and signature were not checked because other pre-flight checks failed' });

  const memBytes = plannedRegions ? plannedRegions.reduce((a, b) => a + b, 0) : needBytes;
  return {
    findings,
    fatal: findings.some((f) => f.severity === 'fatal'),
    eif,
    needBytes,
    plannedRegions,
    timeoutMs: env.heartbeatTimeoutMs ?? heartbeatTimeoutMs(eif?.size ?? 0, memBytes),
    pool,
  };
}

/**
 * The checks of `eif run` that concern the image and the request only, not the Nitro device, CPU pool or
 * hugepages — what `eif run --emulate` checks before booting under QEMU (docs/launcher.md, "Emulation"): the EIF's
 * structure, signing certificate, memory ≥ 4 × the image and ≥ 64 MiB, the CID, then (only when those pass) the CRC
 * and the measurements. Findings are appended to `findings`.
 */
export async function imagePreflight(req: LaunchRequest, findings: Finding[], now: Date = new Date()): Promise<EifFacts | undefined> {
  const eifSize = await checkEifStructure(req.eifPath, now, findings);
  let eif: EifFacts | undefined = eifSize === undefined ? undefined : { size: eifSize };
  const minMiB = minimumMemoryMiB(eif?.size ?? 0);
  if (!(Number.isSafeInteger(req.memoryMiB) && req.memoryMiB > 0) || req.memoryMiB < minMiB) {
    findings.push({ severity: 'fatal', code: 'MEMORY_TOO_SMALL', message: memoryTooSmall(req.memoryMiB, minMiB, eif?.size) });
  }
  if (req.cid !== undefined && req.cid !== 0) {
    const p = cidProblem(req.cid);
    if (p) findings.push({ severity: 'fatal', code: 'CID_INVALID', message: `--enclave-cid ${req.cid} ${p}; use 4 or above, or omit it for an automatic CID` });
  }
  if (eif && !findings.some((f) => f.severity === 'fatal')) eif = await checkEifContents(req.eifPath, eif.size, findings);
  else if (eif) findings.push({ severity: 'info', code: 'EIF_NOT_HASHED', message: 'the EIF\'s CRC and signature were not checked because other pre-flight checks failed' });
  return eif;
}

/**
 * `preflight` under its public name (Node entry: `launchPreflight`): every pre-flight check of `eif run` without
 * launching — EIF readable, memory and CPU sizing, hugepages, device access (ne-device.md §3).
 *
 * @example
 * import { launchPreflight, launcherEnv } from 'eifkit';
 * const p = await launchPreflight(launcherEnv(), { eifPath: 'app.eif', memoryMiB: 512, cpuCount: 2 });
 * for (const f of p.findings) console.log(f.severity, f.code, f.message);
 */
export const launchPreflight: typeof preflight = preflight;
