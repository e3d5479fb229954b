/**
 * The process that owns one emulated enclave (docs/launcher.md, "Emulation"; qemu-emulation.md): it plays the role
 * eif-nehelper plays for a real one. Started detached by `runEmulated` with its settings as JSON in argv[2], it
 *
 *   1. starts the vsock backend — eifkit's `eif-vsock-backend --guest-cid CID --socket <slot>.vhost --uds-path
 *      <slot>.vsock` (native/vsock-backend.c: the guest's CID 3 and CID 2 reach the host), or the fallback
 *      `vhost-device-vsock --vm guest-cid=CID,socket=<slot>.vhost,uds-path=<slot>.vsock` (CID 2 only) — and listens
 *      on `<slot>.vsock_9000` (the backend connects there when the guest connects to the parent's port 9000);
 *   2. boots `qemu-system-* -M nitro-enclave,vsock=…,id=<EnclaveID>,acpi=on -kernel app.eif` — with KVM first
 *      when asked ('auto'), falling back to TCG when KVM fails ("KVM internal error") or the guest makes no
 *      progress within `kvmProbeMs`; the reason is reported;
 *   3. waits for the 0xB7 heartbeat (ne-device.md §2.1 step 10) within the same timeout as a real launch, echoes it;
 *      the guest exiting, a wrong byte, or (the fallback backend) its dropping the guest's packets for CID 3 end the
 *      boot at once;
 *   4. then writes the record `<slot>.json` (marked `emulated`), serves `<slot>.sock` (describe / terminate, the
 *      helper's protocol) and `<slot>.console` (the serial console: what was printed so far, then live);
 *   5. on terminate, SIGTERM/SIGINT/SIGHUP, QEMU's exit, or (before ready) its launcher going away: stops QEMU and
 *      the backend by pid (SIGTERM, SIGKILL after 2 s) and removes every file it made.
 *
 * Progress goes to stdout as JSON lines (`started`, `accel`, `restart`, `ready`, `error`), like the helper's protocol.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { accessSync, constants, existsSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';

export interface SupervisorSettings {
  qemu: string;
  /** The vsock backend's path and which one it is (emulate-tools.ts). */
  vsockBackend: string;
  vsockBackendKind: 'eifkit' | 'vhost-device-vsock';
  firmwareDir: string;
  arch: 'x86_64' | 'aarch64';
  eifPath: string;
  memoryMiB: number;
  cpuCount: number;
  cid: number;
  debug: boolean;
  slotUid: string;
  enclaveId: string;
  stateDir: string;
  timeoutMs: number;
  accel: 'auto' | 'kvm' | 'tcg';
  kvmProbeMs: number;
  meta: unknown;
}

/** Console bytes kept for late `eif console` readers. */
const CONSOLE_KEEP = 1 << 20;

type Phase = 'booting' | 'ready' | 'stopping';

class Supervisor {
  private phase: Phase = 'booting';
  private qemu?: ChildProcess;
  private backend?: ChildProcess;
  private servers: Server[] = [];
  private consoleClients = new Set<Socket>();
  private consoleBuf: Buffer[] = [];
  private consoleBytes = 0;
  private backendLog = '';
  private qemuLog = '';
  private accel: 'kvm' | 'tcg' = 'tcg';
  private accelNote = '';
  private bootTimer?: NodeJS.Timeout;
  private probeTimer?: NodeJS.Timeout;
  private progress = false;
  /** The TCG boot was restarted once after the guest's TSC calibration failed. */
  private calibrationRetried = false;
  private readonly files: string[];
  private readonly start = Date.now();

  constructor(private readonly s: SupervisorSettings) {
    const f = (ext: string): string => join(s.stateDir, `${s.slotUid}${ext}`);
    this.files = [f('.vhost'), f('.vsock'), f('.vsock_9000'), f('.console'), f('.sock'), f('.json'), f('.json.tmp')];
  }

  private path(ext: string): string {
    return join(this.s.stateDir, `${this.s.slotUid}${ext}`);
  }

