/**
 * One read of a file shared by threads: the page's measuring workers each need (nearly) every byte of an EIF's
 * sections — stream A, stream B and the CRC walk the same section data (eif-format.md §2, §3.2) — so instead of
 * each reading the Blob itself, one worker (the sender) reads it and hands every piece, once its own hashing has
 * moved past it, to the others (receivers) over a message port, moving the buffer (a transfer, no copy); a
 * receiver hands it back when done, so a small pool of buffers goes round (bounded memory: a sender waits for a
 * buffer to come back when all are out).
 *
 * A receiver is a ByteSource over its own Blob: small reads (header, section table, metadata, signature) and every
 * byte the sender does not relay — a range it never streams, everything after it ended or failed — come from there,
 * so a result never depends on what the sender streams. Nothing deadlocks: a receiver waits for the port only while
 * it holds no relayed buffer; a sender says when it ends (`finish`, normally or with an error); a receiver says when
 * it is done (the sender stops relaying to it); either wakes on its AbortSignal.
 *
 * Browser-safe, and nothing here knows about workers: the port is anything that posts with a transfer list and
 * delivers `message` events (a DOM MessagePort, or Node's worker_threads one in tests).
 */
import { EifError } from '../errors.js';
import type { ByteSource } from '../eif/layout.js';
import { type PieceBuffers, blobPieces, sourcePieces, toSource } from './eif.js';

/** The part of a MessagePort the relay uses (DOM MessagePort and Node's worker_threads MessagePort both fit). */
export interface RelayPort {
  postMessage(message: unknown, transfer: ArrayBuffer[]): void;
  addEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  removeEventListener(type: 'message', listener: (event: { data: unknown }) => void): void;
  /** A DOM port delivers nothing to addEventListener listeners until started. */
  start?(): void;
}

/** One end of a relay: a ByteSource for the walk, ended once with `finish` when the walk is over (or failed). */
export interface RelayEnd extends ByteSource {
  /** `waitMs`: time this end waited for the other (a sender for buffers, a receiver for pieces). */
  readonly stats: { waitMs: number };
  /** Tell the other side(s) this end is done — `error` when it failed — and stop listening. Idempotent. */
  finish(error?: unknown): void;
}

export interface RelaySender extends RelayEnd {
  /**
   * Per port, the most buffers of its pool live at once while its receiver took pieces (never more than `buffers`;
   * once a receiver is done, the sender reuses its own two); bytes relayed to all ports; ms spent waiting for a
   * buffer to come back (performance.now(); the wait of the read ahead, mostly while the consumer hashes a piece).
   */
  readonly stats: { peakBuffers: number[]; relayedBytes: number; waitMs: number };
}

export interface RelayReceiver extends RelayEnd {
  /**
   * Bytes streamed from relayed pieces, and from the receiver's own source (gaps, after the sender ended); ms spent
   * waiting for a piece (performance.now()).
   */
  readonly stats: { relayedBytes: number; ownBytes: number; waitMs: number };
}

/**
 * Buffers per port a sender lets out at a time: two at the sender (one hashed, one read ahead), the rest in flight or
 * waiting at the receiver. 6 × 1 MiB kept the workers' heap small in Chromium and let the receiver lag a few pieces.
 */
export const RELAY_BUFFERS = 6;

type Piece = { relay: 'piece'; offset: number; length: number; buffer: ArrayBuffer };
type RelayMessage = Piece | { relay: 'end'; error?: string } | { relay: 'back'; buffer: ArrayBuffer } | { relay: 'done' };

function isMessage(d: unknown): d is RelayMessage {
  return typeof d === 'object' && d !== null && typeof (d as { relay?: unknown }).relay === 'string';
}

function isPiece(m: RelayMessage): m is Piece {
  return (
    m.relay === 'piece' &&
    m.buffer instanceof ArrayBuffer &&
    Number.isSafeInteger(m.offset) &&
    m.offset >= 0 &&
    Number.isSafeInteger(m.length) &&
    m.length > 0 &&
    m.length <= m.buffer.byteLength
  );
}

/** Listen on a port for relay messages; returns the function that stops listening. */
function listen(port: RelayPort, on: (m: RelayMessage) => void): () => void {
  const listener = (e: { data: unknown }): void => {
    if (isMessage(e.data)) on(e.data);
  };
  port.addEventListener('message', listener);
  port.start?.();
  return () => port.removeEventListener('message', listener);
}

/** What an aborted wait throws: the signal's reason (an AbortError DOMException unless the caller gave one). */
const aborted = (signal: AbortSignal): unknown => signal.reason;

const now = (): number => (typeof performance === 'undefined' ? Date.now() : performance.now());

