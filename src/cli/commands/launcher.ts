/**
 * Enclave lifecycle commands with nitro-cli's flag names and JSON (ne-device.md §4): `eif run`,
 * `eif describe-enclaves`, `eif terminate-enclave`, `eif console`. Progress lines go to stderr, JSON to stdout.
 */
import { existsSync } from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import { EifError, usageError } from '../../errors.js';
import type { Finding, PreflightError } from '../../launcher/preflight.js';
import { readInputFile } from '../../node/file-source.js';

/** The launcher is loaded only by the commands that use it (keeps every other command's start-up short). */
const launcher = () => import('../../launcher/launcher.js');
import { parseCpuList } from '../../launcher/sizing.js';
import { printJson } from '../output.js';

interface RunArgs {
  'eif-path'?: string;
  'cpu-count'?: number;
  'cpu-ids'?: (string | number)[];
  memory?: number;
  'enclave-cid'?: number;
  'enclave-name'?: string;
  'debug-mode': boolean;
  'attach-console': boolean;
  config?: string;
  emulate: boolean;
  qemu?: string;
}

interface RunSettings {
  eifPath: string;
  memoryMiB: number;
  cpuCount?: number;
  cpuIds?: number[];
  cid?: number;
  name?: string;
  debug: boolean;
  attachConsole: boolean;
}

export function intOf(v: unknown, what: string): number {
  const n = typeof v === 'string' && /^\s*\d+\s*$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw usageError(`${what} must be a non-negative integer`);
  return n;
}

function cpuIdsOf(v: unknown): number[] {
  const parts = (Array.isArray(v) ? v : [v]).map(String);
  try {
    return parts.flatMap((p) => parseCpuList(p));
  } catch (e) {
    throw usageError(`--cpu-ids: ${(e as Error).message}`);
  }
}

/** Far more than any run-enclave config (a handful of keys); a bigger file is not one. */
const CONFIG_LIMIT = 64 * 1024;

/** Node's JSON.parse message without the echo of the file's text, with a line and column where it gives one. */
function jsonProblem(e: unknown, text: string): string {
  let m = String((e as Error)?.message ?? e).replace(/,\s*"[\s\S]*" is not valid JSON$/, '');
  const at = / in JSON at position (\d+)[\s\S]*$/.exec(m);
  if (at) {
    const before = text.slice(0, Number(at[1]));
    const line = before.split('\n').length;
    m = `${m.slice(0, at.index)} at line ${line}, column ${before.length - before.lastIndexOf('\n')}`;
  }
  return m.replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * nitro-cli's `--config` JSON: the same settings as snake_case keys. Read through readInputFile (a FIFO or device
 * is refused, not waited on). Codes: INPUT_*, CONFIG_TOO_LARGE, CONFIG_NOT_JSON, CONFIG_NOT_OBJECT, USAGE.
 */
