/**
 * Output files under hostile conditions (issue 9): temp files a SIGKILLed build leaves are removed by the next
 * write to the same output (and a live writer's never are); IO_* errors name the file; SIGINT / SIGTERM print
 * exactly one `eif: error INTERRUPTED` line. See src/node/atomic.ts.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { cases } from '../../test-vectors/eif/generate.mjs';
import { REPO_ROOT } from '../helpers/shared.js';
import { eif, tempDir } from '../helpers/eif.js';
import { openAtomic, processStartTime, removeDeadWritersTemps, writerAlive } from '../../src/node/atomic.js';
import { EifError } from '../../src/errors.js';

const dir = tempDir();
const c = (cases as any)['three-ramdisks'].inputs;
const kernel = join(dir, 'bzImage');
const rd0 = join(dir, 'rd0.cpio');
writeFileSync(kernel, c.kernel);
writeFileSync(rd0, c.ramdisks[0]);
const big = join(dir, 'big.img');
writeFileSync(big, '');
truncateSync(big, 768 << 20); // sparse: cheap to make, takes a while to hash and write
const HOST = createHash('sha256').update(hostname()).digest('hex').slice(0, 6);
const temps = (d: string) => readdirSync(d).filter((f) => f.endsWith('.tmp'));
const buildArgs = (out: string, ramdisks = [rd0, big]) => ['build', '--kernel', kernel, '--cmdline', 'x', ...ramdisks.flatMap((r) => ['--ramdisk', r]), '--output', out, '--quiet'];

/** Start a large build and resolve once its temp file exists. */
async function startBuild(work: string, out: string): Promise<{ child: ChildProcess; stderr: () => string; exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> }> {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/eif.js'), ...buildArgs(out)]);
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  for (let i = 0; i < 400 && temps(work).length === 0; i++) await new Promise((r) => setTimeout(r, 25));
  expect(temps(work)).toHaveLength(1);
  return { child, stderr: () => err, exit };
}

describe('temp files of dead writers', () => {
  it('the temp name carries host, pid and start time', () => {
    const work = join(dir, 'name');
    mkdirSync(work);
    const f = openAtomic(join(work, 'o.eif'));
    try {
      const start = processStartTime(process.pid);
      expect(f.tempPath).toMatch(new RegExp(`/\\.o\\.eif\\.${HOST}-${process.pid}-${start ?? 'x'}\\.[0-9a-f]{8}\\.tmp$`));
    } finally {
      f.abort();
    }
  });
  it('kill -9 mid-build leaves the temp file; the next build to the same output removes it', async () => {
    const work = join(dir, 'kill9');
    mkdirSync(work);
    const out = join(work, 'out.eif');
    const b = await startBuild(work, out);
    const [left] = temps(work);
    b.child.kill('SIGKILL');
    expect((await b.exit).signal).toBe('SIGKILL');
    expect(temps(work)).toEqual([left]); // SIGKILL cannot be caught: the leftover is there
    const r = eif(buildArgs(out, [rd0]));
    expect(r.status).toBe(0);
    expect(temps(work)).toEqual([]);
    expect(existsSync(out)).toBe(true);
  }, 60_000);
  it("a live writer's temp file is kept; a reused pid (other start time), a dead pid are removed; other names are left alone", async () => {
    const work = join(dir, 'live');
    mkdirSync(work);
    const out = join(work, 'out.eif');
    const sleeper = spawn('sleep', ['30']);
    try {
      await new Promise((r) => sleeper.on('spawn', r));
      const pid = sleeper.pid!;
      const start = processStartTime(pid) ?? 'x';
      const liveName = `.out.eif.${HOST}-${pid}-${start}.0badc0de.tmp`;
      const reused = `.out.eif.${HOST}-${pid}-${start === 'x' ? '1' : String(Number(start) + 1)}.0badc0de.tmp`;
      const dead = `.out.eif.${HOST}-${deadPid()}-123.0badc0de.tmp`;
      const otherHost = `.out.eif.${HOST === 'ffffff' ? '000000' : 'ffffff'}-${deadPid()}-123.0badc0de.tmp`;
      const otherScheme = '.out.eif.0123456789ab.tmp';
      const otherOutput = `.other.eif.${HOST}-${deadPid()}-123.0badc0de.tmp`;
      for (const n of [liveName, reused, dead, otherHost, otherScheme, otherOutput]) writeFileSync(join(work, n), 'x');
      expect(writerAlive(pid, start)).toBe(true);
      const r = eif(buildArgs(out, [rd0]));
      expect(r.status).toBe(0);
      const expected = [liveName, otherHost, otherScheme, otherOutput];
      if (start === 'x') expected.push(reused); // without /proc only the pid can be checked
      expect(temps(work).sort()).toEqual(expected.sort());
    } finally {
      sleeper.kill('SIGKILL');
    }
  });
  it('removeDeadWritersTemps never removes the calling process own temp file', () => {
    const work = join(dir, 'own');
    mkdirSync(work);
    const f = openAtomic(join(work, 'o.eif'));
    try {
      expect(removeDeadWritersTemps(join(work, 'o.eif'))).toEqual([]);
      expect(existsSync(f.tempPath)).toBe(true);
    } finally {
      f.abort();
    }
  });
});

/**
 * Wait until process `pid` has started and sits idle (its CPU ticks unchanged for 400 ms, /proc/<pid>/stat fields
 * 14–15), i.e. it is waiting for input; without /proc, wait 3 s.
 */
