/**
 * The hash pipeline's two worker threads (./hash-worker.ts): role A (PCR0 + the PCR1 fork) and role B (PCR2).
 * A worker boots Node, compiles its build of the WASM core, warms it up (src/core/shared.ts), then waits for a
 * 'start' message with the ring. So workers can be started before the image is known: the CLI does that when the
 * command line names a large image (src/cli/prestart.ts), overlapping the workers' ~80 ms of boot with its own
 * start-up. Idle workers are unref'ed, so they never keep the process alive; one that died while idle is
 * replaced, not handed out.
 */
import { Worker } from 'node:worker_threads';
import type { SharedRole } from '../core/shared.js';

/** Measured bytes from which two worker threads pay off (a worker costs ~60–80 ms to start). */
export const PARALLEL_THRESHOLD = 16 << 20;

function workerUrl(): URL {
  const here = import.meta.url;
  // Under the test runner this module runs from src/*.ts; workers need the compiled file.
  if (here.endsWith('.ts')) return new URL('../../dist/node/hash-worker.js', here);
  return new URL('./hash-worker.js', here);
}

interface Idle {
  worker: Worker;
  dead: boolean;
}

let idle: [Idle, Idle] | null = null;

function spawn(role: SharedRole): Idle {
  const entry: Idle = { worker: new Worker(workerUrl(), { workerData: { role } }), dead: false };
  entry.worker.unref();
  const died = (): void => {
    entry.dead = true;
  };
  entry.worker.on('error', died); // so a worker that fails while idle is not an uncaught error
  entry.worker.on('exit', died);
  return entry;
}

/** Start workers A and B now, for a pipeline that takes them later (idempotent while they are unused). */
export function prestartHashWorkers(): void {
  idle ??= [spawn('A'), spawn('B')];
}

/** The pre-started workers not yet taken (for tests and diagnostics). */
export function idleHashWorkers(): readonly Worker[] {
  return idle ? idle.map((e) => e.worker) : [];
}

/** Workers A and B for a new pipeline: the pre-started ones when both are alive, else new ones. */
export function takeHashWorkers(): [Worker, Worker] {
  const pair = idle ?? [spawn('A'), spawn('B')];
  idle = null;
  return pair.map((e, i) => {
    if (e.dead) e = spawn(i === 0 ? 'A' : 'B');
    e.worker.removeAllListeners('error');
    e.worker.removeAllListeners('exit');
    e.worker.ref();
    return e.worker;
  }) as [Worker, Worker];
}
