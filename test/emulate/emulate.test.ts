/**
 * `eif run --emulate` end to end (issue 14; docs/launcher.md "Emulation"; qemu-emulation.md): images built by
 * eifkit from Debian's kernel and an initramfs made in test/emulate/images.ts boot on QEMU's nitro-enclave machine
 * under the real CLI; the heartbeat arrives, the NSM's document carries the PCRs `eif describe` computes, and the
 * document's payload re-signed with a throw-away chain passes `eif attest verify --eif`. Skips, saying what is
 * missing, when scripts/build-qemu.sh has not filled the cache. Every boot runs under a timeout.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { accessSync, constants, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeEmulatedDocument } from '../../src/attestation/document.js';
import { toHex } from '../../src/util/hex.js';
import { makeDocument, makePki } from '../attestation/helpers/generator.js';
import { BIN, CACHE, CMDLINE, compileProbe, eifBuild, KERNEL, missingForEmulation, probeRamdisk } from './images.js';
import { findEmulationTools, nativeBackendPath } from '../../src/launcher/emulate-tools.js';
import * as tar from '../oci/tar-bytes.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { S_IFDIR, S_IFREG, writeCpio } from '../../src/eif/cpio.js';

const why = missingForEmulation();
const suite = why ? describe.skip : describe;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string>, timeout = 90_000): Run {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout, killSignal: 'SIGKILL' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

async function waitFor(cond: () => boolean, ms: number): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (cond()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return cond();
}

/** Host side of the enclave's vsock port `port` through the backend's socket: CONNECT, then send, read to EOF. */
function askEnclave(vsockSocket: string, port: number, send: Buffer, ms = 20_000): Promise<Buffer> {
  return new Promise((res, rej) => {
    const s = connect(vsockSocket);
    const timer = setTimeout(() => {
      s.destroy();
      rej(new Error(`no answer from enclave port ${port} within ${ms} ms`));
    }, ms);
    let head = '';
    let connected = false;
    const body: Buffer[] = [];
    s.on('connect', () => s.write(`CONNECT ${port}\n`));
    s.on('data', (d: Buffer) => {
      if (connected) return void body.push(d);
      head += d.toString('latin1');
      const i = head.indexOf('\n');
      if (i < 0) return;
      if (!head.startsWith('OK')) return rej(new Error(`backend said ${JSON.stringify(head)}`));
      connected = true;
      const rest = Buffer.from(head.slice(i + 1), 'latin1');
      if (rest.length) body.push(rest);
      s.write(send);
    });
    s.on('end', () => {
      clearTimeout(timer);
      res(Buffer.concat(body));
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      rej(e);
    });
  });
}

/** The host end of the enclave's vsock port `port`, once the backend said OK. */
function openEnclavePort(vsockSocket: string, port: number, ms = 20_000): Promise<{ sock: Socket; hostPort: number }> {
  return new Promise((res, rej) => {
    const s = connect(vsockSocket);
    const timer = setTimeout(() => (s.destroy(), rej(new Error(`no OK for enclave port ${port} within ${ms} ms`))), ms);
    let head = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      head = Buffer.concat([head, d]);
      const i = head.indexOf(10);
      if (i < 0) return;
      s.off('data', onData);
      clearTimeout(timer);
      const line = head.subarray(0, i).toString('latin1');
      const m = /^OK (\d+)$/.exec(line);
      if (!m) return rej(new Error(`backend said ${JSON.stringify(line)}`));
      s.pause();
      if (head.length > i + 1) s.unshift(head.subarray(i + 1));
      res({ sock: s, hostPort: Number(m[1]) });
    };
    s.on('connect', () => s.write(`CONNECT ${port}\n`));
    s.on('data', onData);
    s.on('error', (e) => (clearTimeout(timer), rej(e)));
    s.on('close', () => (clearTimeout(timer), rej(new Error('closed before OK'))));
  });
}

/** Everything a socket sends until it ends (it must end within `ms`). */
function readToEnd(s: Socket, ms: number): Promise<Buffer> {
  return new Promise((res, rej) => {
    const parts: Buffer[] = [];
    const timer = setTimeout(() => (s.destroy(), rej(new Error(`no end within ${ms} ms`))), ms);
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('end', () => (clearTimeout(timer), res(Buffer.concat(parts))));
    s.on('error', (e) => (clearTimeout(timer), rej(e)));
    s.resume();
  });
}

