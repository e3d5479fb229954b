/**
 * The customer and bootstrap ramdisks byte-identical to the ones nitro-cli's linuxkit made on a real Docker daemon
 * (../shared/test-vectors/oci, see its README): shared oci-build.md §1.3 and "Observed in linuxkit's own output".
 */
import { expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { describeShared, readShared } from '../helpers/shared.js';
import { bytesSource } from '../../src/eif/layout.js';
import { bootstrapRamdisk, imageRamdisks } from '../../src/oci/index.js';
import type { ImageSelection } from '../../src/oci/types.js';
import type { ByteSource } from '../../src/eif/layout.js';
import { loadDockerSave } from './helpers/test-tar.js';
import { openImageSource } from '../../src/node/oci/image-source.js';
import { openTarArchive } from '../../src/oci/archive-store.js';
import { selectImage } from '../../src/oci/image.js';
import { indexLayer } from '../../src/oci/layer.js';
import { sharedPath } from '../helpers/shared.js';

async function readAll(src: ByteSource): Promise<Uint8Array> {
  return new Uint8Array(await src.read(0, src.size));
}

/** Read in odd-sized chunks, to exercise the plan's random access across entry boundaries. */
async function readChunked(src: ByteSource, chunk: number): Promise<Uint8Array> {
  const out = new Uint8Array(src.size);
  for (let o = 0; o < src.size; o += chunk) out.set(await src.read(o, Math.min(chunk, src.size - o)), o);
  return out;
}

function selectionOf(config: Record<string, any>): ImageSelection {
  const c = config.config ?? {};
  return {
    architecture: 'amd64', os: 'linux',
    cmd: c.Cmd ?? c.Entrypoint, env: c.Env ?? [],
    config, configDigest: 'sha256:test', repoTags: [], layers: [], warnings: [],
  };
}

describeShared('golden ramdisks (../shared/test-vectors/oci)', () => {
  const expected = JSON.parse(new TextDecoder().decode(readShared('oci', 'expected.json')));
  for (const name of ['sample-app', 'sample-entrypoint']) {
    it(`${name}: customer ramdisk byte-identical to nitro-cli's`, async () => {
      const { config, layers } = loadDockerSave(readShared('oci', `${name}.docker-archive.tar`));
      const { customer, warnings } = imageRamdisks(selectionOf(config), layers, { createdAt: 1_800_000_000 });
      const want = readShared('oci', `${name}.customer-initrd.img`);
      expect(customer.size).toBe(want.length);
      const got = await readAll(customer);
      expect(Buffer.from(got).equals(Buffer.from(want))).toBe(true);
      expect(Buffer.from(await readChunked(customer, 77)).equals(Buffer.from(want))).toBe(true);
      expect(createHash('sha384').update(got).digest('hex')).toBe(expected[name].customer_sha384);
      expect(warnings).toEqual([]);
    });
  }
  for (const name of ['sample-app', 'sample-entrypoint']) {
    it(`${name}: the production read path (openImageSource, Node) gives the same customer ramdisk`, async () => {
      const src = await openImageSource('docker-archive', sharedPath('oci', `${name}.docker-archive.tar`));
      try {
        const layers = await src.indexLayers();
        const { customer } = imageRamdisks(src.selection, layers, { createdAt: 1_800_000_000 });
        const got = await readAll(customer);
        expect(createHash('sha384').update(got).digest('hex')).toBe(expected[name].customer_sha384);
      } finally {
        src.close();
      }
    });

    it(`${name}: the browser-safe read path (openTarArchive, selectImage, indexLayer) gives the same customer ramdisk`, async () => {
      const store = await openTarArchive(bytesSource(readShared('oci', `${name}.docker-archive.tar`)), name);
      const selection = await selectImage(store);
      const layers = [];
      for (const ref of selection.layers) layers.push(await indexLayer(ref));
      const { customer } = imageRamdisks(selection, layers, { createdAt: 1_800_000_000 });
      expect(createHash('sha384').update(await readAll(customer)).digest('hex')).toBe(expected[name].customer_sha384);
      expect(new TextDecoder().decode(await customer.read(customer.size - 512, 512))).toContain(expected[name].cmd.split('\n')[0]);
    });
  }

  it('bootstrap ramdisk byte-identical from blobs/init and blobs/nsm.ko', async () => {
    const init = readShared('oci', 'blobs', 'init');
    const nsm = readShared('oci', 'blobs', 'nsm.ko');
    const ramdisk = await bootstrapRamdisk({ init: bytesSource(init), nsm: bytesSource(nsm) });
    const want = readShared('oci', 'bootstrap-initrd.img');
    expect(ramdisk.entryCount).toBe(3);
    expect(Buffer.from(await readAll(ramdisk)).equals(Buffer.from(want))).toBe(true);
    expect(Buffer.from(await readChunked(ramdisk, 1000)).equals(Buffer.from(want))).toBe(true);
  });
});
