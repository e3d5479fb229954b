/**
 * The relay (src/inspect/relay.ts) over real worker_threads MessageChannels: one sender reads, receivers get its
 * pieces. The parts measured through it equal the parts measured without (signed and unsigned images, the page's
 * 2- and 3-worker shares, chunk sizes that do not divide the sections); a receiver reads what the sender never
 * streams from its own source (gaps, ranges before or after, everything after the sender ended or failed); pieces
 * are split at range ends; the sender never has more than its pool of buffers out; nothing hangs (every test runs
 * under a deadline) and an abort wakes a waiting end.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { existsSync, readFileSync } from 'node:fs';
import { inspectEifBytes } from '../../src/inspect/eif.js';
import { inspectEifParts, measureEifPart, type EifMeasurePart, type EifMeasureShare } from '../../src/inspect/parts.js';
import { relayReceiver, relaySender, RELAY_BUFFERS, type RelayPort } from '../../src/inspect/relay.js';
import type { ByteSource } from '../../src/eif/layout.js';
import { buildEifBytes } from '../../src/eif/builder.js';
import { createPemSigner } from '../../src/signing/signer.js';
import { tempDir, vector } from '../helpers/eif.js';
import { HAVE_SHARED, sharedPath } from '../helpers/shared.js';
import { HAVE_OPENSSL, makeEcKey } from '../signing/keys.js';

const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 131 + seed + (i >> 9)) & 255);
const input = { kernel: bytes(70_001, 1), cmdline: 'console=ttyS0', ramdisks: [bytes(3000, 2), bytes(600_003, 3), bytes(10, 4)], buildTime: '2024-01-01T00:00:00+00:00' };

/** The page's shares (web/src/eif-view.ts shares(), and halves of the CRC): worker 0 reads, the others receive. */
const LAYOUTS: EifMeasureShare[][] = [
  [{ pcr0: true, crc: { index: 0, count: 2, stripe: 65_536 } }, { pcr2: true, crc: { index: 1, count: 2, stripe: 65_536 } }],
  [{ pcr0: true, crc: { index: 0, count: 2 } }, { pcr2: true, crc: { index: 1, count: 2 } }],
  [{ pcr0: true }, { pcr2: true }, { crc: true }],
];

const channels: MessageChannel[] = [];
const channel = (): MessageChannel => {
  const c = new MessageChannel();
  channels.push(c);
  return c;
};
afterEach(() => {
  for (const c of channels.splice(0)) {
    c.port1.close();
    c.port2.close();
  }
});
const port = (p: MessagePort): RelayPort => p as unknown as RelayPort;

/** Fails instead of hanging: the relay must never leave an end waiting. */
function deadline<T>(p: Promise<T>, ms = 8000): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_, reject) => (t = setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms)))]).finally(() => clearTimeout(t));
}

/** Measure `layout` with share 0 relaying to the others, each over its own Blob of the same bytes. */
async function relayed(eif: Uint8Array, layout: EifMeasureShare[], chunkSize: number, senderInput: (b: Uint8Array) => Blob | ByteSource = (b) => new Blob([b])) {
  const chans = layout.slice(1).map(() => channel());
  const sender = relaySender(senderInput(eif), chans.map((c) => port(c.port1)), { buffers: 3 });
  const receivers = chans.map((c) => relayReceiver(new Blob([eif]), port(c.port2)));
  const parts = await deadline(Promise.all([
    measureEifPart(eif, layout[0]!, { chunkSize, relay: sender }),
    ...receivers.map((r, i) => measureEifPart(eif, layout[i + 1]!, { chunkSize, relay: r })),
  ]));
  return { parts, sender, receivers };
}

const strip = (p: EifMeasurePart) => ({ ...p, timing: undefined });