function settingsFromConfig(path: string): RunSettings {
  const bytes = readInputFile(path, '--config file', { bytes: CONFIG_LIMIT, code: 'CONFIG_TOO_LARGE' });
  const shape = 'an object such as {"eif_path": "app.eif", "memory_mib": 512, "cpu_count": 2}';
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw usageError(`--config ${path} is not JSON (not UTF-8 text); it must hold ${shape}`, 'CONFIG_NOT_JSON');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    const why = text.trim() === '' ? 'the file is empty' : jsonProblem(e, text);
    throw usageError(`--config ${path} is not valid JSON (${why}); it must hold ${shape}`, 'CONFIG_NOT_JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    const kind = parsed === null ? 'null' : Array.isArray(parsed) ? 'an array' : `a ${typeof parsed}`;
    throw usageError(`--config ${path} holds ${kind}, not a JSON object; it must hold ${shape}`, 'CONFIG_NOT_OBJECT');
  }
  const c = parsed as Record<string, unknown>;
  const known = ['enclave_name', 'cpu_count', 'cpu_ids', 'memory_mib', 'eif_path', 'enclave_cid', 'debug_mode', 'attach_console'];
  const unknown = Object.keys(c).filter((k) => !known.includes(k));
  if (unknown.length) throw usageError(`--config ${path}: unknown key(s) ${unknown.join(', ')}`);
  if (typeof c.eif_path !== 'string') throw usageError(`--config ${path}: eif_path (string) is required`);
  if ((c.cpu_count === undefined) === (c.cpu_ids === undefined)) throw usageError(`--config ${path}: give exactly one of cpu_count and cpu_ids`);
  if (c.memory_mib === undefined) throw usageError(`--config ${path}: memory_mib is required`);
  const attach = c.attach_console === true;
  return {
    eifPath: c.eif_path,
    memoryMiB: intOf(c.memory_mib, 'memory_mib'),
    cpuCount: c.cpu_count === undefined ? undefined : intOf(c.cpu_count, 'cpu_count'),
    cpuIds: c.cpu_ids === undefined ? undefined : (Array.isArray(c.cpu_ids) ? c.cpu_ids : [c.cpu_ids]).map((x) => intOf(x, 'cpu_ids')),
    cid: c.enclave_cid === undefined ? undefined : intOf(c.enclave_cid, 'enclave_cid'),
    name: typeof c.enclave_name === 'string' ? c.enclave_name : undefined,
    debug: c.debug_mode === true || attach,
    attachConsole: attach,
  };
}

function settingsFromArgs(a: RunArgs): RunSettings {
  if (a.config !== undefined) {
    const flags = ['eif-path', 'cpu-count', 'cpu-ids', 'memory', 'enclave-cid', 'enclave-name'] as const;
    const clash = flags.filter((f) => a[f] !== undefined);
    if (clash.length || a['debug-mode'] || a['attach-console']) throw usageError(`--config cannot be combined with ${clash.map((f) => `--${f}`).join(', ') || 'other launch flags'}`);
    return settingsFromConfig(a.config);
  }
  if (a['eif-path'] === undefined) throw usageError('--eif-path is required');
  if (a.memory === undefined) throw usageError('--memory (MiB) is required');
  if ((a['cpu-count'] === undefined) === (a['cpu-ids'] === undefined)) throw usageError('give exactly one of --cpu-count and --cpu-ids');
  return {
    eifPath: a['eif-path'],
    memoryMiB: intOf(a.memory, '--memory'),
    cpuCount: a['cpu-count'] === undefined ? undefined : intOf(a['cpu-count'], '--cpu-count'),
    cpuIds: a['cpu-ids'] === undefined ? undefined : cpuIdsOf(a['cpu-ids']),
    cid: a['enclave-cid'] === undefined ? undefined : intOf(a['enclave-cid'], '--enclave-cid'),
    name: a['enclave-name'],
    debug: a['debug-mode'] || a['attach-console'],
    attachConsole: a['attach-console'],
  };
}

const LABEL = { fatal: 'error', warning: 'warning', info: 'note' } as const;

export function printFinding(f: Finding): void {
  process.stderr.write(`eif: ${LABEL[f.severity]} ${f.code}: ${f.message}\n`);
}

/**
 * A failed pre-flight: every finding as an indented detail line (so the user fixes everything in one go), then the
 * returned error, which main prints as the last line: `eif: error CODE: …` with the first fatal finding's code.
 */
export function preflightFailure(e: PreflightError): EifError {
  const fatal = e.findings.filter((f) => f.severity === 'fatal');
  if (e.findings.length > 1) {
    process.stderr.write('eif: pre-flight findings (nothing was started):\n');
    for (const f of e.findings) process.stderr.write(`  ${LABEL[f.severity]} ${f.code}: ${f.message}\n`);
  }
  const summary = fatal.length === 1
    ? fatal[0]!.message
    : `${fatal.length} pre-flight checks failed (${fatal.map((f) => f.code).join(', ')}); see the findings above`;
  return new EifError(e.code, summary, { exitCode: e.exitCode });
}

