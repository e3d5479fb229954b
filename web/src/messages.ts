/** What the page and its workers say to each other (plain data: it crosses postMessage). */
import type { EifMeasurePart, EifMeasureShare } from 'eifkit/browser';

export type ToWorker =
  | { kind: 'measure'; id: number; file: Blob; share: EifMeasureShare }
  | { kind: 'cancel'; id: number }
  | { kind: 'speed'; id: number; sizes: number[] };

export interface SpeedRow {
  size: number;
  wasmSha384: number;
  webCryptoSha384: number;
  wasmCrc32: number;
}

/** Every answer names the request it answers (`id`); `ready` is sent once the worker's WASM core is compiled. */
export type FromWorker =
  | { kind: 'ready'; id: 0 }
  | { kind: 'progress'; id: number; read: number; planned: number }
  | { kind: 'part'; id: number; part: EifMeasurePart }
  | { kind: 'speed-row'; id: number; row: SpeedRow }
  | { kind: 'speed-done'; id: number }
  | { kind: 'error'; id: number; code: string; message: string };
