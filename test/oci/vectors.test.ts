/**
 * eifkit's own container-image vector (test-vectors/oci, made by generate.mjs): dockerExport of a three-layer
 * docker-save archive against the `docker export` listing typed by hand from shared oci-build.md §1.3, field by
 * field, with file contents by SHA-256; then the customer ramdisk's own rules on the same image.
 */
import { describe, expect, it, onTestFinished } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/shared.js';
import { dockerExport } from '../../src/oci/docker-export.js';
import { imageRamdisks } from '../../src/oci/index.js';
import { readCpio } from '../../src/eif/cpio.js';
import type { ImageSelection, LayerIndex } from '../../src/oci/types.js';
import { loadDockerSave } from './helpers/test-tar.js';
import { openImageSource } from '../../src/node/oci/image-source.js';

const dir = join(REPO_ROOT, 'test-vectors', 'oci');
const expected = JSON.parse(readFileSync(join(dir, 'rootfs-cases.expected.json'), 'utf8'));
const { config, layers: loadedLayers } = loadDockerSave(new Uint8Array(readFileSync(join(dir, 'rootfs-cases.docker-archive.tar'))));
const b64 = (s: string) => Buffer.from(s, 'base64').toString('latin1');

async function sha(layersIn: LayerIndex[], data: { layer: number; offset: number } | { bytes: Uint8Array } | undefined, size: number): Promise<string> {
  const h = createHash('sha256');
  if (data && 'bytes' in data) h.update(data.bytes);
  else if (data) h.update(await layersIn[data.layer]!.source.read(data.offset, size));
  return h.digest('hex');
}

describe('rootfs-cases vector', () => {
  for (const reader of ['test-only indexer', 'production reader'] as const) it(`dockerExport equals the hand-written docker export listing, field by field (${reader})`, async () => {
    const src = reader === 'production reader' ? await openImageSource('docker-archive', join(dir, 'rootfs-cases.docker-archive.tar')) : undefined;
    onTestFinished(() => src?.close());
    const layers = src ? await src.indexLayers() : loadedLayers;
    const r = dockerExport(layers, { createdAt: expected.createdAt, workdir: expected.workdir });
    expect(r.warnings).toEqual([]);
    const got = await Promise.all(
      r.entries.map(async (e) => ({
        name: e.name, type: e.type, mode: e.mode.toString(8), uid: e.uid, gid: e.gid, mtime: e.mtime, linkname: e.linkname,
        devmajor: e.devmajor, devminor: e.devminor, size: e.size, ...(e.type === 'file' ? { sha256: await sha(layers, e.data, e.size) } : {}),
      })),
    );
    const want = expected.export.map((e: Record<string, unknown>) => ({ ...e, name: b64(e['name'] as string), linkname: b64(e['linkname'] as string) }));
    expect(got.map((e) => e.name)).toEqual(want.map((e: { name: string }) => e.name));
    expect(got).toEqual(want);
  });

  it('customer ramdisk: cmd and env as nitro-cli writes them (Cmd wins over Entrypoint), hard links as relative symlinks', async () => {
    const c = config.config;
    const selection = { architecture: 'amd64', os: 'linux', cmd: c.Cmd ?? c.Entrypoint, env: c.Env, config, configDigest: '', repoTags: [], layers: [], warnings: [] } as ImageSelection;
    const { customer, warnings } = imageRamdisks(selection, loadedLayers, { createdAt: expected.createdAt });
    expect(warnings).toEqual([]);
    const entries = readCpio(new Uint8Array(await customer.read(0, customer.size)));
    const by = (n: string) => entries.find((e) => e.name === n)!;
    expect(new TextDecoder().decode(by('cmd').data)).toBe(expected.cmd);
    expect(new TextDecoder().decode(by('env').data)).toBe(expected.env);
    expect(new TextDecoder().decode(by('rootfs/usr/sbin/busybox-link').data)).toBe('../../bin/ash');
    expect(by('rootfs/usr/sbin/busybox-link').mode).toBe(0o120755);
    expect(new TextDecoder().decode(by('rootfs/bin/sh').data)).toBe('ash');
    expect(by('rootfs/app/server')).toMatchObject({ mode: 0o120750, uid: 10001 });
    expect(by('rootfs/proc/')).toMatchObject({ mode: 0o040555, mtime: 1492533000 });
    expect(by('rootfs/etc/mtab').mtime).toBe(1492533000);
    expect(entries.find((e) => e.name.endsWith('.dockerenv') || e.name === 'rootfs/etc/hostname' || e.name === 'rootfs/dev/console')).toBeUndefined();
  });

  it('the customer ramdisk does not depend on the creation time when the image lists its directories (linuxkit re-times or drops all the init layer makes)', async () => {
    const c = config.config;
    const selection = { architecture: 'amd64', os: 'linux', cmd: c.Cmd, env: c.Env, config, configDigest: '', repoTags: [], layers: [], warnings: [] } as ImageSelection;
    const a = imageRamdisks(selection, loadedLayers, { createdAt: 1 }).customer;
    const b = imageRamdisks(selection, loadedLayers, { createdAt: 2_000_000_000 }).customer;
    expect(Buffer.from(await a.read(0, a.size)).equals(Buffer.from(await b.read(0, b.size)))).toBe(true);
  });
});
