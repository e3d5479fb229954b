/**
 * `eif run`, `describe-enclaves`, `console`, `terminate-enclave` end to end: the compiled CLI spawning the real
 * helper under the driver simulator, nitro-cli's flag names and JSON shapes (ne-device.md §4).
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initCore } from '../../src/core/index.js';
import { buildEifFile } from '../../src/node/builder.js';
import { MIB } from '../../src/launcher/sizing.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { describeNative, pidAlive, SimEnv, waitFor } from './simenv.js';

const BIN = join(REPO_ROOT, 'bin', 'eif.js');

let s: SimEnv;
let eifPath: string;
let measurements: Record<string, string>;

function cli(args: string[], extra: Record<string, string> = {}, timeout = 30_000) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...s.vars(extra) }, timeout });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  await initCore();
  s = new SimEnv({ hugepages: { '2M': 200 } });
  writeFileSync(join(s.dir, 'bzImage'), randomBytes(MIB));
  writeFileSync(join(s.dir, 'rootfs.cpio'), randomBytes(MIB));
  eifPath = join(s.dir, 'hello.eif');
  const r = await buildEifFile({ kernel: join(s.dir, 'bzImage'), cmdline: 'console=ttyS0', ramdisks: [join(s.dir, 'rootfs.cpio')], output: eifPath, sourceDateEpoch: '1700000000' });
  measurements = r.measurements as unknown as Record<string, string>;
});
afterAll(() => s.cleanup());

describeNative('eif run / describe-enclaves / console / terminate-enclave', () => {
  it('runs an enclave and prints nitro-cli\'s run-enclave JSON', () => {
    const r = cli(['run', '--eif-path', eifPath, '--cpu-count', '2', '--memory', '64', '--debug-mode']);
    expect(r.stderr).toMatch(/^Start allocating memory\.\.\.$/m);
    expect(r.stderr).toMatch(/^Started enclave with enclave-cid: 16, memory: 64 MiB, cpu-ids: \[1, 5\]$/m);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(Object.keys(out)).toEqual(['EnclaveName', 'EnclaveID', 'ProcessID', 'EnclaveCID', 'NumberOfCPUs', 'CPUIDs', 'MemoryMiB']);
    expect(out).toMatchObject({ EnclaveName: 'hello', EnclaveCID: 16, NumberOfCPUs: 2, CPUIDs: [1, 5], MemoryMiB: 64 });
    expect(out.EnclaveID).toMatch(/^i-0123456789abcdef0-enc[0-9a-f]+$/);
    expect(r.stdout).toBe(`${JSON.stringify(out, null, 2)}\n`);
    expect(pidAlive(out.ProcessID)).toBe(true); // the enclave process outlives the CLI
  });

  it('a second enclave with explicit CPUs and CID gets a de-duplicated name', () => {
    const r = cli(['run', '--eif-path', eifPath, '--cpu-ids', '2', '6', '--memory', '64', '--enclave-cid', '42']);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ EnclaveName: 'hello_1', EnclaveCID: 42, CPUIDs: [2, 6] });
  });

  it('describe-enclaves lists both with state, flags and the EIF\'s measurements', () => {
    const r = cli(['describe-enclaves']);
    expect(r.status).toBe(0);
    const list = JSON.parse(r.stdout);
    expect(list.map((e: { EnclaveName: string }) => e.EnclaveName)).toEqual(['hello', 'hello_1']);
    expect(Object.keys(list[0])).toEqual([
      'EnclaveName', 'EnclaveID', 'ProcessID', 'EnclaveCID', 'NumberOfCPUs', 'CPUIDs', 'MemoryMiB', 'State', 'Flags', 'Measurements',
    ]);
    expect(list[0]).toMatchObject({ State: 'RUNNING', Flags: 'DEBUG_MODE', Measurements: measurements });
    expect(list[1]).toMatchObject({ State: 'RUNNING', Flags: 'NONE' });
  });

  it('console streams a debug-mode enclave and refuses a production one', () => {
    const list = JSON.parse(cli(['describe-enclaves']).stdout);
    const c = cli(['console', '--enclave-id', list[0].EnclaveID, '--disconnect-timeout', '0.5']);
    expect(c.status).toBe(0);
    expect(c.stdout).toMatch(/nesim: enclave 16 console \(debug mode\)/);
    const p = cli(['console', '--enclave-id', list[1].EnclaveID]);
    expect(p.status).toBe(1);
    expect(p.stderr).toMatch(/eif: error CONSOLE_NOT_DEBUG: .*production mode, which has no console/);
  });

  it('terminate-enclave frees the enclave; --all frees the rest; describe then prints []', async () => {
    const list = JSON.parse(cli(['describe-enclaves']).stdout);
    const t = cli(['terminate-enclave', '--enclave-id', list[0].EnclaveID]);
    expect(t.status).toBe(0);
    expect(t.stderr).toContain(`Successfully terminated enclave ${list[0].EnclaveID}.`);
    expect(JSON.parse(t.stdout)).toEqual({ EnclaveName: 'hello', EnclaveID: list[0].EnclaveID, Terminated: true });
    expect(pidAlive(list[0].ProcessID)).toBe(false);
    const again = cli(['terminate-enclave', '--enclave-id', list[0].EnclaveID]);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/ENCLAVE_NOT_FOUND/);
    const all = cli(['terminate-enclave', '--all']);
    expect(all.status).toBe(0);
    expect(JSON.parse(all.stdout)).toEqual([{ EnclaveName: 'hello_1', EnclaveID: list[1].EnclaveID, Terminated: true }]);
    expect(JSON.parse(cli(['describe-enclaves']).stdout)).toEqual([]);
    expect(readdirSync(s.stateDir)).toEqual(['heartbeat.lock']);
    expect(s.simSlots()).toEqual([]);
    const exits = s.exits().filter((l) => l.enclaveFds !== undefined);
    expect(exits.every((l) => l.enclaveFds === 0 && l.hugeMappings === 0 && l.openFds === 0)).toBe(true);
  });

  it('describe-enclaves drops the record of a killed enclave process', async () => {
    const r = cli(['run', '--eif-path', eifPath, '--cpu-count', '2', '--memory', '64']);
    const pid = JSON.parse(r.stdout).ProcessID as number;
    process.kill(pid, 'SIGKILL');
    await waitFor(() => !pidAlive(pid), 2000, 'helper death');
    expect(JSON.parse(cli(['describe-enclaves']).stdout)).toEqual([]);
    expect(readdirSync(s.stateDir).filter((f) => f.endsWith('.json'))).toEqual([]);
  });

  it('--attach-console shows the console until the enclave exits', () => {
    const r = cli(['run', '--eif-path', eifPath, '--cpu-count', '2', '--memory', '64', '--attach-console'], { NESIM_EXIT_MS: '400' });
    expect(r.status).toBe(0);
    const json = r.stdout.slice(0, r.stdout.indexOf('}\n') + 2);
    expect(JSON.parse(json)).toMatchObject({ NumberOfCPUs: 2 });
    expect(r.stdout.slice(json.length)).toMatch(/nesim: enclave \d+ console[\s\S]*nesim: enclave exiting/);
  });

  it('--config takes nitro-cli\'s snake_case keys', () => {
    const cfg = join(s.dir, 'run.json');
    writeFileSync(cfg, JSON.stringify({ eif_path: eifPath, cpu_count: 2, memory_mib: 64, enclave_name: 'fromcfg', debug_mode: true }));
    const r = cli(['run', '--config', cfg]);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ EnclaveName: 'fromcfg' });
    expect(JSON.parse(cli(['describe-enclaves']).stdout)[0]).toMatchObject({ EnclaveName: 'fromcfg', Flags: 'DEBUG_MODE' });
    expect(cli(['terminate-enclave', '--all']).status).toBe(0);
    const bad = cli(['run', '--config', cfg, '--memory', '64']);
    expect(bad.status).toBe(2);
  });

  it('reports all pre-flight findings together and exits non-zero quickly', () => {
    const t0 = Date.now();
    const r = cli(['run', '--eif-path', eifPath, '--cpu-count', '8', '--memory', '16', '--enclave-cid', '3'], { EIF_NE_DEVICE: join(s.dir, 'absent') });
    const ms = Date.now() - t0;
    expect(r.status).toBe(1);
    // Regression: each finding was its own `eif: error` line (the note first, "because of the errors above").
    // Now: a header, indented labelled details in check order, and one summary line last (the first code).
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe('eif: pre-flight findings (nothing was started):');
    expect(lines.slice(1, -1).map((l) => /^  (error|warning|note) (\w+): \S/.exec(l)?.slice(1).join(' '))).toEqual([
      'error MEMORY_TOO_SMALL', 'error CID_INVALID', 'error NE_DEVICE_MISSING', 'error CPU_POOL_TOO_SMALL', 'note EIF_NOT_HASHED',
    ]);
    expect(lines.at(-1)).toBe(
      'eif: error MEMORY_TOO_SMALL: 4 pre-flight checks failed (MEMORY_TOO_SMALL, CID_INVALID, NE_DEVICE_MISSING, CPU_POOL_TOO_SMALL); see the findings above',
    );
    expect(lines.filter((l) => l.startsWith('eif: error'))).toHaveLength(1);
    expect(r.stdout).toBe('');
    expect(ms).toBeLessThan(5000); // process start included; the checks themselves are bounded in preflight.test.ts
  });

  it('one failed pre-flight check: its own message is the last line; alone it is the only line', () => {
    const cid = cli(['run', '--eif-path', eifPath, '--cpu-count', '2', '--memory', '64', '--enclave-cid', '3']);
    expect(cid.status).toBe(1);
    const lines = cid.stderr.trimEnd().split('\n');
    expect(lines.slice(1, -1)).toEqual([expect.stringMatching(/^  error CID_INVALID: /), expect.stringMatching(/^  note EIF_NOT_HASHED: /)]);
    expect(lines.at(-1)).toMatch(/^eif: error CID_INVALID: --enclave-cid 3 is reserved \(parent instance\); use 4 or above/);
    const missing = join(s.dir, 'missing.eif');
    const r = cli(['run', '--eif-path', missing, '--cpu-count', '2', '--memory', '64']);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`eif: error EIF_NOT_FOUND: EIF file not found: ${missing}\n`);
  });

  it('a boot failure gives the heartbeat message and leaves nothing running', () => {
    const r = cli(['run', '--eif-path', eifPath, '--cpu-count', '2', '--memory', '64'], { NESIM_SCENARIO: 'wrong' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/eif: error HEARTBEAT_WRONG_BYTE: enclave boot failure: the enclave sent 0x42/);
    expect(JSON.parse(cli(['describe-enclaves']).stdout)).toEqual([]);
  });

  it('usage errors exit 2', () => {
    expect(cli(['run', '--eif-path', eifPath, '--memory', '64']).status).toBe(2);
    expect(cli(['run', '--eif-path', eifPath, '--cpu-count', '2', '--cpu-ids', '1', '--memory', '64']).status).toBe(2);
    expect(cli(['terminate-enclave']).status).toBe(2);
    expect(cli(['terminate-enclave', '--enclave-id', 'nonsense']).status).toBe(2);
  });

  it('nitro-cli spellings: run-enclave, describe-enclaves --metadata, console and terminate-enclave by --enclave-name', () => {
    const r = cli(['run-enclave', '--eif-path', eifPath, '--cpu-count', '2', '--memory', '64', '--enclave-name', 'web', '--debug-mode']);
    expect(r.status).toBe(0);
    const started = JSON.parse(r.stdout);
    expect(started).toMatchObject({ EnclaveName: 'web', NumberOfCPUs: 2, MemoryMiB: 64 });

    const plain = JSON.parse(cli(['describe-enclaves']).stdout);
    expect(plain[0]).not.toHaveProperty('ImageName');
    const d = cli(['describe-enclaves', '--metadata']);
    expect(d.status).toBe(0);
    const [withMeta] = JSON.parse(d.stdout);
    // nitro-cli's order: the describe fields, then the image's metadata (what describe-eif shows for the file)
    expect(Object.keys(withMeta)).toEqual([
      'EnclaveName', 'EnclaveID', 'ProcessID', 'EnclaveCID', 'NumberOfCPUs', 'CPUIDs', 'MemoryMiB', 'State', 'Flags', 'Measurements',
      'ImageName', 'ImageVersion', 'Metadata',
    ]);
    const described = JSON.parse(cli(['describe-eif', '--eif-path', eifPath]).stdout);
    expect(withMeta).toMatchObject({ EnclaveName: 'web', ImageName: described.ImageName, ImageVersion: described.ImageVersion, Metadata: described.Metadata });
    expect(Object.keys(withMeta.Metadata)).toEqual(expect.arrayContaining(['BuildTime', 'BuildTool', 'BuildToolVersion', 'OperatingSystem', 'KernelVersion']));

    const c = cli(['console', '--enclave-name', 'web', '--disconnect-timeout', '0.5']);
    expect(c.status).toBe(0);
    expect(c.stdout).toMatch(/nesim: enclave \d+ console \(debug mode\)/);

    const unknown = cli(['terminate-enclave', '--enclave-name', 'nope']);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toBe('eif: error ENCLAVE_NOT_FOUND: no running enclave named "nope" (see eif describe-enclaves)\n');
    expect(cli(['terminate-enclave', '--enclave-name', 'web', '--all']).status).toBe(2);
    expect(cli(['console', '--enclave-name', 'web', '--enclave-id', started.EnclaveID]).status).toBe(2);
    const t = cli(['terminate-enclave', '--enclave-name', 'web']);
    expect(t.status).toBe(0);
    expect(t.stderr).toBe(`Successfully terminated enclave ${started.EnclaveID}.\n`);
    expect(JSON.parse(t.stdout)).toEqual({ EnclaveName: 'web', EnclaveID: started.EnclaveID, Terminated: true });
    expect(pidAlive(started.ProcessID)).toBe(false);
  });

  it('describe-enclaves on a host without the device: a warning on stderr, [] on stdout (nitro-cli prints [])', () => {
    const r = cli(['describe-enclaves'], { EIF_NE_DEVICE: join(s.dir, 'absent') });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('[]\n');
    expect(r.stderr).toBe(`eif: warning NE_DEVICE_MISSING: ${join(s.dir, 'absent')} does not exist: this host cannot run enclaves (enclave support off, driver not loaded, or the device not mapped into the container)\n`);
    const here = cli(['describe-enclaves']);
    expect(here.stderr).toBe('');
  });

  // Regression: with only a 1 GiB page free, `--memory 1` said "at least 64 MiB" and "1 GiB for the 2 MiB requested".
  it('run --memory 1: one minimum, the same in every message', () => {
    const big = new SimEnv({ hugepages: { '1G': 1 } });
    const r = cli(['run', '--eif-path', eifPath, '--cpu-count', '2', '--memory', '1'], { EIF_SYSFS_ROOT: big.sysfs });
    big.cleanup();
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^  note MEMORY_ROUNDED_UP: .* give 1 GiB for the 64 MiB needed/m);
    expect(r.stderr.trimEnd().split('\n').at(-1)).toMatch(/^eif: error MEMORY_TOO_SMALL: --memory 1 is too small: at least 64 MiB must be allocated/);
    const minimums = [...r.stderr.matchAll(/at least (\d+)/g)].map((m) => m[1]);
    expect(new Set(minimums)).toEqual(new Set(['64']));
    expect(r.stderr).not.toMatch(/\b2 MiB\b/); // the old plan for the 2 MiB asked
  });

  it('Ctrl-C on an attached console leaves the enclave running', async () => {
    const r = cli(['run', '--eif-path', eifPath, '--cpu-count', '2', '--memory', '64', '--debug-mode']);
    const out = JSON.parse(r.stdout);
    const child = spawn(process.execPath, [BIN, 'console', '--enclave-id', out.EnclaveID], { env: { ...process.env, ...s.vars() } });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    await waitFor(() => text.includes('console'), 5000, 'console output');
    child.kill('SIGINT');
    await new Promise((res) => child.on('close', res));
    expect(pidAlive(out.ProcessID)).toBe(true);
    expect(cli(['terminate-enclave', '--enclave-id', out.EnclaveID]).status).toBe(0);
  });
});

describe('eif run --config FILE and unusual files (no enclave started)', () => {
  const oneLine = (r: { stderr: string }, code: string): string => {
    expect(r.stderr.split('\n')).toHaveLength(2); // one line and its newline
    expect(r.stderr).toMatch(new RegExp(`^eif: error ${code}: `));
    return r.stderr;
  };

  // Regression: a FIFO as --config blocked forever in readFileSync (now: refused at once).
  it('a FIFO is refused at once with INPUT_NOT_FILE', () => {
    const fifo = join(s.dir, 'config.fifo');
    execFileSync('mkfifo', [fifo]);
    const r = cli(['run', '--config', fifo], {}, 10_000);
    expect(r.status).toBe(1);
    oneLine(r, 'INPUT_NOT_FILE');
  });

  // Regression: non-JSON gave `USAGE: cannot read --config …: Unexpected token …, "hello\nworld\n" is not valid JSON`
  // over several lines (the file's text echoed).
  it('non-JSON, empty and non-UTF-8 files are one CONFIG_NOT_JSON line (exit 2), without the file\'s text', () => {
    const cfg = join(s.dir, 'bad.json');
    writeFileSync(cfg, 'hello\nworld\n');
    const r = cli(['run', '--config', cfg]);
    expect(r.status).toBe(2);
    expect(oneLine(r, 'CONFIG_NOT_JSON')).toMatch(/--config \S+bad\.json is not valid JSON \(.+\); it must hold an object such as \{"eif_path"/);
    expect(r.stderr).not.toContain('world');
    writeFileSync(cfg, '{\n  "eif_path": "a.eif",\n  "memory_mib": 64,\n}\n');
    expect(oneLine(cli(['run', '--config', cfg]), 'CONFIG_NOT_JSON')).toMatch(/at line 4, column 1\)/);
    writeFileSync(cfg, '');
    expect(oneLine(cli(['run', '--config', cfg]), 'CONFIG_NOT_JSON')).toMatch(/\(the file is empty\)/);
    writeFileSync(cfg, Buffer.from([0x7b, 0xff, 0x7d]));
    expect(oneLine(cli(['run', '--config', cfg]), 'CONFIG_NOT_JSON')).toMatch(/not UTF-8/);
  });

  it('JSON that is not an object is CONFIG_NOT_OBJECT (exit 2); an oversized file CONFIG_TOO_LARGE', () => {
    const cfg = join(s.dir, 'notobj.json');
    for (const [text, kind] of [['[1, 2]', 'an array'], ['"x"', 'a string'], ['null', 'null'], ['42', 'a number']]) {
      writeFileSync(cfg, text!);
      const r = cli(['run', '--config', cfg]);
      expect(r.status).toBe(2);
      expect(oneLine(r, 'CONFIG_NOT_OBJECT')).toContain(`holds ${kind}, not a JSON object`);
    }
    writeFileSync(cfg, `{"eif_path": "${' '.repeat(70_000)}"}`);
    const big = cli(['run', '--config', cfg]);
    expect(big.status).toBe(1);
    oneLine(big, 'CONFIG_TOO_LARGE');
  });

  // Regression: sysfs and state files were read with readFileSync, so a FIFO among them hung `run` / `describe`.
  it('a FIFO in sysfs or among the enclave records does not hang run or describe-enclaves', () => {
    const t = new SimEnv();
    try {
      const pool = join(t.sysfs, 'module', 'nitro_enclaves', 'parameters', 'ne_cpus');
      rmSync(pool);
      execFileSync('mkfifo', [pool]);
      const env = { ...t.vars(), EIF_NE_DEVICE: join(t.dir, 'absent') };
      const r = spawnSync(process.execPath, [BIN, 'run', '--eif-path', eifPath, '--cpu-count', '2', '--memory', '64'], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 10_000 });
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/^  error NE_CPU_POOL_UNREADABLE: cannot read /m);
      mkdirSync(t.stateDir, { recursive: true });
      execFileSync('mkfifo', [join(t.stateDir, 'abc.json')]);
      const d = spawnSync(process.execPath, [BIN, 'describe-enclaves'], { encoding: 'utf8', env: { ...process.env, ...t.vars() }, timeout: 10_000 });
      expect(d.status).toBe(0);
      expect(JSON.parse(d.stdout)).toEqual([]);
    } finally {
      t.cleanup();
    }
  });
});
