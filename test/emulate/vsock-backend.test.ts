/**
 * eifkit's vhost-user vsock backend (native/vsock-backend.c) without QEMU: the vhost-user messages QEMU's
 * vhost-user-vsock device sends before it has guest memory (vhost-user.rst: GET_FEATURES, GET/SET_PROTOCOL_FEATURES,
 * GET_CONFIG for guest_cid, reply-ack), a malformed message, the host side's CONNECT line, and the lifecycle (sockets
 * removed on SIGTERM and when QEMU disconnects). The rings are exercised with QEMU in emulate.test.ts.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nativeBackendPath } from '../../src/launcher/emulate-tools.js';

const BACKEND = nativeBackendPath();
const why = process.platform !== 'linux' ? 'Linux only' : existsSync(BACKEND) ? undefined : `${BACKEND} is not built (node scripts/build-native.mjs)`;
const dir = mkdtempSync(join(tmpdir(), 'eifkit-vsock-backend-'));
const started: ChildProcess[] = [];
afterAll(() => {
  for (const c of started) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

interface Backend {
  proc: ChildProcess;
  vhost: string;
  uds: string;
  log: () => string;
  exited: Promise<number | null>;
}

async function startBackend(name: string, cid = 16): Promise<Backend> {
  const vhost = join(dir, `${name}.vhost`);
  const uds = join(dir, `${name}.vsock`);
  const proc = spawn(BACKEND, ['--guest-cid', String(cid), '--socket', vhost, '--uds-path', uds], { stdio: ['ignore', 'ignore', 'pipe'] });
  started.push(proc);
  let log = '';
  proc.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  // 'close', not 'exit': its stderr is read to the end by then
  const exited = new Promise<number | null>((res) => proc.on('close', (code) => res(code)));
  const t0 = Date.now();
  while (!existsSync(vhost) && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
  expect(existsSync(vhost), log).toBe(true);
  return { proc, vhost, uds, log: () => log, exited };
}

/** A vhost-user frontend that only talks (no fds): send a message, read one reply. */
class Frontend {
  private buf = Buffer.alloc(0);
  private waiters: (() => void)[] = [];
  closed = false;
  constructor(readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.waiters.splice(0).forEach((w) => w());
    });
    sock.on('close', () => {
      this.closed = true;
      this.waiters.splice(0).forEach((w) => w());
    });
    sock.on('error', () => {});
  }
  static open(path: string): Promise<Frontend> {
    return new Promise((res, rej) => {
      const s = connect(path, () => res(new Frontend(s)));
      s.once('error', rej);
    });
  }
  send(request: number, payload: Buffer = Buffer.alloc(0), flags = 1): void {
    const h = Buffer.alloc(12);
    h.writeUInt32LE(request, 0);
    h.writeUInt32LE(flags, 4);
    h.writeUInt32LE(payload.length, 8);
    this.sock.write(Buffer.concat([h, payload]));
  }
  async reply(ms = 3000): Promise<{ request: number; flags: number; payload: Buffer }> {
    const end = Date.now() + ms;
    while (this.buf.length < 12 || this.buf.length < 12 + this.buf.readUInt32LE(8)) {
      if (this.closed || Date.now() > end) throw new Error('no reply');
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
    const size = this.buf.readUInt32LE(8);
    const out = { request: this.buf.readUInt32LE(0), flags: this.buf.readUInt32LE(4), payload: this.buf.subarray(12, 12 + size) };
    this.buf = this.buf.subarray(12 + size);
    return out;
  }
  end(): void {
    this.sock.end();
  }
}

const u64 = (v: bigint): Buffer => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(v);
  return b;
};

