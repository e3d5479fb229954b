/**
 * The small container image of `eif demo` (what `npm start` runs): a `docker save` archive in the legacy layout
 * (manifest.json, the config, one uncompressed layer), written here byte by byte so a fresh clone can show an image
 * build with no Docker and no download. One layer: `app/` with a shell script and a hard link to it, `etc/`, a
 * symlink; Cmd and Env set. Deterministic (fixed times and owners).
 */
import { createHash } from 'node:crypto';

const enc = new TextEncoder();

/** A ustar header block (names < 100 bytes). */
function header(name: string, o: { size?: number; type?: string; mode?: number; link?: string; uid?: number }): Uint8Array {
  const h = new Uint8Array(512);
  const put = (s: string, off: number) => h.set(enc.encode(s), off);
  const oct = (n: number, len: number) => n.toString(8).padStart(len - 1, '0') + '\0';
  put(name, 0);
  put(oct(o.mode ?? 0o644, 8), 100);
  put(oct(o.uid ?? 0, 8), 108);
  put(oct(o.uid ?? 0, 8), 116);
  put(oct(o.size ?? 0, 12), 124);
  put(oct(1700000000, 12), 136);
  put('        ', 148);
  put(o.type ?? '0', 156);
  if (o.link) put(o.link, 157);
  put('ustar\u000000', 257);
  const sum = h.reduce((a, b) => a + b, 0);
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

function tar(members: { name: string; data?: Uint8Array; type?: string; mode?: number; link?: string; uid?: number }[]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const m of members) {
    parts.push(header(m.name, { ...m, size: m.data?.length ?? 0 }));
    if (m.data) {
      parts.push(m.data);
      parts.push(new Uint8Array((512 - (m.data.length % 512)) % 512));
    }
  }
  parts.push(new Uint8Array(1024));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** The demo image as a `docker save` tar, tagged `eifkit-demo:1`. */
export function demoDockerArchive(): Uint8Array {
  const script = enc.encode('#!/bin/sh\necho "hello from an eifkit demo enclave: $GREETING"\n');
  const layer = tar([
    { name: 'app/', type: '5', mode: 0o755, uid: 1000 },
    { name: 'app/hello', data: script, mode: 0o755, uid: 1000 },
    { name: 'app/hello-again', type: '1', link: 'app/hello', mode: 0o755, uid: 1000 },
    { name: 'etc/', type: '5', mode: 0o755 },
    { name: 'etc/os-release', data: enc.encode('ID=eifkit-demo\n') },
    { name: 'hello', type: '2', link: 'app/hello', mode: 0o777 },
  ]);
  const diffId = `sha256:${sha256(layer)}`;
  const config = enc.encode(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: '2024-01-01T00:00:00Z',
      config: { Env: ['PATH=/bin', 'GREETING=hi'], Cmd: ['/app/hello'], WorkingDir: '/app' },
      rootfs: { type: 'layers', diff_ids: [diffId] },
    }),
  );
  const configName = `${sha256(config)}.json`;
  const layerDir = sha256(layer);
  const manifest = enc.encode(JSON.stringify([{ Config: configName, RepoTags: ['eifkit-demo:1'], Layers: [`${layerDir}/layer.tar`] }]));
  return tar([
    { name: configName, data: config },
    { name: `${layerDir}/`, type: '5', mode: 0o755 },
    { name: `${layerDir}/layer.tar`, data: layer },
    { name: 'manifest.json', data: manifest },
  ]);
}
