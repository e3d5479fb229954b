/**
 * A pulled image is read exactly like the same image saved to a file (issue 12: "The pulled image gives byte-identical
 * EIFs to the same image built from a `docker save` tar"): the registry image and a docker-archive of it (skopeo
 * copy docker://… docker-archive:, the `docker save` format) give the same selection and byte-identical customer
 * ramdisks (so the same PCR2; the bootstrap ramdisk and kernel come from the blobs, not the image).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { openRegistryImage } from '../../src/node/registry/source.js';
import { openImageSource } from '../../src/node/oci/image-source.js';
import { imageRamdisks } from '../../src/oci/index.js';
import type { ByteSource } from '../../src/eif/layout.js';
import { buildLayout, missingTools, skopeo, startRegistry, stopAll, tmp, type Registry } from './harness.js';

const missing = missingTools();
const d = missing ? describe.skip : describe;

async function bytesOf(src: ByteSource): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (let off = 0; off < src.size; off += 1 << 20) parts.push(Buffer.from(await src.read(off, Math.min(1 << 20, src.size - off))));
  return Buffer.concat(parts);
}

d(`registry image = docker-archive of it${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let reg: Registry;
  let archive: string;
  beforeAll(async () => {
    reg = await startRegistry();
    const img = buildLayout();
    await skopeo(['--all', `oci:${img.dir}:multi`, `docker://${reg.host}/test/app:1`, '--dest-tls-verify=false']);
    archive = join(tmp(), 'app.tar');
    await skopeo(['--src-tls-verify=false', '--override-arch', 'arm64', `docker://${reg.host}/test/app:1`, `docker-archive:${archive}:test/app:1`]);
  });
  afterAll(stopAll);

  it('same config, cmd, env, layers (diff_ids) and byte-identical customer ramdisk', async () => {
    const pulled = await openRegistryImage({ 'docker-uri': `${reg.host}/test/app:1`, platform: 'linux/arm64', 'no-cache': true, quiet: true });
    const saved = await openImageSource('docker-archive', archive);
    try {
      expect(pulled.selection.architecture).toBe('arm64');
      expect(pulled.selection.configDigest).toBe(saved.selection.configDigest);
      expect(pulled.selection.cmd).toEqual(saved.selection.cmd);
      expect(pulled.selection.env).toEqual(saved.selection.env);
      expect(pulled.selection.layers.map((l) => l.diffId)).toEqual(saved.selection.layers.map((l) => l.diffId));
      expect(pulled.selection.layers.map((l) => l.compression)).toEqual(['gzip', 'gzip']);
      const a = imageRamdisks(pulled.selection, await pulled.indexLayers(), { createdAt: 1_700_000_000 });
      const b = imageRamdisks(saved.selection, await saved.indexLayers(), { createdAt: 1_700_000_000 });
      expect(a.customer.size).toBe(b.customer.size);
      expect((await bytesOf(a.customer)).equals(await bytesOf(b.customer))).toBe(true);
      expect(a.customer.entryCount).toBeGreaterThan(5);
    } finally {
      pulled.close();
      saved.close();
    }
  });
});
