/**
 * Streaming SHA-384 (FIPS 180-4 §6.5) on the WASM core, with forkable, exportable state. Browser-safe.
 *
 * The core has ONE state area. Each hasher keeps its state in JS only while another hasher owns the area, and is
 * swapped in (208-byte copy) when it becomes the owner again — so a single stream never copies state, and many
 * hashers can be alive and interleaved. Data goes through the 1 MiB I/O region; `updateFromIo(len)` hashes bytes
 * the caller already placed there (e.g. `fs.readSync` straight into `coreInstance().io()`). docs/core.md.
 * The same class runs on a hash worker's shared-memory build (`Sha384.create(sharedCoreInstance(…))`,
 * ./shared.ts): one hasher face, one fork (`forkDigest`), for the main thread and the workers.
 */
import { EifError } from '../errors.js';
import { coreInstance, type CoreInstance } from './wasm.js';

export const SHA384_DIGEST_SIZE = 48;
/** Size of an exported state (`exportState()`), layout in docs/core.md. */
export const SHA384_STATE_SIZE = 208;
const STATE_MARKER = 0x34384853;

/**
 * Who owns a core instance's state area. One per core instance: the main one (`initCore()`), or a shared-memory
 * build a hash worker runs (src/core/shared.ts, `sharedCoreInstance`).
 */
interface StateArea {
  /** The hasher currently swapped into the state area (null: the area holds nothing anyone needs). */
  owner: Sha384 | null;
  /** The state area's view, re-made if the memory's buffer changed. */
  view: Uint8Array | null;
}

const areas = new WeakMap<CoreInstance, StateArea>();

function areaOf(c: CoreInstance): StateArea {
  let a = areas.get(c);
  if (a === undefined) areas.set(c, (a = { owner: null, view: null }));
  return a;
}

function stateBytes(c: CoreInstance, a: StateArea): Uint8Array {
  if (a.view === null || a.view.byteLength === 0 || a.view.buffer !== c.memory.buffer) {
    a.view = new Uint8Array(c.memory.buffer, c.exports.sha384StatePtr(), SHA384_STATE_SIZE);
  }
  return a.view;
}

function validateState(bytes: Uint8Array): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== SHA384_STATE_SIZE) {
    throw new EifError('CORE_BAD_STATE', `a SHA-384 state must be ${SHA384_STATE_SIZE} bytes`);
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const total = dv.getBigUint64(64, true);
  const used = dv.getUint32(72, true);
  if (dv.getUint32(76, true) !== STATE_MARKER || used >= 128 || Number(total % 128n) !== used) {
    throw new EifError('CORE_BAD_STATE', 'not an eifkit SHA-384 state (bad marker or inconsistent length fields)');
  }
}

export class Sha384 {
  /** The core instance this hasher runs on, and the owner record of its state area. */
  readonly #core: CoreInstance;
  readonly #area: StateArea;
  /** State while not the owner; null while it is the owner, or while fresh. */
  #saved: Uint8Array | null;
  #fresh: boolean;
  #done = false;

  private constructor(core: CoreInstance, saved: Uint8Array | null) {
    this.#core = core;
    this.#area = areaOf(core);
    this.#saved = saved;
    this.#fresh = saved === null;
  }

  /**
   * A new hasher (same as `createSha384()`), on the main core instance, or on `core` (a hash worker's
   * shared-memory build, src/core/shared.ts). Compiles the main core on first use (`CORE_NOT_READY` where that is
   * refused).
   */
  static create(core?: CoreInstance): Sha384 {
    return new Sha384(core ?? coreInstance(), null);
  }

  /** Resume from bytes produced by `exportState()` (validated; `CORE_BAD_STATE` otherwise). */
  static fromState(bytes: Uint8Array): Sha384 {
    const c = coreInstance();
    validateState(bytes);
    return new Sha384(c, bytes.slice());
  }

  #check(): CoreInstance {
    if (this.#done) throw new EifError('CORE_HASH_FINALIZED', 'this SHA-384 hasher was already finalised by digest()');
    return this.#core;
  }

  /** Make this hasher the owner of its core's state area. */
  #activate(c: CoreInstance): void {
    const a = this.#area;
    if (a.owner === this) return;
    const area = stateBytes(c, a);
    if (a.owner !== null) a.owner.#saved = area.slice();
    if (this.#fresh) {
      c.exports.sha384Init();
      this.#fresh = false;
    } else {
      area.set(this.#saved!);
    }
    this.#saved = null;
    a.owner = this;
  }