describe('relay: one read shared by the measuring workers', () => {
  const images: { name: string; eif: () => Promise<Uint8Array> }[] = [
    { name: 'unsigned, odd sizes', eif: async () => (await buildEifBytes(input)).eif },
    ...['three-ramdisks', 'empty-cmdline', 'one-ramdisk-aarch64'].map((name) => ({ name, eif: async () => vector(name) })),
  ];
  if (HAVE_OPENSSL) {
    const dir = tempDir();
    images.push({
      name: 'signed (P-384)',
      eif: async () => {
        const key = makeEcKey(dir, 'relay', 'P-384');
        return (await buildEifBytes({ ...input, signer: await createPemSigner({ certificatePem: key.certPem, privateKeyPem: key.keyPem }) })).eif;
      },
    });
  }
  if (HAVE_SHARED && existsSync(sharedPath('eif', 'synthetic', 'min-signed.eif'))) {
    images.push({ name: 'shared min-signed', eif: async () => new Uint8Array(readFileSync(sharedPath('eif', 'synthetic', 'min-signed.eif'))) });
  }

  it.each(images)('$name: the parts equal the parts measured without the relay, for 2 and 3 workers and any chunk size', async ({ eif: make }) => {
    const eif = await make();
    const want = await inspectEifBytes(eif);
    for (const layout of LAYOUTS) {
      for (const chunkSize of [4096 + 7, 65_536, 1 << 20]) {
        const alone = await Promise.all(layout.map((s) => measureEifPart(new Blob([eif]), s, { chunkSize })));
        for (const senderInput of [(b: Uint8Array) => new Blob([b]), (b: Uint8Array) => ({ size: b.length, read: (o: number, n: number) => b.subarray(o, o + n) })]) {
          const { parts, sender, receivers } = await relayed(eif, layout, chunkSize, senderInput);
          expect(parts.map(strip)).toEqual(alone.map(strip));
          const got = await inspectEifParts(eif, parts);
          expect(got.describe).toEqual(want.describe);
          expect(got.measurements).toEqual(want.measurements);
          // the receivers' section bytes came over the relay, none from their own Blob
          for (const r of receivers) expect(r.stats.ownBytes).toBe(0);
          expect(receivers.reduce((n, r) => n + r.stats.relayedBytes, 0)).toBe(parts.slice(1).reduce((n, p) => n + p.bytesRead, 0));
          expect(Math.max(...sender.stats.peakBuffers)).toBeLessThanOrEqual(3);
        }
      }
    }
  }, 60_000);

  it('a receiver measures what the sender never streams from its own file (the sender streams none or a part)', async () => {
    const { eif } = await buildEifBytes(input);
    const want = await inspectEifBytes(eif);
    // the sender runs stream B only (ramdisks 1..): the receiver's kernel, cmdline and first ramdisk are gaps
    const cases: [EifMeasureShare, EifMeasureShare][] = [
      [{ pcr2: true }, { pcr0: true, crc: true }],
      [{ crc: { index: 0, count: 2 } }, { pcr0: true, pcr2: true, crc: { index: 1, count: 2 } }],
      [{ crc: { index: 1, count: 2 } }, { pcr0: true, pcr2: true, crc: { index: 0, count: 2 } }],
    ];
    for (const [s, r] of cases) {
      const { parts, receivers } = await relayed(eif, [s, r], 5000);
      const alone = await measureEifPart(eif, r, { chunkSize: 5000 });
      expect(strip(parts[1]!)).toEqual(strip(alone));
      expect(receivers[0]!.stats.ownBytes).toBeGreaterThan(0);
      expect(receivers[0]!.stats.relayedBytes).toBeGreaterThan(0);
      expect(receivers[0]!.stats.ownBytes + receivers[0]!.stats.relayedBytes).toBe(alone.bytesRead);
    }
    // and the whole inspection from the last split's parts, with the other half of the CRC measured alone
    const { parts } = await relayed(eif, [{ pcr0: true, crc: { index: 0, count: 2 } }, { pcr2: true, crc: { index: 1, count: 2 } }], 777);
    expect((await inspectEifParts(eif, parts)).describe).toEqual(want.describe);
  }, 30_000);
});

