#!/usr/bin/env node
// Makes bench images: a `docker save` archive (legacy layout: manifest.json, <config>.json, <id>/layer.tar) holding
// N MiB of files in two layers, uncompressed or gzip, written by a naive tar writer (no dependency, nothing held
// whole in memory). Used by bench/image.mjs; alone: `node bench/image-gen.mjs OUT.tar --mib 1024 [--gzip]`.
// Layer 1: files of 8 MiB; layer 2: a quarter of its bytes in 64 KiB files (many entries), the rest in 8 MiB files.
// File bytes are random (incompressible: gzip -1 keeps them the same size, so `--gzip` measures decompression,
// not the content).
import { closeSync, createReadStream, createWriteStream, openSync, readSync, rmSync, statSync, writeSync } from 'node:fs';
import { createHash, randomFillSync } from 'node:crypto';
import { createGzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';

const MiB = 1 << 20;

/** A ustar header (names < 100 bytes here). */
function header(name, size, type = '0', mode = 0o644) {
  const h = Buffer.alloc(512);
  const put = (s, off, len) => h.write(s, off, len, 'latin1');
  const oct = (n, len) => n.toString(8).padStart(len - 1, '0') + '\0';
  put(name, 0, 100);
  put(oct(mode, 8), 100, 8);
  put(oct(0, 8), 108, 8);
  put(oct(0, 8), 116, 8);
  put(oct(size, 12), 124, 12);
  put(oct(1700000000, 12), 136, 12);
  put('        ', 148, 8);
  put(type, 156, 1);
  put('ustar\x0000', 257, 8);
  let sum = 0;
  for (const b of h) sum += b;
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return h;
}

class TarWriter {
  constructor(path) {
    this.fd = openSync(path, 'w');
    this.pos = 0;
    this.hash = createHash('sha256');
  }
  write(buf) {
    let done = 0;
    while (done < buf.length) done += writeSync(this.fd, buf, done, buf.length - done);
    this.hash.update(buf);
    this.pos += buf.length;
  }
  pad() {
    const n = (512 - (this.pos % 512)) % 512;
    if (n) this.write(Buffer.alloc(n));
  }
  dir(name) {
    this.write(header(name, 0, '5', 0o755));
  }
  randomFile(name, size, buf) {
    this.write(header(name, size));
    for (let done = 0; done < size; done += buf.length) {
      const n = Math.min(buf.length, size - done);
      randomFillSync(buf, 0, n);
      this.write(buf.subarray(0, n));
    }
    this.pad();
  }
  copyFile(name, path) {
    const size = statSync(path).size;
    this.write(header(name, size));
    const fd = openSync(path, 'r');
    const buf = Buffer.alloc(8 * MiB);
    for (let done = 0; done < size; ) {
      const n = readSync(fd, buf, 0, Math.min(buf.length, size - done), done);
      this.write(buf.subarray(0, n));
      done += n;
    }
    closeSync(fd);
    this.pad();
  }
  close() {
    this.write(Buffer.alloc(1024));
    closeSync(this.fd);
    return { size: this.pos, sha256: this.hash.digest('hex') };
  }
}

async function sha256File(path) {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 8 * MiB })) h.update(chunk);
  return h.digest('hex');
}

/**
 * Write the archive `out` with `mib` MiB of files; returns the layer blob paths (kept next to it, for the gzip
 * reference row) and their uncompressed sizes.
 */
export async function makeBenchImage(out, { mib, gzip = false }) {
  const buf = Buffer.alloc(8 * MiB);
  const half = Math.floor((mib * MiB) / 2);
  const layers = [];
  for (const [i, plan] of [
    [0, { big: half, small: 0 }],
    [1, { big: mib * MiB - half - Math.floor((mib * MiB - half) / 4), small: Math.floor((mib * MiB - half) / 4) }],
  ]) {
    const path = `${out}.layer${i}.tar`;
    const w = new TarWriter(path);
    w.dir(`data${i}/`);
    let n = 0;
    for (let left = plan.big; left > 0; left -= 8 * MiB) w.randomFile(`data${i}/big${n++}.bin`, Math.min(8 * MiB, left), buf);
    if (plan.small > 0) {
      w.dir(`data${i}/small/`);
      for (let left = plan.small, k = 0; left > 0; left -= 64 << 10, k++) w.randomFile(`data${i}/small/f${k}.bin`, Math.min(64 << 10, left), buf);
    }
    const t = w.close();
    const layer = { tar: path, uncompressedSize: t.size, diffId: `sha256:${t.sha256}`, blob: path };
    if (gzip) {
      layer.blob = `${path}.gz`;
      await pipeline(createReadStream(path, { highWaterMark: 8 * MiB }), createGzip({ level: 1 }), createWriteStream(layer.blob));
    }
    layers.push(layer);
  }
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: '2024-01-01T00:00:00Z',
      config: { Cmd: ['/data0/big0.bin'], Env: ['PATH=/usr/bin'] },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    }),
  );
  const configId = createHash('sha256').update(config).digest('hex');
  const ids = [];
  for (const l of layers) ids.push(l.blob === l.tar ? l.diffId.slice(7) : await sha256File(l.blob));
  const manifest = Buffer.from(JSON.stringify([{ Config: `${configId}.json`, RepoTags: ['bench:latest'], Layers: ids.map((id) => `${id}/layer.tar`) }]));
  const w = new TarWriter(out);
  w.write(header(`${configId}.json`, config.length));
  w.write(config);
  w.pad();
  for (const [i, l] of layers.entries()) {
    w.dir(`${ids[i]}/`);
    w.copyFile(`${ids[i]}/layer.tar`, l.blob);
  }
  w.write(header('manifest.json', manifest.length));
  w.write(manifest);
  w.pad();
  const t = w.close();
  return { path: out, size: t.size, layers, filesMiB: mib };
}

/** Remove the archive and its layer files. */
export function removeBenchImage(img) {
  rmSync(img.path, { force: true });
  for (const l of img.layers) {
    rmSync(l.tar, { force: true });
    rmSync(l.blob, { force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const out = args.find((a) => !a.startsWith('--'));
  const mibAt = args.indexOf('--mib');
  if (!out) {
    process.stderr.write('usage: node bench/image-gen.mjs OUT.tar [--mib N] [--gzip]\n');
    process.exit(2);
  }
  const img = await makeBenchImage(out, { mib: mibAt >= 0 ? Number(args[mibAt + 1]) : 1024, gzip: args.includes('--gzip') });
  process.stdout.write(`${img.path}: ${img.size} bytes, ${img.filesMiB} MiB of files in ${img.layers.length} layers${args.includes('--gzip') ? ' (gzip)' : ''}\n`);
}