  /** A copy of the current state, without changing ownership. */
  #snapshot(c: CoreInstance): Uint8Array {
    if (this.#area.owner === this) return stateBytes(c, this.#area).slice();
    if (this.#fresh) {
      // Materialise the initial state through the core without disturbing the current owner.
      this.#activate(c);
      return stateBytes(c, this.#area).slice();
    }
    return this.#saved!.slice();
  }

  /** Absorb `data` (any length; fed to the core in pieces of at most the I/O region's size). */
  update(data: Uint8Array): this {
    const c = this.#check();
    if (!(data instanceof Uint8Array)) throw new EifError('CORE_BAD_ARGUMENT', 'update() expects a Uint8Array');
    this.#activate(c);
    const n = data.length;
    if (n === 0) return this;
    if (data.buffer === c.memory.buffer) {
      // Already in the I/O region at its start: no copy. Anywhere else in linear memory: detach it first, since the
      // piecewise copy below would overwrite the source.
      if (data.byteOffset === c.ioPtr && n <= c.ioSize) {
        c.exports.sha384Update(n);
        return this;
      }
      data = data.slice();
    }
    const io = c.io();
    const size = c.ioSize;
    const upd = c.exports.sha384Update;
    if (n <= size) {
      io.set(data);
      upd(n);
    } else {
      for (let off = 0; off < n; off += size) {
        const len = Math.min(size, n - off);
        io.set(data.subarray(off, off + len));
        upd(len);
      }
    }
    return this;
  }

  /** Absorb the first `len` bytes of the I/O region (`coreInstance().io()`), which the caller filled. No copy. */
  updateFromIo(len: number): this {
    const c = this.#check();
    if (!Number.isInteger(len) || len < 0 || len > c.ioSize) {
      throw new EifError('CORE_BAD_ARGUMENT', `updateFromIo length must be an integer in 0..${c.ioSize}`);
    }
    this.#activate(c);
    if (len > 0) c.exports.sha384Update(len);
    return this;
  }

  /**
   * Absorb `len` bytes at byte offset `offset` of the core's memory, where the caller put them (a hash worker's
   * ring slot in shared memory, src/node/hash-worker.ts). Anywhere but the state area. No copy.
   */
  updateInMemory(offset: number, len: number): this {
    const c = this.#check();
    if (!Number.isInteger(offset) || !Number.isInteger(len) || offset < 0 || len < 0 || offset + len > c.memory.buffer.byteLength) {
      throw new EifError('CORE_BAD_ARGUMENT', 'updateInMemory range must lie inside the core\'s memory');
    }
    const state = c.exports.sha384StatePtr();
    if (len > 0 && offset < state + SHA384_STATE_SIZE && state < offset + len) {
      throw new EifError('CORE_BAD_ARGUMENT', 'updateInMemory range overlaps the hash state');
    }
    this.#activate(c);
    if (len > 0) c.exports.sha384UpdateFrom(offset, len);
    return this;
  }

  /** Finish and return the 48-byte digest. The hasher cannot be used afterwards (`CORE_HASH_FINALIZED`). */
  digest(): Uint8Array {
    const c = this.#check();
    this.#activate(c);
    const out = this.#final(c);
    this.#area.owner = null;
    this.#done = true;
    return out;
  }

  /**
   * The digest of everything absorbed so far, while the hasher goes on: a fork, as `clone().digest()`, without a
   * second hasher (one 208-byte copy). The PCR1 digest is stream PCR0's fork (eif-format.md §3.2).
   */
  forkDigest(): Uint8Array {
    const c = this.#check();
    this.#activate(c);
    const area = stateBytes(c, this.#area);
    const saved = area.slice();
    const out = this.#final(c);
    area.set(saved);
    return out;
  }

  /** Run the core's finalisation on the state area (this hasher owns it) and copy the digest out. */
  #final(c: CoreInstance): Uint8Array {
    c.exports.sha384Final();
    const ptr = c.exports.sha384DigestPtr();
    return new Uint8Array(c.memory.buffer, ptr, SHA384_DIGEST_SIZE).slice();
  }

  /** An independent hasher with the same state (fork): both can go on and diverge. */
  clone(): Sha384 {
    const c = this.#check();
    return new Sha384(c, this.#snapshot(c));
  }

  /** The current state as 208 bytes (docs/core.md); `Sha384.fromState()` resumes from it. */
  exportState(): Uint8Array {
    const c = this.#check();
    return this.#snapshot(c);
  }
}

/**
 * A new streaming, forkable SHA-384 hasher on the WASM core. Compiles the core on first use; in a browser's main
 * thread `await initCore()` first (else `CORE_NOT_READY`).
 *
 * @example
 * import { createSha384 } from 'eifkit/browser';
 * const h = createSha384().update(part1);
 * const fork = h.clone();            // same state, independent from here on
 * const whole = h.update(part2).digest();
 * const prefix = fork.digest();      // SHA-384 of part1 alone
 */
export function createSha384(): Sha384 {
  return Sha384.create();
}

/**
 * One-shot SHA-384 of `data` (48 bytes).
 *
 * @example
 * import { sha384 } from 'eifkit/browser';
 * const digest = sha384(new TextEncoder().encode('abc')); // cb00753f…
 */
export function sha384(data: Uint8Array): Uint8Array {
  return Sha384.create().update(data).digest();
}
