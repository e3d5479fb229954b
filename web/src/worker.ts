/**
 * The page's worker: one share of an EIF's measurement (eifkit's measureEifPart, its own WASM core; the file read
 * by this worker, or relayed from the worker that reads it), or the hash-speed test. The page starts its workers at
 * load and reuses them, so no script is fetched after load; a request is stopped by a `cancel` message (checked at
 * each progress step, and it aborts a wait on the relay). Progress is posted at most every 200 ms (PROGRESS_MS).
 */
import {
  EifError,
  blobSource,
  bootstrapRamdisk,
  bytesSource,
  createSha384,
  crc32,
  imageRamdisks,
  indexLayer,
  initCore,
  measureEifPart,
  measureImageInputs,
  memorySpillBudget,
  openOpfsSpillDir,
  openTarArchive,
  relayReceiver,
  relaySender,
  selectImage,
} from 'eifkit/browser';
import { type FromWorker, type ToWorker, relayPorts } from './messages.js';

const post = (m: FromWorker): void => postMessage(m);

/**
 * Progress posts at most this often: the page's main thread paints each (style, layout, paint: ~4 ms a frame in
 * a Chromium trace), and at 50 ms the two workers' posts and paints cost its main thread ~0.4 CPU-s of a 1 GiB run
 * on two cores, time taken from the hashing workers.
 */
const PROGRESS_MS = 200;
const cancelled = new Set<number>();
/** The running measurements' abort controllers: a cancel wakes a relay end waiting for its other side. */
const aborts = new Map<number, AbortController>();

class Cancelled extends Error {}

function failure(id: number, e: unknown): FromWorker {
  if (e instanceof EifError) return { kind: 'error', id, code: e.code, message: e.message };
  const name = (e as { name?: string } | null)?.name;
  if (name === 'NotReadableError' || name === 'NotFoundError') {
    return { kind: 'error', id, code: 'WEB_FILE_UNREADABLE', message: 'the browser could not read the file (was it moved or changed?)' };
  }
  return { kind: 'error', id, code: 'WEB_WORKER_FAILED', message: String((e as Error)?.message ?? e) };
}

async function measure(m: ToWorker & { kind: 'measure' }): Promise<void> {
  let last = 0;
  // 'slices': Blob.slice().arrayBuffer() with the next slice asked for while this one is hashed, not the BYOB stream
  const src = m.reader === 'slices' ? { size: m.file.size, read: blobSource(m.file).read } : m.file;
  const ports = relayPorts(m.relay);
  const abort = new AbortController();
  aborts.set(m.id, abort);
  if (cancelled.has(m.id)) abort.abort(new Cancelled());
  const signal = abort.signal;
  const relay = m.relay && ('send' in m.relay ? relaySender(src, m.relay.send, { signal, buffers: m.relay.buffers }) : relayReceiver(src, m.relay.receive, { signal }));
  const part = await measureEifPart(src, m.share, {
    relay,
    chunkSize: m.chunkSize,
    onProgress: (read, planned) => {
      if (cancelled.has(m.id)) throw new Cancelled();
      const now = performance.now();
      if (now - last >= PROGRESS_MS || read === planned) {
        last = now;
        post({ kind: 'progress', id: m.id, read, planned });
      }
    },
  }).finally(() => {
    aborts.delete(m.id);
    for (const p of ports) p.close(); // the relay's last message (end / done) is already on its way
  });
  post({ kind: 'part', id: m.id, part });
}

/**
 * MB/s of `op` over `bytes`: after a warm-up, samples of at least 25 ms each (the op repeated; browsers coarsen
 * timers to 0.1 ms), for ~300 ms; the best sample.
 */
async function rate(bytes: number, op: () => unknown | Promise<unknown>): Promise<number> {
  await op();
  const sample = async (reps: number): Promise<number> => {
    const s = performance.now();
    for (let i = 0; i < reps; i++) await op();
    return performance.now() - s;
  };
  let reps = 1;
  while ((await sample(reps)) < 25 && reps < 1 << 16) reps *= 2;
  let best = 0;
  const t0 = performance.now();
  do best = Math.max(best, (reps * bytes) / 1e6 / ((await sample(reps)) / 1000));
  while (performance.now() - t0 < 300);
  return best;
}

