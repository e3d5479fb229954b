/**
 * Atomic output files: write into a temp file in the target folder, then rename over the target. A failure,
 * or Ctrl-C, removes the temp file, so the user never sees a partial output and never loses an input.
 *
 * SIGKILL (or a power cut) cannot be caught, so the temp file's name says who wrote it:
 * `.<output name>.<host>-<pid>-<start>.<random>.tmp`, where <host> is a short hash of the host name and <start>
 * the writer's start time (/proc/<pid>/stat field 22, clock ticks since boot; `x` where there is no /proc). The
 * next write to the same output removes the temp files of writers on this host that are gone: no such pid, or
 * the pid now belongs to a process that started at another time. A live writer's file is never touched, nor one
 * from another host (a shared folder) or in another naming scheme.
 */
import { closeSync, existsSync, lstatSync, openSync, readFileSync, readdirSync, realpathSync, renameSync, statSync, unlinkSync, fsyncSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { constants as osConstants, hostname } from 'node:os';
import { EifError, usageError } from '../errors.js';

const live = new Set<string>();
let hooked = false;

function cleanupAll(): void {
  for (const p of live) {
    try {
      unlinkSync(p);
    } catch {
      /* already gone */
    }
  }
  live.clear();
}

function hookSignals(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', cleanupAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      cleanupAll();
      process.exit(128 + osConstants.signals[sig]); // 130, 143, 129: as if the signal had ended the process
    });
  }
}

/** Start time of process `pid` in clock ticks since boot (/proc/<pid>/stat field 22), or undefined (no /proc, gone). */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // field 2 (comm) is in parentheses and may hold spaces or ')': the fields after the last ')' start at field 3
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = rest[22 - 3];
    return start !== undefined && /^\d+$/.test(start) ? start : undefined;
  } catch {
    return undefined;
  }
}

const HOST = createHash('sha256').update(hostname()).digest('hex').slice(0, 6);
let ownTag: string | undefined;
/** `<host>-<pid>-<start>` of this process. */
function writerTag(): string {
  ownTag ??= `${HOST}-${process.pid}-${processStartTime(process.pid) ?? 'x'}`;
  return ownTag;
}

/** Is the writer that made a temp file with this pid and start time still running? */
export function writerAlive(pid: number, start: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // EPERM: it exists (another user's process)
  }
  if (start === 'x') return true; // no start time recorded: a live pid is taken as the writer
  const now = processStartTime(pid);
  return now === undefined || now === start; // a different start time: the pid was reused, the writer is gone
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Remove the temp files that dead writers on this host left next to `abs` (see the module comment). Returns the
 * names removed. Failures to remove (permissions, a race with another cleaner) are ignored: leftovers are litter,
 * not an error of this write.
 */
export function removeDeadWritersTemps(abs: string): string[] {
  const dir = dirname(abs);
  const re = new RegExp(`^\\.${escapeRe(basename(abs))}\\.([0-9a-f]{6})-(\\d+)-(\\d+|x)\\.[0-9a-f]+\\.tmp$`);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const m = re.exec(name);
    if (!m || m[1] !== HOST || writerAlive(Number(m[2]), m[3]!)) continue;
    try {
      unlinkSync(join(dir, name));
      removed.push(name);
    } catch {
      /* gone already, or not ours to remove */
    }
  }
  return removed;
}

/** System calls on the output side: their errno errors are reported under the output's name. */
const OUTPUT_SYSCALLS = new Set(['write', 'pwrite', 'fsync', 'fdatasync', 'close', 'rename', 'ftruncate', 'fchmod', 'futime']);

/** The canonical identity of an existing path (dev:ino), or undefined when it does not exist. */
function identity(path: string): string | undefined {
  try {
    const s = statSync(path);
    return `${s.dev}:${s.ino}`;
  } catch {
    return undefined;
  }
}

/**
 * Check that `output` can be written and is none of `inputs` (same file through any path or hard link).
 * An existing output must be a regular file (or a symlink to one): a directory, device node, FIFO or socket is
 * never replaced — renaming a file over /dev/null would replace the device. Throws USAGE (empty path),
 * OUTPUT_DIR_MISSING, OUTPUT_NOT_FILE, OUTPUT_IS_INPUT.
 */