describe('relay as a ByteSource', () => {
  const data = bytes(50_000, 9);
  const slice = (o: number, n: number) => Buffer.from(data.subarray(o, o + n));
  const drain = async (src: ByteSource, o: number, n: number, chunk: number, seen?: number[]) => {
    const out: Buffer[] = [];
    for await (const p of src.stream!(o, n, chunk)) {
      expect(p.length).toBeLessThanOrEqual(chunk);
      seen?.push(p.length);
      out.push(Buffer.from(p)); // a copy: the view is valid only until the next piece
    }
    return Buffer.concat(out);
  };

  it('pieces straddling the ends of the receiver’s ranges are split; ranges before, between and after are read from its own source', async () => {
    const c = channel();
    const sender = relaySender(new Blob([data]), port(c.port1), { buffers: 4 });
    const receiver = relayReceiver(new Blob([data]), port(c.port2));
    const sending = (async () => {
      await drain(sender, 1000, 20_000, 3000); // pieces [1000, 4000), [4000, 7000) … [19000, 21000)
      await drain(sender, 30_000, 10_001, 4096);
      sender.finish();
    })();
    const ranges: [number, number, number][] = [
      [0, 2500, 700], // starts before the first relayed byte: a gap, then a piece split at 2500
      [2500, 1, 1000], // the rest of that piece, one byte of it
      [3999, 9001, 512], // straddles pieces at both ends, chunk smaller than a piece
      [20_999, 9_500, 2048], // ends inside the relayed range's last piece, then the gap up to 30 000
      [40_000, 10_000, 8192], // entirely after what the sender streams
      [45_000, 0, 100], // empty
    ];
    const got = await deadline(Promise.all([sending, (async () => {
      const out: Buffer[] = [];
      for (const [o, n, k] of ranges) out.push(await drain(receiver, o, n, k));
      receiver.finish();
      return out;
    })()]));
    got[1].forEach((b, i) => expect(b.equals(slice(ranges[i]![0], ranges[i]![1])), `range ${i}`).toBe(true));
    expect(receiver.stats.relayedBytes).toBeGreaterThan(0);
    expect(receiver.stats.ownBytes).toBeGreaterThan(0);
    expect(receiver.stats.relayedBytes + receiver.stats.ownBytes).toBe(ranges.reduce((n, r) => n + r[1], 0));
  });

  it('the sender never has more than its pool out, and waits for buffers to come back (backpressure)', async () => {
    const c = channel();
    const sender = relaySender(new Blob([data]), port(c.port1), { buffers: 3 });
    let held = 0;
    let maxHeld = 0;
    c.port2.on('message', (m: { relay: string }) => {
      if (m.relay === 'piece') maxHeld = Math.max(maxHeld, ++held);
    });
    // a slow receiver: it hands a buffer back only every 20 ms, so the sender must wait for them
    const receiver = relayReceiver(new Blob([data]), port(c.port2));
    const origBack = c.port2.postMessage.bind(c.port2);
    c.port2.postMessage = ((m: { relay: string }, t: ArrayBuffer[]) => {
      if (m.relay === 'back') held--;
      origBack(m, t);
    }) as typeof c.port2.postMessage;
    const slow = (async () => {
      const out = await drain({ ...receiver, stream: async function* (o, n, k) {
        for await (const p of receiver.stream!(o, n, k)) {
          await new Promise((r) => setTimeout(r, 20));
          yield p;
        }
      } }, 0, data.length, 4096);
      receiver.finish();
      return out;
    })();
    const [sent, got] = await deadline(Promise.all([drain(sender, 0, data.length, 4096).then((b) => (sender.finish(), b)), slow]));
    expect(sent.equals(Buffer.from(data))).toBe(true);
    expect(got.equals(Buffer.from(data))).toBe(true);
    expect(sender.stats.peakBuffers).toEqual([3]);
    expect(sender.stats.waitMs).toBeGreaterThan(0); // it did wait for the slow receiver's buffers
    expect(maxHeld).toBeLessThanOrEqual(3);
    expect(receiver.stats.ownBytes).toBe(0);
    expect(RELAY_BUFFERS).toBeGreaterThanOrEqual(2);
  });

  it('a sender that stops early or fails: the receiver reads the rest from its own source', async () => {
    for (const fail of [false, true]) {
      const c = channel();
      const sender = relaySender(new Blob([data]), port(c.port1), { buffers: 2 });
      const receiver = relayReceiver(new Blob([data]), port(c.port2));
      const sending = (async () => {
        let n = 0;
        for await (const _ of sender.stream!(0, data.length, 1000)) if (++n === 5) break; // stops after 5 pieces
        sender.finish(fail ? new Error('the file could not be read') : undefined);
      })();
      const [, got] = await deadline(Promise.all([sending, drain(receiver, 0, data.length, 1000).then((b) => (receiver.finish(), b))]));
      expect(got.equals(Buffer.from(data))).toBe(true);
      expect(receiver.stats.ownBytes).toBeGreaterThan(0);
    }
  });

  it('a receiver that is done early: the sender keeps reading without waiting for buffers it will not get back', async () => {
    const c = channel();
    const sender = relaySender(new Blob([data]), port(c.port1), { buffers: 2 });
    const receiver = relayReceiver(new Blob([data]), port(c.port2));
    const [sent, got] = await deadline(Promise.all([
      drain(sender, 0, data.length, 1000).then((b) => (sender.finish(), b)),
      drain(receiver, 0, 1500, 1000).then((b) => (receiver.finish(), b)),
    ]));
    expect(sent.equals(Buffer.from(data))).toBe(true);
    expect(got.equals(slice(0, 1500))).toBe(true);
  });

  it('a receiver whose sender never sends waits, and its abort signal ends the wait with the signal’s reason', async () => {
    const c = channel();
    const ctl = new AbortController();
    const receiver = relayReceiver(new Blob([data]), port(c.port2), { signal: ctl.signal });
    const it = drain(receiver, 0, 1000, 100);
    setTimeout(() => ctl.abort(new Error('cancelled by the page')), 50);
    await expect(deadline(it, 2000)).rejects.toThrow('cancelled by the page');
    // a sender waiting for a buffer that never comes back: the same
    const c2 = channel();
    const ctl2 = new AbortController();
    const sender = relaySender(new Blob([data]), port(c2.port1), { buffers: 2, signal: ctl2.signal });
    setTimeout(() => ctl2.abort(new Error('cancelled')), 50);
    await expect(deadline(drain(sender, 0, data.length, 1000), 2000)).rejects.toThrow('cancelled');
  });

  it('a read that fails mid-file: the sender ends its relay with the error; a receiver finishes from its own file, or fails the same way', async () => {
    const { eif } = await buildEifBytes(input);
    const unreadable = Object.assign(new Error('the file could not be read'), { name: 'NotReadableError' });
    // reads past byte 200 000 (inside the big ramdisk) fail, as a File changed on disk does
    const failing = (b: Uint8Array): ByteSource => ({ size: b.length, read: (o, n) => { if (o + n > 200_000) throw unreadable; return b.subarray(o, o + n); } });
    const shares: EifMeasureShare[] = [{ pcr0: true, crc: { index: 0, count: 2 } }, { pcr2: true, crc: { index: 1, count: 2 } }];
    const alone = await measureEifPart(eif, shares[1]!, { chunkSize: 8192 });
    for (const receiverFails of [false, true]) {
      const c = channel();
      const receiver = relayReceiver(receiverFails ? failing(eif) : new Blob([eif]), port(c.port2));
      const [s, r] = await deadline(Promise.allSettled([
        measureEifPart(eif, shares[0]!, { chunkSize: 8192, relay: relaySender(failing(eif), port(c.port1)) }),
        measureEifPart(eif, shares[1]!, { chunkSize: 8192, relay: receiver }),
      ]));
      expect(s).toMatchObject({ status: 'rejected', reason: { name: 'NotReadableError' } });
      if (receiverFails) expect(r).toMatchObject({ status: 'rejected', reason: { name: 'NotReadableError' } });
      else {
        expect(r.status).toBe('fulfilled');
        expect(strip((r as PromiseFulfilledResult<EifMeasurePart>).value)).toEqual(strip(alone));
        expect(receiver.stats.ownBytes).toBeGreaterThan(0);
      }
    }
  });

  it('refuses a pool of fewer than 2 buffers and a sender without a port (CORE_BAD_ARGUMENT)', () => {
    const c = channel();
    expect(() => relaySender(new Blob([data]), port(c.port1), { buffers: 1 })).toThrow(expect.objectContaining({ code: 'CORE_BAD_ARGUMENT' }));
    expect(() => relaySender(new Blob([data]), [])).toThrow(expect.objectContaining({ code: 'CORE_BAD_ARGUMENT' }));
  });
});
