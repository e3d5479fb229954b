/** What the page and its workers say to each other (plain data: it crosses postMessage). */
import type { EifMeasurePart, EifMeasureShare } from 'eifkit/browser';

export type ToWorker =
  | { kind: 'measure'; id: number; file: Blob; share: EifMeasureShare; chunkSize?: number; reader?: 'stream' | 'slices'; relay?: MeasureRelay }
  | { kind: 'cancel'; id: number }
  | { kind: 'speed'; id: number; sizes: number[] }
  | { kind: 'image'; id: number; archive: File; blobs: ImageBlobs; spill: 'auto' | 'memory'; memoryLimit: number };

/**
 * How a measuring worker shares the file's reads (eifkit's relay): it reads and hands its pieces on (`send`: one
 * port per other worker), or gets them (`receive`). The ports are transferred with the request.
 */
export type MeasureRelay = { send: MessagePort[]; buffers?: number } | { receive: MessagePort };

/** The ports of a relay end: transferred with the request, closed by the worker when it is done. */
export const relayPorts = (relay: MeasureRelay | undefined): MessagePort[] => (relay ? ('send' in relay ? relay.send : [relay.receive]) : []);

/** nitro-cli's blobs, by their file names (bzImage or Image, cmdline, init, nsm.ko). */
export interface ImageBlobs {
  kernel?: File;
  cmdline?: File;
  init?: File;
  nsm?: File;
}

export interface ImageResult {
  PCR0?: string;
  PCR1?: string;
  PCR2: string;
  architecture: string;
  repoTags: string[];
  layers: number;
  customerSize: number;
  customerEntries: number;
  warnings: string[];
  ms: number;
  /** Where the compressed layers' uncompressed bytes were kept: OPFS (`spilledBytes` written), or memory. */
  spill: 'opfs' | 'memory';
  spilledBytes: number;
}

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
  | { kind: 'image-progress'; id: number; text: string }
  | { kind: 'image-result'; id: number; result: ImageResult }
  | { kind: 'error'; id: number; code: string; message: string };
