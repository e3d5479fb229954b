/**
 * Worker thread of the hash pipeline (./hash-pipeline.ts): runs one SHA-384 stream (role A: PCR0 with the PCR1
 * fork; role B: PCR2) on its own WASM instance, consuming 1 MiB slots of the shared ring in order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { coreInstance, initCore } from '../core/index.js';
import { PcrAccumulator, ROLE_A, ROLE_B, ROLE_FORK } from '../eif/measure.js';
import { CONSUMED_NEVER_BLOCKS, FAILED, META, PUBLISHED, consumedIndex, wantIndex } from './hash-ring.js';

interface Data {
  ctrlSab: SharedArrayBuffer;
  ringSab: SharedArrayBuffer;
  role: 'A' | 'B';
  slots: number;
  slotSize: number;
}


const { ctrlSab, ringSab, role, slots, slotSize } = workerData as Data;
const ctrl = new Int32Array(ctrlSab);
const ring = new Uint8Array(ringSab);
const me = consumedIndex(role);
const want = wantIndex(role);
const mask = role === 'A' ? ROLE_A | ROLE_FORK : ROLE_B;

try {
  await initCore();
  const acc = new PcrAccumulator();
  const c = coreInstance();
  let seq = 0;
  for (;;) {
    while (Atomics.load(ctrl, PUBLISHED) === seq) Atomics.wait(ctrl, PUBLISHED, seq, 1000);
    const slot = seq % slots;
    const len = ctrl[META + 2 * slot]!;
    const roles = ctrl[META + 2 * slot + 1]!;
    if (len < 0) break;
    if (roles & mask) {
      const io = c.io();
      io.set(ring.subarray(slot * slotSize, slot * slotSize + len));
      acc.feedFromIo(len, roles, mask);
    }
    seq++;
    Atomics.store(ctrl, me, seq);
    if (seq >= Atomics.load(ctrl, want)) Atomics.notify(ctrl, me);
  }
  const r = acc.finishInner();
  parentPort!.postMessage(role === 'A' ? { ok: true, a: r.a, fork: r.fork } : { ok: true, b: r.b });
} catch (e) {
  Atomics.store(ctrl, FAILED, 1);
  Atomics.store(ctrl, me, CONSUMED_NEVER_BLOCKS);
  Atomics.notify(ctrl, me);
  parentPort!.postMessage({ ok: false, error: String((e as Error)?.message ?? e) });
}