async function idle(pid: number): Promise<void> {
  const ticks = () => {
    const rest = readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1]!.split(' ');
    return Number(rest[11]) + Number(rest[12]);
  };
  if (!existsSync(`/proc/${pid}/stat`)) return void (await new Promise((r) => setTimeout(r, 3000)));
  await new Promise((r) => setTimeout(r, 500));
  for (let last = ticks(), i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 400));
    const now = ticks();
    if (now === last && now > 0) return;
    last = now;
  }
}

/** A pid that is not running now (pid_max is at least 32768; pick a free one below it). */
function deadPid(): number {
  for (let p = 32000; p > 1000; p--) {
    try {
      process.kill(p, 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ESRCH') return p;
    }
  }
  throw new Error('no free pid');
}

describe('IO errors name the file', () => {
  it('an injected write error (EIO) becomes IO_EIO naming output and temp file, and removes the temp file', () => {
    const work = join(dir, 'inject');
    mkdirSync(work);
    const out = join(work, 'o.eif');
    const f = openAtomic(out);
    const e = Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO', errno: -5, syscall: 'write' });
    const r = f.fail(e) as EifError;
    expect(r).toBeInstanceOf(EifError);
    expect(r.code).toBe('IO_EIO');
    expect(r.message).toBe(`cannot write the output ${out}: i/o error (write of ${f.tempPath}, removed)`);
    expect(temps(work)).toEqual([]);
    // a read error of an input, or an EifError, is not the output's: returned unchanged
    const g = openAtomic(out);
    const readErr = Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO', syscall: 'read' });
    expect(g.fail(readErr)).toBe(readErr);
    const h = openAtomic(out);
    const own = new EifError('INPUT_CHANGED', 'x');
    expect(h.fail(own)).toBe(own);
    expect(temps(work)).toEqual([]);
  });
  const canMount = process.platform === 'linux' && process.getuid?.() === 0 && spawnSync('mount', ['--version']).status === 0;
  it.skipIf(!canMount)('ENOSPC on a full file system (a 256 KiB tmpfs): IO_ENOSPC names the output, no temp file left', () => {
    const mnt = join(dir, 'tiny');
    mkdirSync(mnt);
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt]).status !== 0) return void console.warn('skipped: cannot mount tmpfs');
    try {
      const rd1 = join(dir, 'rd1M.img');
      writeFileSync(rd1, Buffer.alloc(1 << 20, 7));
      const out = join(mnt, 'o.eif');
      const r = eif(buildArgs(out, [rd0, rd1]));
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^eif: error IO_ENOSPC: cannot write the output ${out}: no space left on device \\(write of ${mnt}/\\.o\\.eif\\.[^ ]+\\.tmp, removed\\)\\n$`));
      expect(readdirSync(mnt)).toEqual([]);
    } finally {
      spawnSync('umount', [mnt]);
    }
  });
  it.skipIf(!canMount)('a read-only file system: OUTPUT_NOT_WRITABLE names the folder', () => {
    const mnt = join(dir, 'ro');
    mkdirSync(mnt);
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', mnt]).status !== 0) return void console.warn('skipped: cannot mount tmpfs');
    try {
      const r = eif(buildArgs(join(mnt, 'o.eif'), [rd0]));
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(`eif: error OUTPUT_NOT_WRITABLE: cannot create a file in ${mnt} (EROFS): the output folder is not writable\n`);
    } finally {
      spawnSync('umount', [mnt]);
    }
  });
  it('EISDIR and ENOENT: the error names the path', () => {
    const cases: [string[], string, string][] = [
      [buildArgs(dir, [rd0]), 'OUTPUT_NOT_FILE', dir],
      [buildArgs(join(dir, 'x.eif'), [dir]), 'INPUT_NOT_FILE', dir],
      [buildArgs(join(dir, 'x.eif'), [join(dir, 'missing.img')]), 'INPUT_NOT_FOUND', join(dir, 'missing.img')],
      [buildArgs(join(dir, 'no/such/x.eif'), [rd0]), 'OUTPUT_DIR_MISSING', join(dir, 'no/such')],
    ];
    for (const [args, code, path] of cases) {
      const r = eif(args);
      expect(r.stderr).toMatch(new RegExp(`^eif: error ${code}: [^\\n]*${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}[^\\n]*\\n$`));
    }
  });
});

describe('interrupted: one line', () => {
  for (const [sig, status] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    it(`${sig} during a build: exactly one "eif: error INTERRUPTED" line, exit ${status}, no output, no temp file`, async () => {
      const work = join(dir, `int-${sig}`);
      mkdirSync(work);
      const out = join(work, 'out.eif');
      const b = await startBuild(work, out);
      b.child.kill(sig);
      const { code } = await b.exit;
      expect(code).toBe(status);
      expect(b.stderr()).toBe(`eif: error INTERRUPTED: stopped by ${sig}\n`);
      expect(existsSync(out)).toBe(false);
      expect(temps(work)).toEqual([]);
    }, 60_000);
  }
  // Regression: with a SIGINT handler installed, the synchronous stdin read held the signal until stdin closed.
  it('SIGINT while `attest inspect -` waits on stdin: one line at once, exit 130', async () => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'bin/eif.js'), 'attest', 'inspect', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    const exit = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    await idle(child.pid!); // loaded and waiting for input
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    expect(await exit).toBe(130);
    clearTimeout(timer);
    expect(err).toBe('eif: error INTERRUPTED: stopped by SIGINT\n');
  }, 20_000);
  it('the interrupted code is documented', () => {
    expect(readFileSync(join(REPO_ROOT, 'docs/errors.md'), 'utf8')).toMatch(/\| `INTERRUPTED` \|/);
  });
});
