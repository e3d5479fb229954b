/**
 * Worker thread of the hash pipeline (./hash-pipeline.ts): runs one SHA-384 stream (role A: PCR0 with the PCR1
 * fork; role B: PCR2) on its own instance of a shared-memory build of the WASM core (src/core/shared.ts), hashing
 * the 1 MiB slots of the ring in order, in place: the ring is part of the memory both instances import.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { type SharedCoreExports, type SharedRole, compileSharedCore, instantiateSharedCore, warmUpSharedCore } from '../core/shared.js';
import { SHA384_DIGEST_SIZE, SHA384_STATE_SIZE } from '../core/sha384.js';
import { ROLE_A, ROLE_B, ROLE_FORK } from '../eif/measure.js';
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
  const stream = role === 'A' ? ROLE_A : ROLE_B;

  /** The 48-byte digest the core just wrote. */
  const digestOut = (x: SharedCoreExports): Uint8Array => new Uint8Array(memory.buffer, x.sha384DigestPtr(), SHA384_DIGEST_SIZE).slice();

  /** PCR1's inner digest: finish a copy of stream A's state, then put the state back (a fork, src/eif/measure.ts). */
  const fork = (x: SharedCoreExports): Uint8Array => {
    const state = new Uint8Array(memory.buffer, x.sha384StatePtr(), SHA384_STATE_SIZE);
    const saved = state.slice();
    x.sha384Final();
    state.set(saved);
    return digestOut(x);
  };

  try {
    const x = await instantiateSharedCore(role, memory, await compiled);
    x.sha384Init();
    let forked: Uint8Array | undefined;
    let seq = 0;
    for (;;) {
      while (Atomics.load(ctrl, PUBLISHED) === seq) Atomics.wait(ctrl, PUBLISHED, seq, 1000);
      const slot = seq % slots;
      const len = ctrl[META + 2 * slot]!;
      const roles = ctrl[META + 2 * slot + 1]!;
      if (len < 0) break;
      if (roles & stream) {
        const base = ringBase + slot * slotSize;
        for (let off = 0; off < len; off += PIECE) x.sha384UpdateFrom(base + off, Math.min(PIECE, len - off));
      }
      if (role === 'A' && roles & ROLE_FORK) forked = fork(x);
      seq++;
      Atomics.store(ctrl, me, seq);
      if (seq >= Atomics.load(ctrl, want)) Atomics.notify(ctrl, me);
    }
    x.sha384Final();
    const digest = digestOut(x);
    parentPort!.postMessage(role === 'A' ? { ok: true, a: digest, fork: forked } : { ok: true, b: digest });
  } catch (e) {
    Atomics.store(ctrl, FAILED, 1);
    Atomics.store(ctrl, me, CONSUMED_NEVER_BLOCKS);
    Atomics.notify(ctrl, me);
    parentPort!.postMessage({ ok: false, error: String((e as Error)?.message ?? e) });
  }
}
