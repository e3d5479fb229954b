/**
 * Layout of the hash pipeline's control block (an Int32Array over a SharedArrayBuffer), shared by the main thread
 * (./hash-pipeline.ts) and the workers (./hash-worker.ts).
 */
/** Chunks published by the main thread so far. */
export const PUBLISHED = 0;
/** Chunks consumed by worker A (PCR0 + PCR1 fork) and worker B (PCR2). */
export const CONSUMED_A = 1;
export const CONSUMED_B = 2;
/** Set to 1 by a worker that failed. */
export const FAILED = 3;
/**
 * The consumed count the main thread is waiting for, per worker. A worker notifies only when it reaches it, so a
 * main thread that waits for half the ring to drain is woken once, not once per slot (every wake-up of a sleeping
 * thread is a futex call and, in a VM, an inter-processor interrupt).
 */
export const WANT_A = 4;
export const WANT_B = 5;
/** Per slot, from here: [length, roles]; length -1 marks the end of the stream. */
export const META = 8;
/** A worker that failed parks its consumed counter here so the main thread never waits on it. */
export const CONSUMED_NEVER_BLOCKS = 0x3fffffff;

export const consumedIndex = (role: 'A' | 'B'): number => (role === 'A' ? CONSUMED_A : CONSUMED_B);
export const wantIndex = (role: 'A' | 'B'): number => (role === 'A' ? WANT_A : WANT_B);
