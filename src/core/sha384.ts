/**
 * Streaming SHA-384 (FIPS 180-4 §6.5) on the WASM core, with forkable, exportable state. Browser-safe.
 *
 * The core has ONE state area. Each hasher keeps its state in JS only while another hasher owns the area, and is
 * swapped in (208-byte copy) when it becomes the owner again — so a single stream never copies state, and many
 * hashers can be alive and interleaved. Data goes through the 1 MiB I/O region; `updateFromIo(len)` hashes bytes
 * the caller already placed there (e.g. `fs.readSync` straight into `coreInstance().io()`). docs/core.md.
 */
import { EifError } from '../errors.js';
import { coreInstance, type CoreInstance } from './wasm.js';

export const SHA384_DIGEST_SIZE = 48;
/** Size of an exported state (`exportState()`), layout in docs/core.md. */
export const SHA384_STATE_SIZE = 208;
const STATE_MARKER = 0x34384853;

/** The hasher currently swapped into the WASM state area (null: the area holds nothing anyone needs). */
let owner: Sha384 | null = null;
/** The state area's view, cached with the instance it belongs to. */
let stateView: Uint8Array | null = null;

function stateArea(c: CoreInstance): Uint8Array {
  if (stateView === null || stateView.byteLength === 0 || stateView.buffer !== c.memory.buffer) {
    stateView = new Uint8Array(c.memory.buffer, c.exports.sha384StatePtr(), SHA384_STATE_SIZE);
  }
  return stateView;
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
  /** State while not the owner; null while it is the owner, or while fresh. */
  #saved: Uint8Array | null;
  #fresh: boolean;
  #done = false;

  private constructor(saved: Uint8Array | null) {
    this.#saved = saved;
    this.#fresh = saved === null;
  }

  /** A new hasher (same as `createSha384()`). Compiles the core on first use (`CORE_NOT_READY` where that is refused). */
  static create(): Sha384 {
    coreInstance();
    return new Sha384(null);
  }

  /** Resume from bytes produced by `exportState()` (validated; `CORE_BAD_STATE` otherwise). */
  static fromState(bytes: Uint8Array): Sha384 {
    coreInstance();
    validateState(bytes);
    return new Sha384(bytes.slice());
  }

  #check(): CoreInstance {
    const c = coreInstance();
    if (this.#done) throw new EifError('CORE_HASH_FINALIZED', 'this SHA-384 hasher was already finalised by digest()');
    return c;
  }

  /** Make this hasher the owner of the WASM state area. */
  #activate(c: CoreInstance): void {
    if (owner === this) return;
    const area = stateArea(c);
    if (owner !== null) owner.#saved = area.slice();
    if (this.#fresh) {
      c.exports.sha384Init();
      this.#fresh = false;
    } else {
      area.set(this.#saved!);
    }
    this.#saved = null;
    owner = this;
  }

  /** A copy of the current state, without changing ownership. */
  #snapshot(c: CoreInstance): Uint8Array {
    if (owner === this) return stateArea(c).slice();
    if (this.#fresh) {
      // Materialise the initial state through the core without disturbing the current owner.
      this.#activate(c);
      return stateArea(c).slice();
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

  /** Finish and return the 48-byte digest. The hasher cannot be used afterwards (`CORE_HASH_FINALIZED`). */
  digest(): Uint8Array {
    const c = this.#check();
    this.#activate(c);
    c.exports.sha384Final();
    const ptr = c.exports.sha384DigestPtr();
    const out = new Uint8Array(c.memory.buffer.slice(ptr, ptr + SHA384_DIGEST_SIZE));
    owner = null;
    this.#done = true;
    return out;
  }

  /** An independent hasher with the same state (fork): both can go on and diverge. */
  clone(): Sha384 {
    const c = this.#check();
    const copy = new Sha384(this.#snapshot(c));
    return copy;
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
 * const digest = sha384(new TextEncoder().encode('abc')); // cb00753f…
 */
export function sha384(data: Uint8Array): Uint8Array {
  return Sha384.create().update(data).digest();
}
