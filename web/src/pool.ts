/**
 * The page's workers, started at load and reused: a File crosses postMessage without being read, and no worker
 * script is fetched after load (the page makes no request once it has loaded). A worker that dies is replaced.
 */
import type { FromWorker, ToWorker } from './messages.js';

type Listener = (m: FromWorker) => void;

export class WorkerSlot {
  #worker!: Worker;
  #listeners = new Map<number, Listener>();
  readonly name: string;
  /** Resolves when the worker's WASM core is compiled and warm (its `ready` message). */
  ready!: Promise<void>;

  constructor(name: string) {
    this.name = name;
    this.#start();
  }

  #start(): void {
    this.ready = new Promise((resolve) => this.#listeners.set(0, () => {
      this.#listeners.delete(0);
      resolve();
    }));
    this.#worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: this.name });
    this.#worker.onmessage = (e: MessageEvent<FromWorker>) => this.#listeners.get(e.data.id)?.(e.data);
    this.#worker.onerror = (e) => {
      e.preventDefault();
      const message = `the worker stopped: ${e.message || 'no reason given (out of memory?)'}`;
      for (const [id, l] of this.#listeners) l({ kind: 'error', id, code: 'WEB_WORKER_FAILED', message });
      this.#listeners.clear();
      this.#worker.terminate();
      this.#start();
    };
  }

  /** Send a request (`transfer`: ports moved with it); `listener` gets the answers with its id until `done()` is called. */
  request(m: ToWorker, listener: Listener, transfer: Transferable[] = []): () => void {
    this.#listeners.set(m.id, listener);
    this.#worker.postMessage(m, transfer);
    return () => this.#listeners.delete(m.id);
  }

  cancel(id: number): void {
    this.#listeners.delete(id);
    this.#worker.postMessage({ kind: 'cancel', id } satisfies ToWorker);
  }
}

let nextId = 1;
export const newRequestId = (): number => nextId++;

let measuring: WorkerSlot[] = [];
let speedSlot: WorkerSlot | undefined;

/** Start the workers: `n` for measuring EIFs, one for the speed test. Resolves when all are ready. */
export async function startPool(n: number): Promise<void> {
  measuring = Array.from({ length: n }, (_, i) => new WorkerSlot(`eifkit-measure-${i}`));
  speedSlot = new WorkerSlot('eifkit-speed');
  await Promise.all([...measuring, speedSlot].map((w) => w.ready));
}

export const measuringSlots = (): WorkerSlot[] => measuring;
export const speedWorker = (): WorkerSlot => speedSlot!;