/** FNV-1a 32 (the enclave probe's checksum). */
function fnv1a(b: Buffer, h = 0x811c9dc5): number {
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 16777619) >>> 0;
  return h >>> 0;
}

/** The enclave probe's xorshift32 stream (seed 1), `n` bytes. */
function xorshiftBytes(n: number): Buffer {
  const out = Buffer.alloc(n);
  let x = 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Files and processes an emulated enclave may leave: none once it has ended. */
function leftovers(stateDir: string): string[] {
  return readdirSync(stateDir).filter((f) => !f.endsWith('.lock'));
}

function pem(der: Uint8Array, label = 'CERTIFICATE'): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

const MiB = 1 << 20;

/**
 * The enclave probe's ports 5006 (bulk echo) and 5007 (dial out) from the host: several MiB each way with a checksum
 * (credit and backpressure: the host writes far faster than the TCG guest reads), an enclave-side close (5006) and a
 * host-side close (the dial's listener ends first), the parent reached at CID 3 and CID 2, and a port without a
 * listener refused (RST → ECONNRESET in the enclave).
 */
/** Port 5006: `n` random bytes in, their checksum and the bytes echoed back, then the enclave closes. */
async function bulkEcho(vsockSocket: string, n: number): Promise<number> {
  const data = randomBytes(n);
  const t0 = Date.now();
  const bulk = await openEnclavePort(vsockSocket, 5006);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(data.length);
  bulk.sock.write(Buffer.concat([len, data]));
  const back = await readToEnd(bulk.sock, 60_000);
  const ms = Date.now() - t0;
  expect(back.length).toBe(4 + data.length);
  expect(back.readUInt32LE(0)).toBe(fnv1a(data));
  expect(back.subarray(4).equals(data)).toBe(true);
  bulk.sock.destroy();
  return ms;
}

async function vsockTraffic(vsockSocket: string): Promise<void> {
  // host → enclave → host: 4 MiB in, its checksum and the 4 MiB echoed back, then the enclave closes
  const bulkMs = await bulkEcho(vsockSocket, 4 * MiB);
  console.log(`vsock bulk echo: 2 × 4 MiB in ${bulkMs} ms = ${((8 * 1000) / bulkMs).toFixed(1)} MiB/s`);

  // enclave → parent at CID 3 port 7000 (a host Unix listener at <VsockSocket>_7000): 4 MiB up, 3 MiB down; the host
  // ends its side first and the enclave reads to that end
  const down = randomBytes(3 * MiB);
  let upSum = 0;
  let upLen = 0;
  let hostClosed = false;
  const ups: string[] = [];
  const listener = createServer((s) => {
    const parts: Buffer[] = [];
    // stop reading for a while at first: the Unix socket fills, the backend buffers its 256 KiB and the enclave
    // waits for credit (the backpressure path), then everything must still arrive in order
    let paused = false;
    s.on('data', (d: Buffer) => {
      parts.push(d);
      if (!paused) {
        paused = true;
        s.pause();
        setTimeout(() => s.resume(), 700);
      }
    });
    s.on('end', () => {
      const up = Buffer.concat(parts);
      upLen = up.length;
      upSum = fnv1a(up);
      ups.push(`${upLen} ${upSum}`);
      s.end(down);
    });
    s.on('close', () => (hostClosed = true));
    s.on('error', () => {});
  });
  await new Promise<void>((r) => listener.listen(`${vsockSocket}_7000`, () => r()));
  const dial = async (line: string): Promise<string> => {
    const c = await openEnclavePort(vsockSocket, 5007);
    c.sock.write(`${line}\n`);
    return (await readToEnd(c.sock, 60_000)).toString('utf8').trim();
  };
  try {
    const t1 = Date.now();
    const answer = await dial(`DIAL 3 7000 ${4 * MiB}`);
    const dialMs = Date.now() - t1;
    expect(answer).toBe(`DIALED ${4 * MiB} ${down.length} ${fnv1a(down).toString(16).padStart(8, '0')}`);
    expect(upLen).toBe(4 * MiB);
    expect(upSum).toBe(fnv1a(xorshiftBytes(4 * MiB)));
    expect(await waitFor(() => hostClosed, 5000)).toBe(true);
    console.log(`vsock enclave → CID 3: 4 MiB up + 3 MiB down in ${dialMs} ms, 0.7 s of it the host not reading (${((7 * 1000) / (dialMs - 700)).toFixed(1)} MiB/s without it)`);
    // CID 2, the older emulation's parent, reaches the same listener
    expect(await dial('DIAL 2 7000 1000')).toBe(`DIALED 1000 ${down.length} ${fnv1a(down).toString(16).padStart(8, '0')}`);
    expect(upLen).toBe(1000);
    // no listener at <VsockSocket>_7001: the enclave's connect is reset (ECONNRESET = 104)
    expect(await dial('DIAL 3 7001 10')).toBe('DIALERR 104');
    // both at once, twice over: four connections share the rings and their credit
    const sum = fnv1a(down).toString(16).padStart(8, '0');
    const both = await Promise.all([bulkEcho(vsockSocket, 2 * MiB), dial(`DIAL 3 7000 ${2 * MiB}`), bulkEcho(vsockSocket, MiB), dial(`DIAL 2 7000 ${MiB}`)]);
    expect(both.slice(1).filter((x) => typeof x === 'string').sort()).toEqual([`DIALED ${2 * MiB} ${down.length} ${sum}`, `DIALED ${MiB} ${down.length} ${sum}`].sort());
    expect(ups.slice(-2).sort()).toEqual([`${2 * MiB} ${fnv1a(xorshiftBytes(2 * MiB))}`, `${MiB} ${fnv1a(xorshiftBytes(MiB))}`].sort());
  } finally {
    listener.close();
  }
}

suite(why ? `eif run --emulate (skipped: ${why})` : 'eif run --emulate on QEMU\'s nitro-enclave machine', () => {
  let dir: string;
  let stateDir: string;
  let env: Record<string, string>;
  let app: string;
  let signed: string;
  let other: string;
  const describeOf = (p: string): Record<string, string> => JSON.parse(cli(['describe', '--eif-path', p], {}).stdout).Measurements;
  const started: number[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'eifkit-emu-'));
    stateDir = join(dir, 'state');
    mkdirSync(stateDir);
    env = { EIF_ENCLAVE_STATE_DIR: stateDir, EIF_EMULATE_ACCEL: 'tcg', EIF_HEARTBEAT_TIMEOUT_MS: '60000' };
    const probe = compileProbe(dir);
    // two ramdisks, as nitro-cli builds them: the first (busybox, modules, /init) is PCR1's, the second PCR2's
    const w = (name: string, bytes: Uint8Array): string => (writeFileSync(join(dir, name), bytes), join(dir, name));
    // the probe heartbeats to the parent at CID 3, as AWS's init does
    const base = probeRamdisk(probe, { parentCid: 3, bootNonce: '0b00' });
    const f = (name: string, data: Uint8Array | string, mode = 0o755) => ({ name, mode: S_IFREG | mode, data: typeof data === 'string' ? new TextEncoder().encode(data) : data, mtime: 0 });
    const rdApp = w('app.cpio', writeCpio([{ name: 'app', mode: S_IFDIR | 0o755, mtime: 0 }, f('app/hello.txt', 'hello from the app ramdisk\n', 0o644)]));
    const rdOther = w('other.cpio', writeCpio([{ name: 'app', mode: S_IFDIR | 0o755, mtime: 0 }, f('app/hello.txt', 'another image\n', 0o644)]));
    const rdBase = w('base.cpio', base);
    app = join(dir, 'app.eif');
    eifBuild(app, [rdBase, rdApp]);
    other = join(dir, 'other.eif');
    eifBuild(other, [rdBase, rdOther]);
    // a signed image (PCR8): a throw-away P-384 key and self-signed certificate
    const key = join(dir, 'sign.key');
    const cert = join(dir, 'sign.crt');
    execFileSync('openssl', ['ecparam', '-name', 'secp384r1', '-genkey', '-noout', '-out', key]);
    execFileSync('openssl', ['req', '-x509', '-new', '-key', key, '-subj', '/CN=eifkit emulation test', '-days', '2', '-sha384', '-out', cert]);
    // the signed image heartbeats to CID 2: images made for the older emulation keep working
    signed = join(dir, 'signed.eif');
    eifBuild(signed, [w('base2.cpio', probeRamdisk(probe, { parentCid: 2, bootNonce: '0b00' })), rdApp], ['--signing-certificate', cert, '--private-key', key]);
  }, 120_000);

  afterAll(() => {
    if (!dir) return;
    cli(['terminate-enclave', '--all'], env, 30_000);
    for (const pid of started) if (alive(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('boots, heartbeats, reports like eif run, serves the console and a vsock port; the document carries eif describe\'s PCRs', async () => {
    const t0 = Date.now();
    const r = cli(['run', '--emulate', '--eif-path', app, '--memory', '512', '--cpu-count', '1', '--debug-mode'], env);
    const bootMs = Date.now() - t0;
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    started.push(out.ProcessID);
    const m = describeOf(app);
    expect(out).toMatchObject({ EnclaveName: 'app', EnclaveCID: 16, NumberOfCPUs: 1, MemoryMiB: 512, Emulated: true, Accelerator: 'tcg' });
    expect(out.EnclaveID).toMatch(/^i-[0-9a-z]+-enc[0-9a-f]+$/);
    expect(out.Measurements.PCR0).toBe(m.PCR0);
    expect(r.stderr).toContain('Started emulated enclave with enclave-cid: 16');
    expect(r.stderr).toContain('proves the image format, the boot path and the PCRs, not AWS\'s hypervisor or its signing');
    console.log(`emulated boot to heartbeat: ${out.BootMs} ms (whole eif run --emulate: ${bootMs} ms)`);

    const list = JSON.parse(cli(['describe-enclaves'], env).stdout);
    expect(list).toHaveLength(1);
    expect(list[0]).toMatchObject({ EnclaveID: out.EnclaveID, State: 'RUNNING', Flags: 'DEBUG_MODE', Emulated: true, Accelerator: 'tcg', VsockSocket: out.VsockSocket });

    // the boot document on the console (nonce 0b00) and the heartbeat line
    let consoleText = '';
    await waitFor(() => (consoleText = cli(['console', '--enclave-id', out.EnclaveID, '--disconnect-timeout', '1'], env).stdout).includes('PROBE listening'), 30_000);
    expect(consoleText).toContain('PROBE heartbeat ok (CID 3)');
    expect(out.VsockBackend).toBe('eifkit');
    expect(r.stderr).toContain(`the enclave reaches the parent at vsock CID 3 (or 2) port P through a Unix socket listening at ${out.VsockSocket}_P`);
    const bootDoc = decodeEmulatedDocument(Buffer.from(/PROBE doc ([0-9a-f]+)/.exec(consoleText)![1]!, 'hex'));
    expect(toHex(bootDoc.nonce!)).toBe('0b00');

    // a host program asks the enclave's port 5005 for a document with its own nonce
    const nonce = Buffer.from('c0ffee0123456789', 'hex');
    const docBytes = await askEnclave(out.VsockSocket, 5005, Buffer.concat([nonce, Buffer.from('\n')]));
    const doc = decodeEmulatedDocument(docBytes);
    expect(toHex(doc.nonce!)).toBe(nonce.toString('hex'));
    expect(new TextDecoder().decode(doc.userData!)).toBe('eifkit-emulate');
    expect(doc.moduleId).toBe(out.EnclaveID);
    for (const i of [0, 1, 2]) expect(toHex(doc.pcrs[i]!), `PCR${i}`).toBe(m[`PCR${i}`]);
    expect(doc.pcrs[8]!.every((b) => b === 0)).toBe(true);

    // inspect shows it as emulated and unsigned; verify rejects it
    const docFile = join(dir, 'doc.cbor');
    writeFileSync(docFile, docBytes);
    const ins = cli(['attest', 'inspect', docFile], {});
    expect(ins.status).toBe(1);
    expect(ins.stdout).toContain('emulated (unsigned) document');
    expect(ins.stdout).toContain(`PCR0   ${m.PCR0}`);
    const ver = cli(['attest', 'verify', docFile, '--eif', app], {});
    expect(ver.status).toBe(1);
    expect(ver.stdout + ver.stderr).toContain('ATT_EMULATED_DOCUMENT');

    // the payload re-signed with a throw-away chain: verify --eif with that root and the nonce passes, another image fails
    const pki = await makePki(doc.timestamp);
    const pcrs = new Map(Object.entries(doc.pcrs).map(([i, v]) => [Number(i), v] as [number, Uint8Array]));
    const resigned = await makeDocument(pki, doc.timestamp, { moduleId: doc.moduleId, timestamp: doc.timestamp, pcrs, userData: doc.userData, nonce: doc.nonce, publicKey: doc.publicKey });
    writeFileSync(join(dir, 'resigned.cbor'), resigned);
    writeFileSync(join(dir, 'root.pem'), pem(pki.root.der));
    const at = new Date(doc.timestamp).toISOString();
    const ok = cli(['attest', 'verify', join(dir, 'resigned.cbor'), '--root', join(dir, 'root.pem'), '--eif', app, '--nonce', nonce.toString('hex'), '--at', at], {});
    expect(ok.status, ok.stdout + ok.stderr).toBe(0);
    const bad = cli(['attest', 'verify', join(dir, 'resigned.cbor'), '--root', join(dir, 'root.pem'), '--eif', other, '--nonce', nonce.toString('hex'), '--at', at], {});
    expect(bad.status).toBe(1);
    expect(bad.stdout).toMatch(/PCR2/);

    // vsock both ways through eifkit's backend (native/vsock-backend.c)
    await vsockTraffic(out.VsockSocket);
    // a host program that writes CONNECT and its request at once and half-closes before the OK still gets its answer
    const eager = connect(out.VsockSocket);
    eager.on('connect', () => eager.end(Buffer.concat([Buffer.from('CONNECT 5005\n'), Buffer.from('0d0e', 'hex'), Buffer.from('\n')])));
    const eagerReply = await readToEnd(eager, 20_000);
    const nl = eagerReply.indexOf(10);
    expect(eagerReply.subarray(0, nl).toString()).toMatch(/^OK \d+$/);
    expect(toHex(decodeEmulatedDocument(eagerReply.subarray(nl + 1)).nonce!)).toBe('0d0e');

    // terminate: QEMU, the backend and the supervisor gone, no file left
    const rec = JSON.parse(readFileSync(join(stateDir, `${out.EnclaveID.split('-enc')[1]}.json`), 'utf8'));
    const t = cli(['terminate-enclave', '--enclave-id', out.EnclaveID], env);
    expect(t.status, t.stderr).toBe(0);
    expect(JSON.parse(t.stdout)).toMatchObject({ EnclaveID: out.EnclaveID, Terminated: true });
    expect(await waitFor(() => !alive(rec.emulated.qemuPid) && !alive(rec.emulated.backendPid) && !alive(out.ProcessID), 5000)).toBe(true);
    expect(leftovers(stateDir)).toEqual([]);
    expect(JSON.parse(cli(['describe-enclaves'], env).stdout)).toEqual([]);
  }, 120_000);

  it('a signed image, KVM first: PCR8 equals eif describe\'s; production mode has no console; KVM used or left for TCG with the reason; a hung QEMU is still terminated', async () => {
    const r = cli(['run', '--emulate', '--eif-path', signed, '--memory', '512', '--cpu-count', '1'], { ...env, EIF_EMULATE_ACCEL: 'auto', EIF_EMULATE_KVM_PROBE_MS: '10000' });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    started.push(out.ProcessID);
    let kvmUsable = true;
    try {
      accessSync('/dev/kvm', constants.R_OK | constants.W_OK);
    } catch {
      kvmUsable = false;
    }
    if (!kvmUsable) expect(out).toMatchObject({ Accelerator: 'tcg', AcceleratorNote: '/dev/kvm is not available here' });
    else {
      expect(r.stderr).toContain('booting under QEMU with KVM');
      // here (nested virtualisation) every Linux guest fails under KVM: then the fallback and its reason
      if (out.Accelerator === 'tcg') expect(r.stderr).toMatch(/falling back to software emulation \(TCG\): (KVM failed|the KVM guest showed no sign of life)/);
    }
    const m = describeOf(signed);
    const doc = decodeEmulatedDocument(await askEnclave(out.VsockSocket, 5005, Buffer.from('01\n')));
    for (const i of [0, 1, 2, 8]) expect(toHex(doc.pcrs[i]!), `PCR${i}`).toBe(m[`PCR${i}`]);
    const c = cli(['console', '--enclave-id', out.EnclaveID, '--disconnect-timeout', '1'], env);
    expect(c.stderr).toContain('CONSOLE_NOT_DEBUG');
    // a hung QEMU (stopped: SIGTERM stays pending) is still ended by terminate-enclave (SIGKILL after 2 s)
    const rec = JSON.parse(readFileSync(join(stateDir, `${out.EnclaveID.split('-enc')[1]}.json`), 'utf8'));
    process.kill(rec.emulated.qemuPid, 'SIGSTOP');
    const t = cli(['terminate-enclave', '--enclave-id', out.EnclaveID], env, 30_000);
    expect(t.status, t.stderr).toBe(0);
    expect(await waitFor(() => !alive(rec.emulated.qemuPid) && !alive(rec.emulated.backendPid) && !alive(out.ProcessID), 5000)).toBe(true);
    expect(leftovers(stateDir)).toEqual([]);
  }, 120_000);

  it('from a container image to a running enclave: eif build --docker-archive with test blobs, booted emulated, the CMD\'s output on the console', async () => {
    // test blobs: Debian's kernel and config, its nsm.ko, and an init doing what AWS's does (fixtures/enclave-init.c)
    const blobs = join(dir, 'blobs');
    mkdirSync(blobs);
    const mods = join(CACHE, 'kernel', 'modules');
    const cc = spawnSync('cc', ['-static', '-Os', `-DMODDIR="${mods}"`, '-o', join(blobs, 'init'), join(REPO_ROOT, 'test', 'emulate', 'fixtures', 'enclave-init.c')], { encoding: 'utf8' });
    expect(cc.status, cc.stderr).toBe(0);
    copyFileSync(KERNEL, join(blobs, 'bzImage'));
    copyFileSync(join(CACHE, 'kernel', 'config'), join(blobs, 'bzImage.config'));
    copyFileSync(join(mods, 'nsm.ko'), join(blobs, 'nsm.ko'));
    writeFileSync(join(blobs, 'cmdline'), `${CMDLINE}\n`);
    // a `docker save` archive (legacy form) of a one-layer image: busybox, a CMD and an ENV
    const layer = tar.concat(
      tar.header({ name: 'bin/', typeflag: '5', mode: 0o755 }),
      tar.file('bin/busybox', new Uint8Array(readFileSync('/bin/busybox')), { mode: 0o755 }),
      tar.END,
    );
    const diffId = `sha256:${tar.sha256hex(layer)}`;
    const config = JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/bin', 'GREETING=hi from ENV'], Cmd: ['/bin/busybox', 'sh', '-c', 'echo hello from the container CMD; echo "$GREETING"'] },
      rootfs: { type: 'layers', diff_ids: [diffId] },
    });
    const configName = `${tar.sha256hex(new TextEncoder().encode(config))}.json`;
    const manifest = JSON.stringify([{ Config: configName, RepoTags: ['emu:test'], Layers: ['l1/layer.tar'] }]);
    const archive = join(dir, 'image.tar');
    writeFileSync(archive, tar.concat(tar.file(configName, config), tar.header({ name: 'l1/', typeflag: '5', mode: 0o755 }), tar.file('l1/layer.tar', layer), tar.file('manifest.json', manifest), tar.END));
    const eifPath = join(dir, 'container.eif');
    const b = cli(['build', '--docker-archive', archive, '--blobs', blobs, '--output', eifPath, '--quiet'], {});
    expect(b.status, b.stderr).toBe(0);

    const r = cli(['run', '--emulate', '--eif-path', eifPath, '--memory', '512', '--cpu-count', '1', '--debug-mode'], env);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    started.push(out.ProcessID);
    expect(out.Measurements.PCR0).toBe(describeOf(eifPath).PCR0);
    let text = '';
    await waitFor(() => (text = cli(['console', '--enclave-id', out.EnclaveID, '--disconnect-timeout', '1'], env).stdout).includes('INIT command exited'), 30_000);
    expect(text).toContain('INIT heartbeat ok');
    expect(text).toContain('hello from the container CMD');
    expect(text).toContain('hi from ENV');
    expect(text).toContain('INIT command exited with status 0');
    expect(cli(['terminate-enclave', '--enclave-id', out.EnclaveID], env).status).toBe(0);
    expect(leftovers(stateDir)).toEqual([]);
  }, 120_000);

  const fallback = findEmulationTools({ arch: 'x86_64' }).vhostVsock;
  it.skipIf(!fallback)(`without eifkit's backend built, the fallback vhost-device-vsock${fallback ? '' : ' (skipped: not in the cache)'}: an init heartbeating to CID 3 fails at once with EMULATE_HEARTBEAT_CID3 naming the missing backend, and leaves nothing`, () => {
    const t0 = Date.now();
    const r = cli(['run', '--emulate', '--eif-path', app, '--memory', '256', '--cpu-count', '1'], { ...env, EIF_NATIVE_OUT: join(dir, 'no-native-build') });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/warning EMULATE_VSOCK_BACKEND_MISSING: eifkit's vsock backend is not built: using .*vhost-device-vsock, whose enclaves reach the parent only at CID 2/);
    expect(r.stderr).toMatch(/eif: error EMULATE_HEARTBEAT_CID3: .*CID 3.*eifkit's own backend, which routes CID 3, is not built/);
    expect(Date.now() - t0).toBeLessThan(45_000);
    expect(leftovers(stateDir)).toEqual([]);
    expect(spawnSync('pgrep', ['-f', stateDir]).stdout.toString().trim()).toBe('');
  }, 90_000);

  it('QEMU killed under eifkit\'s backend: the backend notices the disconnect, exits 0 on its own and removes its sockets', async () => {
    const tools = findEmulationTools({ arch: 'x86_64' });
    const vhost = join(dir, 'direct.vhost');
    const uds = join(dir, 'direct.vsock');
    const backend = spawn(nativeBackendPath(), ['--guest-cid', '17', '--socket', vhost, '--uds-path', uds], { stdio: ['ignore', 'ignore', 'pipe'] });
    started.push(backend.pid!);
    let log = '';
    backend.stderr!.on('data', (d: Buffer) => (log += d.toString()));
    const backendExit = new Promise<number | null>((res) => backend.on('close', (code) => res(code)));
    expect(await waitFor(() => existsSync(vhost), 5000)).toBe(true);
    const qemu = spawn(tools.qemu!, ['-M', 'nitro-enclave,vsock=vsock0,id=direct,acpi=on', '-kernel', app, '-m', '256M', '-smp', '1', '-display', 'none', '-monitor', 'none', '-serial', 'null', '-no-reboot', '-chardev', `socket,id=vsock0,path=${vhost}`, '-L', tools.firmwareDir!, '-accel', 'tcg', '-icount', 'shift=auto,sleep=off'], { stdio: 'ignore' });
    started.push(qemu.pid!);
    // the guest's driver started both rings: the device is in use
    expect(await waitFor(() => /queue 1 \(tx\) started/.test(log), 60_000), log).toBe(true);
    qemu.kill('SIGKILL');
    expect(await Promise.race([backendExit, new Promise((r) => setTimeout(() => r('still running'), 5000))])).toBe(0);
    expect(log).toMatch(/exit \(QEMU disconnected\)/);
    expect(existsSync(vhost) || existsSync(uds)).toBe(false);
  }, 90_000);

  it('Ctrl-C while booting, or the supervisor killed while booting: QEMU and the backend stopped, every file removed', async () => {
    const child = spawn(process.execPath, [BIN, 'run', '--emulate', '--eif-path', app, '--memory', '256', '--cpu-count', '1'], { env: { ...process.env, ...env } });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    expect(await waitFor(() => err.includes('booting under QEMU'), 30_000)).toBe(true);
    const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
    child.kill('SIGINT');
    expect(await exited).toBe(1);
    expect(err).toContain('eif: error EMULATE_INTERRUPTED');
    expect(await waitFor(() => spawnSync('pgrep', ['-f', stateDir]).stdout.toString().trim() === '', 5000)).toBe(true);
    expect(leftovers(stateDir)).toEqual([]);

    // the supervisor killed (SIGKILL: no cleanup of its own) while booting: eif run --emulate stops QEMU and the
    // backend by the pids it was told and removes the files
    const again = spawn(process.execPath, [BIN, 'run', '--emulate', '--eif-path', app, '--memory', '256', '--cpu-count', '1'], { env: { ...process.env, ...env } });
    let err2 = '';
    again.stderr.on('data', (d: Buffer) => (err2 += d.toString()));
    expect(await waitFor(() => err2.includes('booting under QEMU'), 30_000)).toBe(true);
    // the supervisor is the CLI's child (its title hides its arguments)
    const pids = spawnSync('pgrep', ['-P', String(again.pid)]).stdout.toString().trim().split('\n').map(Number);
    const sup = pids.find((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'eif-emulate');
    expect(sup).toBeDefined();
    const done = new Promise<number | null>((res) => again.on('exit', (code) => res(code)));
    process.kill(sup!, 'SIGKILL');
    expect(await done).toBe(1);
    expect(err2).toContain('eif: error EMULATE_START_FAILED: the emulation supervisor ended before the enclave was ready (SIGKILL)');
    expect(await waitFor(() => spawnSync('pgrep', ['-f', stateDir]).stdout.toString().trim() === '', 5000)).toBe(true);
    expect(leftovers(stateDir)).toEqual([]);
  }, 90_000);

  it('a crashed QEMU ends the enclave: the supervisor stops the backend and removes the record and sockets', async () => {
    const r = cli(['run', '--emulate', '--eif-path', app, '--memory', '256', '--cpu-count', '1'], env);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    started.push(out.ProcessID);
    const rec = JSON.parse(readFileSync(join(stateDir, `${out.EnclaveID.split('-enc')[1]}.json`), 'utf8'));
    process.kill(rec.emulated.qemuPid, 'SIGKILL');
    expect(await waitFor(() => !alive(out.ProcessID) && !alive(rec.emulated.backendPid), 5000)).toBe(true);
    expect(leftovers(stateDir)).toEqual([]);
    expect(JSON.parse(cli(['describe-enclaves'], env).stdout)).toEqual([]);
  }, 90_000);

  it('a killed supervisor: describe-enclaves finds the record stale and stops its QEMU and backend by pid', async () => {
    const r = cli(['run', '--emulate', '--eif-path', app, '--memory', '256', '--cpu-count', '1'], env);
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    const rec = JSON.parse(readFileSync(join(stateDir, `${out.EnclaveID.split('-enc')[1]}.json`), 'utf8'));
    process.kill(out.ProcessID, 'SIGKILL');
    await waitFor(() => !alive(out.ProcessID), 2000);
    expect(JSON.parse(cli(['describe-enclaves'], env).stdout)).toEqual([]);
    expect(await waitFor(() => !alive(rec.emulated.qemuPid) && !alive(rec.emulated.backendPid), 3000)).toBe(true);
    expect(leftovers(stateDir)).toEqual([]);
  }, 90_000);

});

describe('eif run --emulate pre-flight (no QEMU needed)', () => {
  it('reports every missing piece at once, with the fix, and starts nothing', () => {
    const d = mkdtempSync(join(tmpdir(), 'eifkit-emu-pf-'));
    try {
      const eifPath = join(d, 'x.eif');
      // any valid EIF will do: a tiny one
      writeFileSync(join(d, 'k'), Buffer.alloc(4096, 1));
      writeFileSync(join(d, 'r'), Buffer.alloc(512, 2));
      const b = spawnSync(process.execPath, [BIN, 'build', '--kernel', join(d, 'k'), '--cmdline', 'x', '--ramdisk', join(d, 'r'), '--output', eifPath, '--quiet'], { encoding: 'utf8' });
      expect(b.status, b.stderr).toBe(0);
      const env = { EIF_ENCLAVE_STATE_DIR: join(d, 'state'), EIF_QEMU_CACHE: join(d, 'nocache'), PATH: '/nonexistent', EIF_QEMU_FIRMWARE: join(d, 'nofw'), EIF_NATIVE_OUT: join(d, 'nonative') };
      const r = spawnSync(process.execPath, [BIN, 'run', '--emulate', '--eif-path', eifPath, '--memory', '1'], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('eif: pre-flight findings (nothing was started):');
      expect(r.stderr).toMatch(/ {2}error EMULATE_QEMU_MISSING: .*build-qemu\.sh/);
      expect(r.stderr).toMatch(/ {2}error EMULATE_VSOCK_BACKEND_MISSING: no vhost-user vsock backend .*build-native\.mjs/);
      expect(r.stderr).toMatch(/ {2}error MEMORY_TOO_SMALL: /);
      expect(r.stderr.trim().split('\n').pop()).toMatch(/^eif: error EMULATE_QEMU_MISSING: \d+ pre-flight checks failed/);
      expect(existsSync(join(d, 'state'))).toBe(false);
      // an aarch64 image
      const a = join(d, 'a.eif');
      const k64 = Buffer.alloc(4096, 0);
      k64.write('ARM\x64', 0x38, 'latin1');
      writeFileSync(join(d, 'k64'), k64);
      expect(spawnSync(process.execPath, [BIN, 'build', '--arch', 'aarch64', '--kernel', join(d, 'k64'), '--cmdline', 'x', '--ramdisk', join(d, 'r'), '--output', a, '--quiet'], { encoding: 'utf8' }).status).toBe(0);
      const r2 = spawnSync(process.execPath, [BIN, 'run', '--emulate', '--eif-path', a], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });
      expect(r2.status).toBe(1);
      expect(r2.stderr).toMatch(/error EMULATE_ARCH_UNSUPPORTED: .*aarch64 image/);
      // flags that do not apply
      const r3 = spawnSync(process.execPath, [BIN, 'run', '--emulate', '--eif-path', eifPath, '--cpu-ids', '1'], { encoding: 'utf8', env: { ...process.env, ...env } });
      expect(r3.status).toBe(2);
      expect(r3.stderr).toContain('--cpu-ids');
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  }, 60_000);
});