async function speed(m: ToWorker & { kind: 'speed' }): Promise<void> {
  for (const size of m.sizes) {
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i += 4096) data[i] = (i * 2654435761) >>> 24;
    const wasmSha384 = await rate(size, () => createSha384().update(data).digest());
    const webCryptoSha384 = await rate(size, () => crypto.subtle.digest('SHA-384', data));
    const wasmCrc32 = await rate(size, () => crc32(data));
    post({ kind: 'speed-row', id: m.id, row: { size, wasmSha384, webCryptoSha384, wasmCrc32 } });
  }
  post({ kind: 'speed-done', id: m.id });
}

/**
 * A container image (docker save or OCI archive) → nitro-cli's customer ramdisk → PCR2 (eifkit's oci stages, the
 * archive read by slices); with the blobs, the bootstrap ramdisk too → PCR0 and PCR1.
 */
async function image(m: ToWorker & { kind: 'image' }): Promise<void> {
  const t0 = performance.now();
  const say = (text: string) => post({ kind: 'image-progress', id: m.id, text });
  say('reading the archive…');
  // a compressed layer's uncompressed bytes: to this site's private file system (OPFS) when the browser has it,
  // else to memory up to the stated limit (OCI_SPILL_MEMORY beyond it)
  const dir = m.spill === 'memory' ? undefined : await openOpfsSpillDir();
  const spill = dir ? dir.spill : memorySpillBudget(m.memoryLimit);
  try {
    const store = await openTarArchive(blobSource(m.archive), m.archive.name);
    const selection = await selectImage(store);
    const layers = [];
    for (const [i, ref] of selection.layers.entries()) {
      say(`reading layer ${i + 1} of ${selection.layers.length}…`);
      layers.push(await indexLayer(ref, { spill }));
    }
    const { customer, warnings } = imageRamdisks(selection, layers);
    const b = m.blobs;
    let inputs: Parameters<typeof measureImageInputs>[0];
    if (b.kernel && b.cmdline && b.init && b.nsm) {
      const bootstrap = await bootstrapRamdisk({ init: blobSource(b.init), nsm: blobSource(b.nsm) });
      const cmdline = new TextEncoder().encode((await b.cmdline.text()).trim()); // oci-build.md §1.1: trimmed
      inputs = { kernel: blobSource(b.kernel), cmdline, ramdisks: [bootstrap, customer] };
    } else {
      inputs = { ramdisks: [bytesSource(new Uint8Array(0)), customer] };
    }
    let last = 0;
    const pcrs = await measureImageInputs(inputs, {
      onProgress: (read) => {
        if (performance.now() - last > 100) {
          last = performance.now();
          say(`hashing: ${(read / 1048576).toFixed(0)} MiB…`);
        }
      },
    });
    post({
      kind: 'image-result',
      id: m.id,
      result: {
        ...pcrs,
        architecture: selection.architecture,
        repoTags: selection.repoTags,
        layers: layers.length,
        customerSize: customer.size,
        customerEntries: customer.entryCount,
        warnings,
        ms: performance.now() - t0,
        spill: dir ? 'opfs' : 'memory',
        spilledBytes: dir?.bytesWritten ?? 0,
      },
    });
  } finally {
    await dir?.close();
  }
}

const ready = initCore().then(() => {
  // a little work through the core, so its code is optimised before the first real slice arrives
  const warm = new Uint8Array(256 << 10);
  createSha384().update(warm).digest();
  crc32(warm);
  post({ kind: 'ready', id: 0 });
});

onmessage = (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  if (m.kind === 'cancel') {
    cancelled.add(m.id);
    aborts.get(m.id)?.abort(new Cancelled());
    return;
  }
  ready
    .then(() => (m.kind === 'measure' ? measure(m) : m.kind === 'image' ? image(m) : speed(m)))
    .catch((err: unknown) => {
      if (!(err instanceof Cancelled)) post(failure(m.id, err));
    })
    .finally(() => cancelled.delete(m.id));
};
