/**
 * Loader for the eifkit WASM core (assembly/ -> build/core.wasm, embedded as base64 by scripts/build.mjs).
 * Browser-safe: no node:* imports. The module is compiled once per JS realm and cached, either asynchronously by
 * `initCore()` (idempotent; what browsers need on their main thread) or, lazily, synchronously on the first
 * WASM-backed call (Node, workers: the module is ~25 KB, a ~1 ms compile), so importing eifkit needs no top-level
 * await. ABI: docs/core.md.
 */
import { EifError } from '../errors.js';
import { WASM_BASE64 } from './wasm-bytes.generated.js';

/** Raw exports of core.wasm (see assembly/index.ts and docs/core.md). Pointers are byte offsets into `memory`. */
export interface CoreExports {
  readonly memory: WebAssembly.Memory;
  ioPtr(): number;
  ioSize(): number;
  sha384StatePtr(): number;
  sha384StateSize(): number;
  sha384DigestPtr(): number;
  sha384Init(): void;
  /** Absorb the first `len` bytes of the I/O region. */
  sha384Update(len: number): void;
  /** Absorb `len` bytes at byte offset `src` of `memory` (anywhere but the state area). */
  sha384UpdateFrom(src: number, len: number): void;
  /** End of the module's static data. */
  staticEnd(): number;
  /** Pad, finish, and write the 48-byte digest at sha384DigestPtr(); consumes the state area. */
  sha384Final(): void;
  /** Select the form of the SHA-512 rounds: 0 rotation chains, 1 flat (see {@link preferredShaKernel}). */
  sha384SetKernel(k: number): void;
  /** The form selected (0 or 1). */
  sha384Kernel(): number;
  /** CRC-32 of the first `len` bytes of the I/O region continuing from `prev`; returns a signed i32. */
  crc32Update(prev: number, len: number): number;
}

/** Low-level handle on the one core instance, for callers that fill the I/O region themselves. */
export interface CoreInstance {
  readonly memory: WebAssembly.Memory;
  /** Byte offset of the I/O region in `memory.buffer`. */
  readonly ioPtr: number;
  /** Size of the I/O region (1 MiB). */
  readonly ioSize: number;
  readonly exports: CoreExports;
  /**
   * A Uint8Array over the whole I/O region. Linear memory never grows (the core allocates nothing), so this
   * view stays valid; it is re-created anyway if the buffer was ever detached.
   */
  io(): Uint8Array;
}

let core: CoreInstance | null = null;
let pending: Promise<void> | null = null;

export function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/**
 * The form of the SHA-512 rounds that runs faster on this JavaScript engine (docs/core.md, "two forms"; same
 * digests): 0, Σ as rotation chains, on V8 11 and older (Node 20: the flat form measured ~8 % slower); 1, flat Σ,
 * everywhere else (Chromium 156: ~25 % faster than the chains). Browsers do not say which V8 they run; they get 1.
 */
export function preferredShaKernel(): 0 | 1 {
  const v8 = (globalThis as { process?: { versions?: { v8?: unknown } } }).process?.versions?.v8;
  const major = typeof v8 === 'string' ? Number.parseInt(v8, 10) : Number.NaN;
  return Number.isFinite(major) && major <= 11 ? 0 : 1;
}

/** The handle on an instance of (a build of) the core; selects its SHA kernel for this engine. */
export function makeInstance(exports: CoreExports): CoreInstance {
  exports.sha384SetKernel(preferredShaKernel());
  const memory = exports.memory;
  const ioPtr = exports.ioPtr();
  const ioSize = exports.ioSize();
  let view = new Uint8Array(memory.buffer, ioPtr, ioSize);
  return {
    memory,
    ioPtr,
    ioSize,
    exports,
    io(): Uint8Array {
      if (view.byteLength === 0 || view.buffer !== memory.buffer) view = new Uint8Array(memory.buffer, ioPtr, ioSize);
      return view;
    },
  };
}

const IMPORTS = {
  env: {
    abort(): never {
      throw new EifError('CORE_ABORT', 'eifkit WASM core aborted');
    },
  },
};

/**
 * Compile and instantiate the WASM core (once; later calls return the same promise or resolve at once).
 * Browsers should await it before the first synchronous hashing call (their main thread may refuse a synchronous
 * compile); elsewhere the first call compiles the core itself.
 *
 * @example
 * import { initCore, sha384 } from 'eifkit/browser';
 * await initCore();
 * const digest = sha384(new TextEncoder().encode('abc')); // 48 bytes
 */
export function initCore(): Promise<void> {
  if (core !== null) return Promise.resolve();
  if (pending === null) {
    pending = (async () => {
      const module = await WebAssembly.compile(decodeBase64(WASM_BASE64));
      const instance = await WebAssembly.instantiate(module, IMPORTS);
      core ??= makeInstance(instance.exports as unknown as CoreExports);
    })().catch((e: unknown) => {
      pending = null;
      throw new EifError('CORE_INIT_FAILED', `cannot instantiate the eifkit WASM core: ${String(e)}`, { cause: e });
    });
  }
  return pending;
}

/**
 * True once the core is compiled (by `initCore()` or a first synchronous use).
 *
 * @example
 * import { isCoreReady, initCore } from 'eifkit/browser';
 * if (!isCoreReady()) await initCore(); // e.g. on a browser's main thread, before the first hash
 */
export function isCoreReady(): boolean {
  return core !== null;
}

/** Synchronous compile, for the first WASM-backed call without `initCore()`; null where the host refuses it. */
function compileSync(): CoreInstance | null {
  try {
    const module = new WebAssembly.Module(decodeBase64(WASM_BASE64));
    return makeInstance(new WebAssembly.Instance(module, IMPORTS).exports as unknown as CoreExports);
  } catch {
    return null;
  }
}

/**
 * The core instance, compiled synchronously on first use; throws `CORE_NOT_READY` where that is refused (a
 * browser's main thread) and `initCore()` has not completed.
 *
 * @example
 * import { coreInstance, crc32FromIo } from 'eifkit/browser';
 * const core = coreInstance();
 * core.io().set(chunk); // chunk.length ≤ core.ioSize
 * const crc = crc32FromIo(chunk.length);
 */
export function coreInstance(): CoreInstance {
  core ??= compileSync();
  if (core === null) {
    throw new EifError('CORE_NOT_READY', 'the eifkit WASM core is not initialised and cannot be compiled synchronously here: await initCore() first');
  }
  return core;
}