async function runHandler(a: RunArgs): Promise<void> {
  if (a.emulate) return (await import('./run-emulate.js')).runEmulatedHandler(a);
  if (a.qemu !== undefined) throw usageError('--qemu goes with --emulate');
  const s = settingsFromArgs(a);
  if (s.cpuCount === 0) throw usageError('--cpu-count must be at least 1');
  if (s.cpuIds && s.cpuIds.length === 0) throw usageError('--cpu-ids lists no CPU');
  if (s.cid === 0) process.stderr.write('eif: note: --enclave-cid 0 means an automatically assigned CID\n');
  let announced = false;
  const { runEnclave, pipeConsole, openConsole } = await launcher();
  const preflight = await import('../../launcher/preflight.js');
  // Warnings and notes wait until the launch goes ahead: on a failed pre-flight they are part of its details.
  const pending: Finding[] = [];
  const flush = (): void => pending.splice(0).forEach(printFinding);
  try {
    const { result } = await runEnclave({
      eifPath: s.eifPath,
      memoryMiB: s.memoryMiB,
      cpuCount: s.cpuCount,
      cpuIds: s.cpuIds,
      cid: s.cid,
      debugMode: s.debug,
      enclaveName: s.name,
      onFinding: (f) => pending.push(f),
      onEvent: (ev) => {
        flush();
        if (ev.event === 'created' && !announced) {
          announced = true;
          process.stderr.write('Start allocating memory...\n');
        }
      },
      onStarted: (st) =>
        process.stderr.write(`Started enclave with enclave-cid: ${st.cid}, memory: ${st.memoryMiB} MiB, cpu-ids: [${st.cpuIds.join(', ')}]\n`),
    });
    flush();
    printJson(result);
    if (s.attachConsole) await pipeConsole(openConsole(result.EnclaveID), process.stdout);
  } catch (e) {
    if (e instanceof preflight.PreflightError) throw preflightFailure(e);
    flush();
    throw e;
  }
}

export type { RunArgs };

export const runCommand: CommandModule<object, RunArgs> = {
  command: 'run',
  aliases: ['run-enclave'],
  describe: 'Start an enclave from an EIF (nitro-cli run-enclave); needs /dev/nitro_enclaves, or --emulate (QEMU)',
  builder: (y: Argv) =>
    y
      .option('eif-path', { type: 'string', describe: 'EIF file to run' })
      .option('cpu-count', { type: 'number', describe: 'number of CPUs from the enclave pool' })
      .option('cpu-ids', { type: 'array', string: true, describe: 'explicit CPU ids from the pool (e.g. 1 3, or 1,3)' })
      .option('memory', { type: 'number', describe: 'enclave memory in MiB (≥ 4 × EIF size, ≥ 64)' })
      .option('enclave-cid', { type: 'number', describe: 'vsock CID (default: automatic); 4 or above' })
      .option('enclave-name', { type: 'string', describe: 'name (default: EIF file name without .eif)' })
      .option('debug-mode', { type: 'boolean', default: false, describe: 'start in debug mode (console available; PCRs read as zero)' })
      .option('attach-console', { type: 'boolean', default: false, describe: 'show the console after start (implies --debug-mode)' })
      .option('config', { type: 'string', describe: 'JSON file with the same settings in snake_case (nitro-cli)' })
      .option('emulate', { type: 'boolean', default: false, describe: 'boot on QEMU\'s nitro-enclave machine instead of Nitro hardware (docs/launcher.md, Emulation)' })
      .option('qemu', { type: 'string', describe: 'with --emulate: the qemu-system-x86_64 to use (default: project cache, then PATH)' })
      .example('$0 run --emulate --eif-path hello.eif --debug-mode', 'boot the image under QEMU (no Nitro hardware needed)')
      .example('$0 run --eif-path hello.eif --cpu-count 2 --memory 512', 'start an enclave with 2 CPUs and 512 MiB') as unknown as Argv<RunArgs>,
  handler: runHandler,
};

interface DescribeEnclavesArgs {
  metadata: boolean;
}