describe.skipIf(!!why)(why ? `eif-vsock-backend (skipped: ${why})` : 'eif-vsock-backend: the vhost-user side, without QEMU', () => {
  it('offers VERSION_1 + PROTOCOL_FEATURES, protocol features CONFIG + REPLY_ACK, and the guest CID in its config', async () => {
    const b = await startBackend('features', 21);
    const f = await Frontend.open(b.vhost);
    f.send(1); // GET_FEATURES
    const feat = await f.reply();
    expect(feat.request).toBe(1);
    expect(feat.flags).toBe(1 | 4); // version 1, reply
    expect(feat.payload.readBigUInt64LE()).toBe((1n << 32n) | (1n << 30n));
    f.send(15); // GET_PROTOCOL_FEATURES
    expect((await f.reply()).payload.readBigUInt64LE()).toBe((1n << 9n) | (1n << 3n));
    f.send(16, u64((1n << 9n) | (1n << 3n))); // SET_PROTOCOL_FEATURES
    f.send(3, Buffer.alloc(0), 1 | 8); // SET_OWNER, reply-ack requested: 0 = success
    const ack = await f.reply();
    expect([ack.request, ack.payload.readBigUInt64LE()]).toEqual([3, 0n]);
    // GET_CONFIG: offset 0, size 8 (struct virtio_vsock_config) -> guest_cid
    const cfg = Buffer.alloc(12 + 8);
    cfg.writeUInt32LE(0, 0);
    cfg.writeUInt32LE(8, 4);
    f.send(24, cfg);
    const c = await f.reply();
    expect(c.payload.length).toBe(20);
    expect(c.payload.readBigUInt64LE(12)).toBe(21n);
    f.send(17); // GET_QUEUE_NUM
    expect((await f.reply()).payload.readBigUInt64LE()).toBe(2n);
    // a ring index the device does not have, reply-ack requested: failure, and the backend carries on
    const st = Buffer.alloc(8);
    st.writeUInt32LE(7, 0);
    st.writeUInt32LE(128, 4);
    f.send(8, st, 1 | 8); // SET_VRING_NUM for queue 7
    expect((await f.reply()).payload.readBigUInt64LE()).toBe(1n);
    // the host side before the guest's device runs: the CONNECT is refused (closed), not left hanging
    const h = connect(b.uds);
    const closed = new Promise<string>((res) => {
      let got = '';
      h.on('data', (d: Buffer) => (got += d.toString()));
      h.on('close', () => res(got));
      h.on('error', () => {});
    });
    h.write('CONNECT 5005\n');
    expect(await closed).toBe('');
    // QEMU going away ends the backend, which removes its sockets
    f.end();
    expect(await b.exited).toBe(0);
    expect(existsSync(b.vhost) || existsSync(b.uds)).toBe(false);
    expect(b.log()).toMatch(/QEMU connected/);
    expect(b.log()).toMatch(/exit \(QEMU disconnected\)/);
  });

  it('a malformed message (payload size beyond any message) ends the connection and the backend, cleanly', async () => {
    const b = await startBackend('malformed');
    const f = await Frontend.open(b.vhost);
    const h = Buffer.alloc(12);
    h.writeUInt32LE(5, 0); // SET_MEM_TABLE
    h.writeUInt32LE(1, 4);
    h.writeUInt32LE(1 << 30, 8);
    f.sock.write(h);
    expect(await b.exited).toBe(0);
    expect(b.log()).toMatch(/bad vhost-user header/);
    expect(existsSync(b.vhost) || existsSync(b.uds)).toBe(false);
  });

  it('SIGTERM: exits 0 and removes its sockets; bad arguments: usage, exit 2', async () => {
    const b = await startBackend('sigterm');
    b.proc.kill('SIGTERM');
    expect(await b.exited).toBe(0);
    expect(existsSync(b.vhost) || existsSync(b.uds)).toBe(false);
    expect(b.log()).toMatch(/exit \(SIGTERM\)/);
    const bad = spawnSync(BACKEND, ['--guest-cid', '3', '--socket', join(dir, 'x'), '--uds-path', join(dir, 'y')], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('--guest-cid');
    expect(spawnSync(BACKEND, [], { encoding: 'utf8' }).status).toBe(2);
  });
});

const FRONTEND = join(nativeBackendPath(), '..', 'vsock_frontend');
describe.skipIf(!!why || !existsSync(FRONTEND))(
  existsSync(FRONTEND) ? 'eif-vsock-backend: the rings, with a C stand-in for QEMU and the guest (native/test/vsock_frontend.c)' : 'eif-vsock-backend rings (skipped: native/out/vsock_frontend is not built)',
  () => {
    it('routes CID 3 and 2, moves data both ways, resets what it cannot route, and survives malformed chains and addresses', async () => {
      const b = await startBackend('rings', 16);
      const f = spawnSync(FRONTEND, [b.vhost, b.uds, '16'], { encoding: 'utf8', timeout: 30_000 });
      expect(f.stdout).not.toContain('FAIL');
      expect(f.status, f.stdout + f.stderr).toBe(0);
      expect(f.stdout.trim().split('\n')).toEqual([
        'ok vhost-user set-up',
        'ok connect to the parent at CID 3: RESPONSE, data both ways',
        'ok CID 2 is routed too',
        'ok no listener: RST',
        'ok another CID: RST',
        'ok data for an unknown connection: RST',
        'ok a foreign source CID is dropped',
        'ok malformed chains are consumed, never followed',
        'ok a length beyond the chain resets that connection',
        'ok still serving after all that',
      ]);
      // the frontend closed its vhost-user connection: the backend ends on its own, its sockets removed
      expect(await b.exited).toBe(0);
      expect(existsSync(b.vhost) || existsSync(b.uds)).toBe(false);
      // every malformed thing counted: the ring address, the rx buffer, 7 chains, the foreign CID, the long packet
      const m = /exit \(QEMU disconnected\): to host 5 bytes, to guest 6 bytes, connects 3, .* malformed (\d+)/.exec(b.log());
      expect(m, b.log()).not.toBeNull();
      expect(Number(m![1])).toBe(11);
    });
  },
);
