/**
 * The shared-memory builds of the core (asconfig targets shared-a, shared-b), for the Node hash pipeline: both
 * workers' instances import ONE shared WebAssembly.Memory, so the main thread reads each file chunk once into a
 * ring slot of that memory and both workers hash it where it lies (`sha384UpdateFrom`), with no copy. The two
 * builds are the same code with their static data (I/O region, state, scratch, tables) at different bases, so the
 * instances never share a byte they write. Layout and reasons: docs/core.md. No node:* imports.
 */
import { EifError } from '../errors.js';
import { type CoreExports, type CoreInstance, decodeBase64, makeInstance, preferredShaKernel } from './wasm.js';
import { WASM_SHARED_A_BASE64, WASM_SHARED_B_BASE64 } from './wasm-shared-bytes.generated.js';

/** Where build shared-b's static data starts (asconfig.json memoryBase); shared-a's starts near 0. */
export const SHARED_B_BASE = 2 << 20;
/** Where the ring starts: above both builds' static data. */
export const SHARED_RING_BASE = 4 << 20;
/** Pages (64 KiB) of the shared memory for a ring of `ringBytes`. The builds declare 64 to 1024 pages. */
export const sharedMemoryPages = (ringBytes: number): number => (SHARED_RING_BASE + ringBytes) / 65536;

/** The exports of a shared build: the core's (assembly/index.ts), but the memory is imported, not exported. */
export type SharedCoreExports = Omit<CoreExports, 'memory'>;

export type SharedRole = 'A' | 'B';

/** Compile build shared-a (role A) or shared-b (role B). */
export async function compileSharedCore(role: SharedRole): Promise<WebAssembly.Module> {
  try {
    return await WebAssembly.compile(decodeBase64(role === 'A' ? WASM_SHARED_A_BASE64 : WASM_SHARED_B_BASE64));
  } catch (e) {
    throw new EifError('CORE_INIT_FAILED', `cannot compile the shared-memory WASM core (${role}): ${String(e)}`, { cause: e });
  }
}

/** Instantiate build `role` (compiled by `compileSharedCore`, or now) on `memory`, checking the layout. */
export async function instantiateSharedCore(
  role: SharedRole,
  memory: WebAssembly.Memory,
  module?: WebAssembly.Module,
): Promise<SharedCoreExports> {
  const m = module ?? (await compileSharedCore(role));
  try {
    const instance = await WebAssembly.instantiate(m, { env: { memory } });
    const x = instance.exports as unknown as SharedCoreExports;
    const [lo, hi] = role === 'A' ? [0, SHARED_B_BASE] : [SHARED_B_BASE, SHARED_RING_BASE];
    if (x.ioPtr() < lo || x.staticEnd() > hi) {
      throw new Error(`static data of build ${role} at ${x.ioPtr()}..${x.staticEnd()}, outside ${lo}..${hi}`);
    }
    x.sha384SetKernel(preferredShaKernel());
    return x;
  } catch (e) {
    throw new EifError('CORE_INIT_FAILED', `cannot instantiate the shared-memory WASM core (${role}): ${String(e)}`, { cause: e });
  }
}

/**
 * A {@link CoreInstance} over a shared build's instance and the memory it imported, so that the core's hasher
 * (`Sha384.create(core)`, ./sha384.ts) runs on it: the hash workers use the same face as the main thread.
 */
export function sharedCoreInstance(exports: SharedCoreExports, memory: WebAssembly.Memory): CoreInstance {
  return makeInstance({ ...exports, memory } as CoreExports);
}

/**
 * Get optimised code ready before real data arrives. V8 runs new WASM code in Liftoff (≈ 0.1× here: a first 1 MiB
 * call took 24–30 ms instead of 3) and compiles it with TurboFan in the background once the first calls have used
 * up a budget; instances of the same module share that code. This hashes 256 KiB of a scratch instance's own I/O
 * region in 64 KiB calls, which starts the tier-up.
 */
export async function warmUpSharedCore(role: SharedRole, module: WebAssembly.Module): Promise<void> {
  const pages = SHARED_RING_BASE / 65536;
  const scratch = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  const x = await instantiateSharedCore(role, scratch, module);
  x.sha384Init();
  for (let i = 0; i < 4; i++) x.sha384UpdateFrom(x.ioPtr(), 65536);
}