export const describeEnclavesCommand: CommandModule<object, DescribeEnclavesArgs> = {
  command: 'describe-enclaves',
  describe: 'List running enclaves with state, CPUs, memory and measurements (nitro-cli JSON)',
  builder: (y: Argv) =>
    y.option('metadata', { type: 'boolean', default: false, describe: 'add ImageName, ImageVersion and Metadata from each enclave\'s EIF' }) as unknown as Argv<DescribeEnclavesArgs>,
  handler: async (a) => {
    const { describeEnclaves } = await launcher();
    const { launcherEnv } = await import('../../launcher/env.js');
    const env = launcherEnv();
    // nitro-cli lists its enclave processes without touching the device and prints [] on a host without one;
    // so do we, but we say why the list is empty rather than let `[]` suggest that enclaves could run here.
    const list = await describeEnclaves(env, { metadata: a.metadata });
    // (emulated enclaves, `eif run --emulate`, need no device: no warning when the list has one)
    if (!existsSync(env.device) && !list.some((e) => e.Emulated)) {
      process.stderr.write(`eif: warning NE_DEVICE_MISSING: ${env.device} does not exist: this host cannot run enclaves (enclave support off, driver not loaded, or the device not mapped into the container)\n`);
    }
    printJson(list);
  },
};

interface TerminateArgs {
  'enclave-id'?: string;
  'enclave-name'?: string;
  all: boolean;
}

/** The enclave a command names: `--enclave-id`, or nitro-cli's `--enclave-name` looked up among the running ones. */
async function enclaveIdOf(a: { 'enclave-id'?: string; 'enclave-name'?: string }): Promise<string> {
  if (a['enclave-id'] !== undefined) return a['enclave-id'];
  return (await launcher()).enclaveIdOfName(a['enclave-name']!);
}

export const terminateEnclaveCommand: CommandModule<object, TerminateArgs> = {
  command: 'terminate-enclave',
  describe: 'Terminate an enclave (or --all): its CPUs and memory return to the pools',
  builder: (y: Argv) =>
    y
      .option('enclave-id', { type: 'string', describe: 'enclave ID from run / describe-enclaves' })
      .option('enclave-name', { type: 'string', describe: 'enclave name from run / describe-enclaves' })
      .option('all', { type: 'boolean', default: false, describe: 'terminate every enclave' }) as unknown as Argv<TerminateArgs>,
  handler: async (a) => {
    const given = [a['enclave-id'] !== undefined, a['enclave-name'] !== undefined, a.all].filter(Boolean).length;
    if (given !== 1) throw usageError('give exactly one of --enclave-id, --enclave-name and --all');
    if (a.all) {
      const r = await (await launcher()).terminateAllEnclaves();
      for (const t of r) process.stderr.write(`Successfully terminated enclave ${t.EnclaveID}.\n`);
      printJson(r);
      return;
    }
    const r = await (await launcher()).terminateEnclave(await enclaveIdOf(a));
    process.stderr.write(`Successfully terminated enclave ${r.EnclaveID}.\n`);
    printJson(r);
  },
};

interface ConsoleArgs {
  'enclave-id'?: string;
  'enclave-name'?: string;
  'disconnect-timeout'?: number;
}

export const consoleCommand: CommandModule<object, ConsoleArgs> = {
  command: 'console',
  describe: 'Stream a debug-mode enclave\'s console until it ends',
  builder: (y: Argv) =>
    y
      .option('enclave-id', { type: 'string', describe: 'enclave ID' })
      .option('enclave-name', { type: 'string', describe: 'enclave name (instead of --enclave-id)' })
      .option('disconnect-timeout', { type: 'number', describe: 'stop after this many seconds' }) as unknown as Argv<ConsoleArgs>,
  handler: async (a) => {
    if ((a['enclave-id'] === undefined) === (a['enclave-name'] === undefined)) throw usageError('give exactly one of --enclave-id and --enclave-name');
    const t = a['disconnect-timeout'];
    if (t !== undefined && !(Number.isFinite(t) && t > 0)) throw usageError('--disconnect-timeout must be a positive number of seconds');
    const { pipeConsole, openConsole } = await launcher();
    await pipeConsole(openConsole(await enclaveIdOf(a), undefined, t === undefined ? undefined : Math.ceil(t * 1000)), process.stdout);
  },
};