  emit(ev: Record<string, unknown>): void {
    if (this.phase !== 'booting' && ev.event !== 'ready') return;
    try {
      process.stdout.write(`${JSON.stringify(ev)}\n`);
    } catch {
      /* the launcher went away */
    }
  }

  async run(): Promise<void> {
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, () => void this.stop(`signal ${sig}`, 0));
    // before ready, the launcher holds our stdin: EOF means it was interrupted (Ctrl-C) or killed
    process.stdin.on('end', () => {
      if (this.phase === 'booting') void this.stop('the launcher went away', 1);
    });
    process.stdin.on('error', () => {});
    process.stdin.resume();
    process.stdout.on('error', () => {});
    for (const f of this.files) this.unlinkQuiet(f);
    await this.listenHeartbeat();
    this.bootTimer = setTimeout(() => this.fail('HEARTBEAT_TIMEOUT', `no heartbeat from the emulated enclave within ${Math.round(this.s.timeoutMs / 1000)} s: the kernel or its init did not come up (see the console: eif run --emulate --debug-mode)`), this.s.timeoutMs);
    const kvmWanted = this.s.accel === 'kvm' || (this.s.accel === 'auto' && kvmUsable());
    if (this.s.accel === 'auto' && !kvmWanted) this.accelNote = '/dev/kvm is not available here';
    await this.boot(kvmWanted ? 'kvm' : 'tcg');
  }

  private unlinkQuiet(p: string): void {
    try {
      unlinkSync(p);
    } catch {
      /* not there */
    }
  }

  /** The parent's port 9000 (at CID 3, or 2) as the backend reaches it: a Unix socket `<uds-path>_9000`. */
  private listenHeartbeat(): Promise<void> {
    const srv = createServer((sock) => {
      let got = false;
      sock.once('data', (d: Buffer) => {
        got = true;
        if (d[0] !== 0xb7) {
          sock.destroy();
          this.fail('HEARTBEAT_WRONG_BYTE', `the emulated enclave sent 0x${d[0]!.toString(16)} instead of the heartbeat byte 0xB7`);
          return;
        }
        sock.end(Buffer.from([0xb7]));
        void this.ready();
      });
      sock.on('error', () => {});
      sock.on('close', () => {
        if (!got && this.phase === 'booting') this.fail('HEARTBEAT_CLOSED', 'the emulated enclave closed the heartbeat connection without sending a byte');
      });
    });
    this.servers.push(srv);
    return new Promise((res, rej) => {
      srv.once('error', rej);
      srv.listen(this.path('.vsock_9000'), () => res());
    });
  }

  private async boot(accel: 'kvm' | 'tcg'): Promise<void> {
    this.accel = accel;
    this.progress = false;
    await this.startBackend();
    if (this.phase !== 'booting') return;
    const machine = `nitro-enclave,vsock=vsock0,id=${this.s.enclaveId}${this.s.arch === 'x86_64' ? ',acpi=on' : ''}`;
    const args = [
      '-M', machine, '-kernel', this.s.eifPath, '-m', `${this.s.memoryMiB}M`, '-smp', String(this.s.cpuCount),
      '-display', 'none', '-monitor', 'none', '-serial', 'stdio', '-no-reboot',
      '-chardev', `socket,id=vsock0,path=${this.path('.vhost')}`, '-L', this.s.firmwareDir,
      '-accel', accel,
      // TCG: instruction counting, so the guest's PIT and TSC agree however loaded the host is; without it the
      // kernel's TSC calibration fails on a busy host and the boot hangs in the delay-loop calibration
      ...(accel === 'kvm' ? ['-cpu', 'host'] : ['-icount', 'shift=auto,sleep=off']),
    ];
    const q = spawn(this.s.qemu, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.qemu = q;
    this.emit({ event: 'started', slotUid: this.s.slotUid, cid: this.s.cid, cpuIds: this.cpuIds(), memoryMiB: this.s.memoryMiB, debug: this.s.debug, accel, qemuPid: q.pid, backendPid: this.backend?.pid });
    let tail = '';
    q.stdout!.on('data', (d: Buffer) => {
      this.consoleData(d);
      tail = (tail + d.toString('latin1')).slice(-200);
      // even with -icount the guest's TSC calibration against the PIT fails now and then on a heavily loaded host;
      // such a guest hangs in its delay-loop calibration: boot it again, once
      if (this.qemu === q && accel === 'tcg' && this.phase === 'booting' && !this.calibrationRetried && /tsc: Unable to calibrate against PIT/.test(tail)) {
        this.calibrationRetried = true;
        void this.restartTcg('the guest kernel could not calibrate its TSC against the PIT (a heavily loaded host)');
      }
    });
    q.stderr!.on('data', (d: Buffer) => {
      this.qemuLog = (this.qemuLog + d.toString('utf8')).slice(-8192);
      if (this.qemu === q && accel === 'kvm' && this.phase === 'booting' && /KVM internal error/.test(this.qemuLog)) {
        const line = /KVM internal error[^\n]*/.exec(this.qemuLog)![0].trim();
        void this.fallback(`KVM failed ("${line}")`);
      }
    });
    q.on('error', (e) => this.fail('EMULATE_START_FAILED', `cannot start ${this.s.qemu}: ${e.message}`));
    q.on('exit', (code, signal) => {
      if (this.qemu !== q) return; // a KVM attempt being replaced
      const how = signal ? `killed by ${signal}` : `exit status ${code}`;
      if (this.phase === 'booting' && accel === 'kvm' && this.s.accel === 'auto') {
        // e.g. "failed to set MSR …" (QEMU aborts) on nested-virtualisation hosts
        const line = lastLines(this.qemuLog.replace(/^.*terminating on signal.*$/gm, ''), 1);
        this.qemu = q; // fallback() replaces it
        void this.fallback(`KVM failed (QEMU ${how}${line ? `: ${line}` : ''})`);
      } else if (this.phase === 'booting') {
        const why = lastLines(this.qemuLog, 3) || lastLines(this.consoleText(), 5);
        this.fail('ENCLAVE_EXITED_DURING_BOOT', `QEMU ended before the heartbeat (${how})${why ? `: ${why}` : ''}`);
      } else if (this.phase === 'ready') void this.stop(`QEMU ended (${how})`, 0);
    });
    if (accel === 'kvm' && this.s.accel === 'auto') {
      this.probeTimer = setTimeout(() => {
        if (!this.progress && this.phase === 'booting') void this.fallback(`the KVM guest showed no sign of life within ${Math.round(this.s.kvmProbeMs / 1000)} s`);
      }, this.s.kvmProbeMs);
    }
  }

  private async fallback(reason: string): Promise<void> {
    if (this.accel !== 'kvm' || this.s.accel === 'kvm') {
      if (this.s.accel === 'kvm') this.fail('EMULATE_START_FAILED', `${reason}; unset EIF_EMULATE_ACCEL=kvm to fall back to software emulation`);
      return;
    }
    clearTimeout(this.probeTimer);
    this.accelNote = reason;
    this.emit({ event: 'accel', accel: 'tcg', reason });
    await this.rebootTcg();
  }

  /** Stop QEMU and the backend and boot again under TCG (after a failed TSC calibration). */
  private async restartTcg(reason: string): Promise<void> {
    this.emit({ event: 'restart', reason });
    await this.rebootTcg();
  }

  /** Stop this boot's QEMU and backend, forget their console and logs, and boot again under TCG. */
  private async rebootTcg(): Promise<void> {
    // both forgotten before anything is awaited, so their exit handlers do not take this for a failed boot
    const q = this.qemu;
    const b = this.backend;
    this.qemu = undefined;
    this.backend = undefined;
    await stopChild(q);
    await stopChild(b);
    this.consoleBuf = [];
    this.consoleBytes = 0;
    this.qemuLog = '';
    this.backendLog = '';
    if (this.phase === 'booting') await this.boot('tcg');
  }

  private startBackend(): Promise<void> {
    this.unlinkQuiet(this.path('.vhost'));
    this.unlinkQuiet(this.path('.vsock'));
    const native = this.s.vsockBackendKind === 'eifkit';
    const name = native ? 'eif-vsock-backend' : 'vhost-device-vsock';
    const args = native
      ? ['--guest-cid', String(this.s.cid), '--socket', this.path('.vhost'), '--uds-path', this.path('.vsock')]
      : ['--vm', `guest-cid=${this.s.cid},socket=${this.path('.vhost')},uds-path=${this.path('.vsock')}`];
    const b = spawn(this.s.vsockBackend, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? 'warn' } });
    this.backend = b;
    b.stderr!.on('data', (d: Buffer) => {
      this.backendLog = (this.backendLog + d.toString('utf8')).slice(-8192);
      // only the fallback drops CID 3; eifkit's backend routes it
      if (!native && this.phase === 'booting' && /unknown cid: 3\b/.test(this.backendLog)) {
        this.fail('EMULATE_HEARTBEAT_CID3', 'the enclave connected to the parent at vsock CID 3 (as AWS\'s init does), which the fallback backend vhost-device-vsock drops (its Unix-socket mode routes only CID 2): eifkit\'s own backend, which routes CID 3, is not built — build it with `node scripts/build-native.mjs` (docs/launcher.md, "Emulation")');
      }
    });
    b.on('error', (e) => this.fail('EMULATE_START_FAILED', `cannot start ${this.s.vsockBackend}: ${e.message}`));
    b.on('exit', (code, signal) => {
      if (this.backend === b && this.phase === 'booting' && code === 0 && this.qemu && /QEMU disconnected/.test(this.backendLog)) {
        // eifkit's backend ends when QEMU goes away: QEMU's own exit decides what that means (a KVM failure is
        // retried under TCG); only a QEMU still running after 3 s makes it a failed start
        const q = this.qemu;
        setTimeout(() => {
          if (this.qemu === q && q.exitCode === null && q.signalCode === null) this.fail('EMULATE_START_FAILED', `${name} lost its connection to QEMU: ${lastLines(this.backendLog, 2)}`);
        }, 3000).unref();
      } else if (this.backend === b && this.phase === 'booting') {
        this.fail('EMULATE_START_FAILED', `${name} ended (${signal ?? `exit status ${code}`})${this.backendLog ? `: ${lastLines(this.backendLog, 2)}` : ''}`);
      } else if (this.backend === b && this.phase === 'ready') void this.stop(`${name} ended`, 0);
    });
    // QEMU needs the backend's socket to exist before it starts
    return new Promise((res) => {
      const t0 = Date.now();
      const poll = (): void => {
        if (this.phase !== 'booting' || existsSync(this.path('.vhost'))) return res();
        if (Date.now() - t0 > 10_000) {
          this.fail('EMULATE_START_FAILED', `${name} did not create ${this.path('.vhost')} within 10 s`);
          return res();
        }
        setTimeout(poll, 20);
      };
      poll();
    });
  }

  private consoleData(d: Buffer): void {
    this.progress = true;
    this.consoleBuf.push(d);
    this.consoleBytes += d.length;
    while (this.consoleBytes > CONSOLE_KEEP && this.consoleBuf.length > 1) this.consoleBytes -= this.consoleBuf.shift()!.length;
    for (const c of this.consoleClients) c.write(d);
  }

  private consoleText(): string {
    return Buffer.concat(this.consoleBuf).toString('utf8');
  }

  private cpuIds(): number[] {
    return Array.from({ length: this.s.cpuCount }, (_, i) => i);
  }

  private async ready(): Promise<void> {
    if (this.phase !== 'booting') return;
    clearTimeout(this.bootTimer);
    clearTimeout(this.probeTimer);
    this.progress = true;
    await this.serve('.console', (sock) => {
      sock.write(Buffer.concat(this.consoleBuf));
      this.consoleClients.add(sock);
      sock.on('close', () => this.consoleClients.delete(sock));
      sock.on('error', () => {});
      sock.on('data', () => {}); // the console is read-only, as on Nitro
    });
    await this.serve('.sock', (sock) => {
      let buf = '';
      sock.on('error', () => {});
      sock.on('data', (d: Buffer) => {
        buf += d.toString('utf8');
        const i = buf.indexOf('\n');
        if (i < 0) return;
        const req = buf.slice(0, i).trim();
        if (req === 'describe') sock.end(`${JSON.stringify({ state: this.phase === 'ready' ? 'RUNNING' : 'TERMINATING', emulated: true, accel: this.accel })}\n`);
        else if (req === 'terminate') void this.stop('terminate request', 0, sock);
        else sock.end(`${JSON.stringify({ error: `unknown request ${JSON.stringify(req.slice(0, 40))}` })}\n`);
      });
    });
    const record = {
      slotUid: this.s.slotUid,
      pid: process.pid,
      cid: this.s.cid,
      cpuIds: this.cpuIds(),
      memoryMiB: this.s.memoryMiB,
      debug: this.s.debug,
      socket: `${this.s.slotUid}.sock`,
      meta: this.s.meta,
      emulated: { accel: this.accel, accelNote: this.accelNote, qemuPid: this.qemu?.pid, backendPid: this.backend?.pid, vsockBackend: this.s.vsockBackendKind, vsockSocket: this.path('.vsock'), consoleSocket: this.path('.console') },
    };
    writeFileSync(this.path('.json.tmp'), JSON.stringify(record));
    renameSync(this.path('.json.tmp'), this.path('.json'));
    this.phase = 'ready';
    this.emit({ event: 'ready', slotUid: this.s.slotUid, pid: process.pid, cid: this.s.cid, cpuIds: this.cpuIds(), memoryMiB: this.s.memoryMiB, debug: this.s.debug, accel: this.accel, accelNote: this.accelNote, bootMs: Date.now() - this.start, vsockSocket: this.path('.vsock'), vsockBackend: this.s.vsockBackendKind });
    process.stdin.destroy();
  }

  private serve(ext: string, onConn: (s: Socket) => void): Promise<void> {
    const srv = createServer(onConn);
    this.servers.push(srv);
    return new Promise((res, rej) => {
      srv.once('error', rej);
      srv.listen(this.path(ext), () => res());
    });
  }

  fail(code: string, detail: string): void {
    if (this.phase !== 'booting') return;
    this.emit({ event: 'error', code, detail, accel: this.accel, accelNote: this.accelNote, console: lastLines(this.consoleText(), 20) });
    void this.stop(detail, 1);
  }

  /** Stop QEMU and the backend by pid, close every socket, remove every file; then exit. Runs once. */
  async stop(_why: string, status: number, reply?: Socket): Promise<void> {
    if (this.phase === 'stopping') return;
    this.phase = 'stopping';
    clearTimeout(this.bootTimer);
    clearTimeout(this.probeTimer);
    const q = this.qemu;
    this.qemu = undefined;
    await stopChild(q);
    const b = this.backend;
    this.backend = undefined;
    await stopChild(b);
    for (const c of this.consoleClients) c.end();
    for (const srv of this.servers) srv.close();
    for (const f of this.files) this.unlinkQuiet(f);
    if (reply) {
      await new Promise<void>((res) => reply.end(`${JSON.stringify({ terminated: true })}\n`, () => res()));
    }
    process.exit(status);
  }
}

/** /dev/kvm exists and this user may open it read-write (what QEMU needs). */
function kvmUsable(): boolean {
  try {
    accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** SIGTERM, then SIGKILL after 2 s; resolves when the child has exited. */
export function stopChild(c: ChildProcess | undefined): Promise<void> {
  if (!c || c.pid === undefined || c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    const kill = setTimeout(() => c.kill('SIGKILL'), 2000);
    c.once('exit', () => {
      clearTimeout(kill);
      res();
    });
    c.kill('SIGTERM');
  });
}

function lastLines(text: string, n: number): string {
  return text.replace(/\r/g, '').trim().split('\n').slice(-n).join(' | ').slice(-600);
}

// entry point: node emulate-supervisor.js '<settings JSON>'
if (process.argv[1] && /emulate-supervisor\.[jt]s$/.test(process.argv[1]) && process.argv[2]) {
  process.title = 'eif-emulate';
  const sup = new Supervisor(JSON.parse(process.argv[2]) as SupervisorSettings);
  sup.run().catch((e: unknown) => sup.fail('EMULATE_START_FAILED', (e as Error).message));
}