/** Wakes everything waiting on it (a buffer came back, a piece arrived, the other side ended, an abort). */
class Wakeup {
  #waiters: (() => void)[] = [];
  wait(): Promise<void> {
    return new Promise((resolve) => this.#waiters.push(resolve));
  }
  wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}

/** The sender's side of one port: its pool of buffers, and whether the receiver still takes pieces. */
class Link {
  readonly #free: ArrayBuffer[] = [];
  readonly #wakeup = new Wakeup();
  readonly #port: RelayPort;
  readonly #max: number;
  readonly #signal: AbortSignal | undefined;
  readonly #unlisten: () => void;
  live = 0;
  peak = 0;
  open = true;
  relayedBytes = 0;
  waitMs = 0;

  constructor(port: RelayPort, max: number, signal: AbortSignal | undefined) {
    this.#port = port;
    this.#max = max;
    this.#signal = signal;
    this.#unlisten = listen(port, (m) => {
      if (m.relay === 'back' && m.buffer instanceof ArrayBuffer) this.free(m.buffer);
      else if (m.relay === 'done') this.#close();
    });
    signal?.addEventListener('abort', () => this.#wakeup.wake(), { once: true });
  }

  /**
   * A buffer of at least `size` bytes: a free one, else a new one while fewer than `max` are out, else wait for one
   * to come back. Once the receiver is done, never waits (its buffers are not coming back).
   */
  async take(size: number): Promise<ArrayBuffer> {
    for (;;) {
      if (this.#signal?.aborted) throw aborted(this.#signal);
      const b = this.#free.pop();
      if (b && b.byteLength >= size) return b;
      if (b) this.live--; // too small for this chunk size: dropped
      else if (this.live < this.#max || !this.open) {
        this.live++;
        if (this.open) this.peak = Math.max(this.peak, this.live);
        return new ArrayBuffer(size);
      } else {
        const t = now();
        await this.#wakeup.wait();
        this.waitMs += now() - t;
      }
    }
  }

  free(buffer: ArrayBuffer): void {
    this.#free.push(buffer);
    this.#wakeup.wake();
  }

  /** Move the piece to the receiver (transferred: `buffer` is detached here), or keep the buffer if it is done. */
  post(buffer: ArrayBuffer, offset: number, length: number): void {
    if (!this.open || length === 0) return this.free(buffer);
    this.#port.postMessage({ relay: 'piece', offset, length, buffer } satisfies RelayMessage, [buffer]);
    this.relayedBytes += length;
  }

  end(error?: unknown): void {
    if (this.open) {
      const message = error === undefined ? undefined : String((error as Error)?.message ?? error);
      this.#port.postMessage({ relay: 'end', error: message } satisfies RelayMessage, []);
    }
    this.#close();
  }

  #close(): void {
    this.open = false;
    this.#unlisten();
    this.#wakeup.wake();
  }
}

/**
 * The reading end: a ByteSource over `input` whose `stream` reads pieces into pooled buffers (≤ `buffers` out per
 * port; when none is free it waits for one to come back) and, once the consumer has moved past a piece, transfers
 * its buffer with the piece's file offset and length to the first port; further ports get a copy (from their own
 * pools). Call `finish` when the walk is over, or failed, so receivers stop waiting for pieces.
 *
 * @example
 * import { measureEifPart, relaySender } from 'eifkit/browser';
 * // in worker 0, with port1 of a MessageChannel whose port2 went to worker 1 (relayReceiver there)
 * const part = await measureEifPart(file, { pcr0: true, crc: { index: 0, count: 2 } }, { relay: relaySender(file, port1) });
 */
export function relaySender(
  input: Blob | ByteSource,
  ports: RelayPort | readonly RelayPort[],
  opts: { buffers?: number; signal?: AbortSignal } = {},
): RelaySender {
  const max = opts.buffers ?? RELAY_BUFFERS;
  if (!Number.isInteger(max) || max < 2) throw new EifError('CORE_BAD_ARGUMENT', `a relay needs at least 2 buffers per port (got ${max})`);
  const list = Array.isArray(ports) ? (ports as readonly RelayPort[]) : [ports as RelayPort];
  if (list.length === 0) throw new EifError('CORE_BAD_ARGUMENT', 'a relay sender needs at least one port');
  const links = list.map((p) => new Link(p, max, opts.signal));
  const first = links[0]!;
  const source = toSource(input);
  const blob = typeof Blob !== 'undefined' && input instanceof Blob ? input : undefined;
  const buffers: PieceBuffers = {
    take: (size) => first.take(size),
    give: async (buffer, offset, length) => {
      if (length > 0) {
        for (const l of links.slice(1)) {
          if (!l.open) continue;
          const copy = await l.take(buffer.byteLength);
          new Uint8Array(copy, 0, length).set(new Uint8Array(buffer, 0, length));
          l.post(copy, offset, length);
        }
      }
      first.post(buffer, offset, length);
    },
  };
  let finished = false;
  return {
    size: source.size,
    read: (offset, length) => source.read(offset, length),
    stream: (offset, length, chunk) => (blob ? blobPieces(blob, offset, length, chunk, buffers) : sourcePieces(source, offset, length, chunk, buffers)),
    finish(error?: unknown) {
      if (finished) return;
      finished = true;
      for (const l of links) l.end(error);
    },
    get stats() {
      return { peakBuffers: links.map((l) => l.peak), relayedBytes: links.reduce((n, l) => n + l.relayedBytes, 0), waitMs: links.reduce((n, l) => n + l.waitMs, 0) };
    },
  };
}