export function checkOutputPath(output: string, inputs: (string | undefined)[]): void {
  if (typeof output !== 'string' || output === '') throw usageError('the output path is empty');
  const dir = dirname(resolve(output));
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new EifError('OUTPUT_DIR_MISSING', `output folder does not exist: ${dir}`);
  }
  let st;
  try {
    st = statSync(output);
  } catch {
    st = undefined; // does not exist (or a dangling symlink, which the rename replaces)
  }
  if (st === undefined) return;
  if (!st.isFile()) {
    const kind = st.isDirectory() ? 'a directory' : 'not a regular file (a device, FIFO or socket)';
    throw new EifError('OUTPUT_NOT_FILE', `output ${output} is ${kind}; refusing to replace it`);
  }
  const outId = `${st.dev}:${st.ino}`;
  for (const input of inputs) {
    if (input !== undefined && identity(input) === outId) {
      throw new EifError('OUTPUT_IS_INPUT', `output ${output} is the same file as input ${input}; refusing to overwrite an input`);
    }
  }
}

export interface AtomicFile {
  /** Path of the temp file being written. */
  readonly tempPath: string;
  readonly fd: number;
  /** Close and rename over the target; `durable` fsyncs first (slower: it waits for the disk). */
  commit(durable?: boolean): void;
  /** Close and delete the temp file (safe to call twice, and after commit it does nothing). */
  abort(): void;
  /**
   * Abort, and return `e` as it should be reported: an operating-system error of a write, flush, close or rename
   * becomes `IO_<ERRNO>` naming the output and the temp file (docs/errors.md; Node's own message, e.g.
   * "ENOSPC: no space left on device, write", names no file). Anything else is returned as it is.
   */
  fail(e: unknown): unknown;
}

/**
 * Open a temp file next to `target` (same folder, so the rename is atomic). When `target` is a symlink to an
 * existing file, the file it points to is the one replaced, so the temp file goes next to that file (a temp file
 * next to the link could be on another filesystem, where rename fails). OUTPUT_NOT_WRITABLE when the folder
 * refuses the temp file.
 */
export function openAtomic(target: string): AtomicFile {
  let abs = resolve(target);
  if (existsSync(abs) && lstatSync(abs).isSymbolicLink()) abs = realpathSync(abs);
  const dir = dirname(abs);
  const tempPath = join(dir, `.${basename(abs)}.${writerTag()}.${randomBytes(4).toString('hex')}.tmp`);
  hookSignals();
  removeDeadWritersTemps(abs);
  let fd: number;
  try {
    fd = openSync(tempPath, 'wx', 0o644);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
      throw new EifError('OUTPUT_NOT_WRITABLE', `cannot create a file in ${dir} (${code}): the output folder is not writable`);
    }
    throw e;
  }
  live.add(tempPath);
  let open = true;
  let done = false;
  return {
    tempPath,
    fd,
    commit(durable = false) {
      if (done) return;
      try {
        if (durable) fsyncSync(fd);
        closeSync(fd);
        open = false;
        renameSync(tempPath, abs);
      } catch (e) {
        throw this.fail(e);
      }
      live.delete(tempPath);
      done = true;
    },
    fail(e: unknown): unknown {
      this.abort();
      const err = e as NodeJS.ErrnoException;
      if (e instanceof EifError || !err || typeof err.code !== 'string' || !OUTPUT_SYSCALLS.has(String(err.syscall))) return e;
      const what = err.message.replace(/^[A-Z0-9]+: /, '').replace(/, \w+$/, ''); // "no space left on device"
      return new EifError(`IO_${err.code}`, `cannot write the output ${target}: ${what} (${err.syscall} of ${tempPath}, removed)`, { cause: e });
    },
    abort() {
      if (done) return;
      if (open) closeSync(fd);
      open = false;
      try {
        unlinkSync(tempPath);
      } catch {
        /* gone */
      }
      live.delete(tempPath);
      done = true;
    },
  };
}
