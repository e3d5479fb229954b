/**
 * Worker thread of the hash pipeline (./hash-pipeline.ts): runs one SHA-384 stream (role A: PCR0 with the PCR1
 * fork; role B: PCR2) on its own instance of a shared-memory build of the WASM core (src/core/shared.ts), hashing
 * the 1 MiB slots of the ring in order, in place: the ring is part of the memory both instances import.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type SharedRole, compileSharedCore, instantiateSharedCore, sharedCoreInstance, warmUpSharedCore } from '../core/shared.js';
import { PcrStreams, ROLE_A, ROLE_B } from '../eif/roles.js';
import { CONSUMED_NEVER_BLOCKS, FAILED, META, PUBLISHED, consumedIndex, wantIndex } from './hash-ring.js';

/** The 'start' message (./hash-pipeline.ts): the control block and the memory holding the ring. */
interface Start {
  ctrlSab: SharedArrayBuffer;
  memory: WebAssembly.Memory;
  ringBase: number;
  slots: number;
  slotSize: number;
}

/**
 * Bytes per call into the core. A slot is hashed in a few calls rather than one, so that if optimised code
 * becomes ready while a slot is being hashed, the rest of the slot already runs in it (src/core/shared.ts).
 */
const PIECE = 128 * 1024;

const { role } = workerData as { role: SharedRole };
// Boot work before the ring exists: compile this role's build and start V8's tier-up.
const compiled = compileSharedCore(role).then(async (m) => {
  await warmUpSharedCore(role, m);
  return m;
});
compiled.catch(() => undefined); // reported by run() once the pipeline starts this worker
parentPort!.once('message', (m: Start) => void run(m));

async function run({ ctrlSab, memory, ringBase, slots, slotSize }: Start): Promise<void> {
  const ctrl = new Int32Array(ctrlSab);
  const me = consumedIndex(role);
  const want = wantIndex(role);
  try {
    const core = sharedCoreInstance(await instantiateSharedCore(role, memory, await compiled), memory);
    // This worker's one stream (src/eif/roles.ts): A (PCR0, forked for PCR1) or B (PCR2), on the core's hasher.
    const streams = new PcrStreams({ core, streams: role === 'A' ? ROLE_A : ROLE_B });
    let seq = 0;
    for (;;) {
      while (Atomics.load(ctrl, PUBLISHED) === seq) Atomics.wait(ctrl, PUBLISHED, seq, 1000);
      const slot = seq % slots;
      const len = ctrl[META + 2 * slot]!;
      const roles = ctrl[META + 2 * slot + 1]!;
      if (len < 0) break;
      streams.feedInMemory(ringBase + slot * slotSize, len, roles, PIECE);
      seq++;
      Atomics.store(ctrl, me, seq);
      if (seq >= Atomics.load(ctrl, want)) Atomics.notify(ctrl, me);
    }
    const r = streams.finish();
    parentPort!.postMessage(role === 'A' ? { ok: true, a: r.a, fork: r.fork } : { ok: true, b: r.b });
  } catch (e) {
    Atomics.store(ctrl, FAILED, 1);
    Atomics.store(ctrl, me, CONSUMED_NEVER_BLOCKS);
    Atomics.notify(ctrl, me);
    parentPort!.postMessage({ ok: false, error: String((e as Error)?.message ?? e) });
  }
}