/**
 * The receiving end: a ByteSource over `input` (the same file as the sender's) whose `read` is its own and whose
 * `stream(offset, length, chunk)` yields the relayed pieces that cover the range — split to at most `chunk` bytes
 * and at the range's ends, pieces before it given back unread — and reads every gap (bytes not relayed, everything
 * once the sender ended) from `input`. A piece's buffer goes back to the sender once the consumer asked for the next
 * piece. It waits for the port only while it holds no relayed piece and the sender has not ended; `finish` tells the
 * sender it is done; `signal` aborts a wait.
 *
 * @example
 * import { measureEifPart, relayReceiver } from 'eifkit/browser';
 * // in worker 1, with port2 of the channel whose port1 went to worker 0 (relaySender there)
 * const part = await measureEifPart(file, { pcr2: true, crc: { index: 1, count: 2 } }, { relay: relayReceiver(file, port2) });
 */
export function relayReceiver(input: Blob | ByteSource, port: RelayPort, opts: { signal?: AbortSignal } = {}): RelayReceiver {
  const own = toSource(input);
  const signal = opts.signal;
  const queue: Piece[] = [];
  const wakeup = new Wakeup();
  const stats = { relayedBytes: 0, ownBytes: 0, waitMs: 0 };
  /** The sender ended (no more pieces), or this end finished: no waiting, no giving back. */
  let ended = false;
  let finished = false;
  /** The furthest position streamed: a piece that ends before it is given back as soon as it arrives. */
  let floor = 0;
  const back = (p: Piece): void => {
    if (!ended && !finished) port.postMessage({ relay: 'back', buffer: p.buffer } satisfies RelayMessage, [p.buffer]);
  };
  const unlisten = listen(port, (m) => {
    if (isPiece(m)) {
      if (finished) return;
      if (m.offset + m.length <= floor) return back(m);
      queue.push(m);
    } else if (m.relay === 'end') ended = true;
    else return;
    wakeup.wake();
  });
  signal?.addEventListener('abort', () => wakeup.wake(), { once: true });
  const dropBefore = (pos: number): void => {
    while (queue.length && queue[0]!.offset + queue[0]!.length <= pos) back(queue.shift()!);
  };

  async function* ownPieces(offset: number, length: number, chunk: number): AsyncGenerator<Uint8Array> {
    if (own.stream) {
      yield* own.stream(offset, length, chunk);
      return;
    }
    for (let off = 0; off < length; ) {
      const piece = await own.read(offset + off, Math.min(chunk, length - off));
      if (piece.length === 0) return;
      yield piece;
      off += piece.length;
    }
  }

  async function* stream(offset: number, length: number, chunk: number): AsyncGenerator<Uint8Array> {
    const end = offset + length;
    let pos = offset;
    while (pos < end) {
      if (signal?.aborted) throw aborted(signal);
      dropBefore(pos); // the consumer asked for the next piece: the ones it has moved past go back
      const head = queue[0];
      if (head && head.offset <= pos) {
        const stop = Math.min(head.offset + head.length, end, pos + chunk);
        const view = new Uint8Array(head.buffer, pos - head.offset, stop - pos);
        pos = stop;
        floor = Math.max(floor, pos);
        stats.relayedBytes += view.length;
        yield view;
        continue;
      }
      if (head || ended || finished) {
        // a gap: bytes the sender did not relay (yet it is past them), or it has ended — read them here
        const gapEnd = head ? Math.min(head.offset, end) : end;
        for await (const p of ownPieces(pos, gapEnd - pos, chunk)) {
          pos += p.length;
          floor = Math.max(floor, pos);
          stats.ownBytes += p.length;
          yield p;
          if (signal?.aborted) throw aborted(signal);
        }
        if (pos < gapEnd) return; // the own source ended early: the consumer sees the range short
        continue;
      }
      const t = now();
      await wakeup.wait(); // holds no relayed buffer: the sender has them, or they are on the way
      stats.waitMs += now() - t;
    }
    dropBefore(pos);
  }

  return {
    size: own.size,
    read: (offset, length) => own.read(offset, length),
    stream,
    finish() {
      if (finished) return;
      if (!ended) port.postMessage({ relay: 'done' } satisfies RelayMessage, []);
      finished = true;
      queue.length = 0;
      unlisten();
      wakeup.wake();
    },
    stats,
  };
}
