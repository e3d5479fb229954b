/**
 * Atomic output files: write into a temp file in the target folder, then rename over the target. A failure,
 * or Ctrl-C, removes the temp file, so the user never sees a partial output and never loses an input.
 */
import { closeSync, existsSync, lstatSync, openSync, realpathSync, renameSync, statSync, unlinkSync, fsyncSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { constants as osConstants } from 'node:os';
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
  const tempPath = join(dir, `.${basename(abs)}.${randomBytes(6).toString('hex')}.tmp`);
  hookSignals();
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
      if (durable) fsyncSync(fd);
      closeSync(fd);
      open = false;
      renameSync(tempPath, abs);
      live.delete(tempPath);
      done = true;
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
