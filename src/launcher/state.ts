/**
 * Enclave records: the helper of each running enclave writes `<slot>.json` and serves `<slot>.sock` in the state
 * folder (like nitro-cli's /run/nitro_enclaves/<slot>.sock, ne-device.md §2.9) and removes both when it ends.
 * Here: list them, ask a helper for its state, ask it to terminate, and clear records a killed helper left behind.
 */
import { mkdirSync, readdirSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { EifError } from '../errors.js';
import { readInputFile } from '../node/file-source.js';

export interface EnclaveRecord {
  slotUid: string;
  pid: number;
  cid: number;
  cpuIds: number[];
  memoryMiB: number;
  debug: boolean;
  socket: string;
  meta: { EnclaveName?: string; EifPath?: string; Measurements?: Record<string, string>; ImageMetadata?: Record<string, unknown> } | null;
  /** Set by the emulation supervisor (`eif run --emulate`, emulate-supervisor.ts): QEMU instead of Nitro. */
  emulated?: { accel: 'kvm' | 'tcg'; accelNote?: string; qemuPid?: number; backendPid?: number; vsockBackend?: 'eifkit' | 'vhost-device-vsock'; vsockSocket: string; consoleSocket: string };
  /** Record file modification time (launch order). */
  mtimeMs: number;
}

export function ensureStateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
  } catch (e) {
    throw new EifError('STATE_DIR', `cannot create the enclave state folder ${dir} (${(e as NodeJS.ErrnoException).code}): run as root or set EIF_ENCLAVE_STATE_DIR to a writable folder`);
  }
}

/** Records hold a few hundred bytes (the measurements included); anything far bigger is not one. */
const RECORD_LIMIT = { bytes: 1 << 20, code: 'STATE_DIR' } as const;

/** The records in `dir`, oldest first; unreadable ones (being written, removed, not a file) are skipped. */
export function readRecords(dir: string): EnclaveRecord[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: EnclaveRecord[] = [];
  for (const n of names) {
    if (!/^[0-9a-f]+\.json$/.test(n)) continue;
    const p = join(dir, n);
    try {
      const r = JSON.parse(Buffer.from(readInputFile(p, 'enclave record', RECORD_LIMIT)).toString('utf8')) as EnclaveRecord;
      if (typeof r.slotUid !== 'string' || typeof r.pid !== 'number') continue;
      r.mtimeMs = statSync(p).mtimeMs;
      out.push(r);
    } catch {
      /* being written or removed right now */
    }
  }
  return out.sort((a, b) => a.mtimeMs - b.mtimeMs);
}

/** Is `pid` alive (not a zombie) and, where /proc tells, still an eif-nehelper (or the emulation supervisor,
 *  `eif-emulate`) rather than a reused PID? */
export function pidAlive(pid: number, names: readonly string[] = ['eif-nehelper', 'eif-emulate']): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    // `pid (comm) S ...`: a zombie (Z) has released everything; only its exit status waits for a reaper.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    return names.some((n) => comm.startsWith(n)) && stat[close + 2] !== 'Z';
  } catch {
    return true; // no /proc: trust kill()
  }
}

/**
 * Remove a record whose owner is gone. For an emulated enclave whose supervisor was killed (SIGKILL leaves no
 * chance to clean up), also stop its QEMU and vsock backend — by their pids, and only while /proc still names them
 * so — and remove its sockets.
 */
export function removeRecord(dir: string, slotUid: string, rec?: EnclaveRecord): void {
  const em = rec?.emulated;
  if (em) {
    // /proc's comm is the first 15 bytes of the program name: eif-vsock-backend (ours) or vhost-device-vsock
    for (const [pid, names] of [[em.qemuPid, ['qemu-system']], [em.backendPid, ['eif-vsock-backe', 'vhost-device-vs']]] as const) {
      try {
        if (pid && pidAlive(pid, [...names])) process.kill(pid, 'SIGKILL');
      } catch {
        /* gone meanwhile, or not ours to stop */
      }
    }
  }
  const extra = em ? ['.vhost', '.vsock', '.vsock_9000', '.console', '.json.tmp'].map((e) => `${slotUid}${e}`) : [];
  for (const f of [`${slotUid}.json`, `${slotUid}.sock`, ...extra]) {
    try {
      unlinkSync(join(dir, f));
    } catch {
      /* already gone */
    }
  }
}

/** Send one request line to an enclave's control socket and read one reply line (bounded by timeoutMs). */
export function controlRequest(dir: string, rec: EnclaveRecord, request: string, timeoutMs: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const sock = connect(join(dir, rec.socket || `${rec.slotUid}.sock`));
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' }));
    }, timeoutMs);
    sock.on('connect', () => sock.write(`${request}\n`));
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      const i = buf.indexOf('\n');
      if (i >= 0) {
        clearTimeout(timer);
        sock.destroy();
        try {
          resolve(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
        } catch (e) {
          reject(e);
        }
      }
    });
    sock.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      reject(Object.assign(new Error('closed without a reply'), { code: 'ECONNRESET' }));
    });
  });
}

export type LiveState = 'RUNNING' | 'TERMINATING' | 'GONE';

/** Ask the helper; a record whose helper is dead is removed and reported GONE. */
export async function liveState(dir: string, rec: EnclaveRecord, timeoutMs = 2000): Promise<LiveState> {
  try {
    const r = await controlRequest(dir, rec, 'describe', timeoutMs);
    return r.state === 'RUNNING' ? 'RUNNING' : 'TERMINATING';
  } catch {
    if (pidAlive(rec.pid)) return 'TERMINATING';
    removeRecord(dir, rec.slotUid, rec);
    return 'GONE';
  }
}
