/**
 * Hand-made tars and `docker save` archives for hostile-input tests (issue 11 "Bad input"). Written byte by byte so
 * a test can break exactly one rule (a header checksum, a size field, a PAX record, a digest) — a tar library would
 * refuse to write most of these. Legacy `docker save` layout (what Docker 20.10 writes and loads): `manifest.json`,
 * `<config sha256>.json`, `<layer sha256>/layer.tar`.
 */
import { createHash } from 'node:crypto';

export type TarType = '0' | '1' | '2' | '3' | '4' | '5' | '6' | 'x' | 'g' | 'L' | 'K' | string;

export interface CraftEntry {
  /** Name as bytes or a string (UTF-8). Over 100 bytes needs `pax: { path }` (set automatically) or a GNU 'L'. */
  name: string | Uint8Array;
  type?: TarType;
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds; negative or ≥ 8^11 goes to a PAX record automatically. */
  mtime?: number;
  data?: Uint8Array | string;
  /** The size field as written (defaults to the data length): a lie makes "declared size vs data" cases. */
  declaredSize?: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** Extra PAX records for this entry (written as a type 'x' member before it). */
  pax?: Record<string, string>;
  /** Write a wrong header checksum. */
  badChecksum?: boolean;
  /** Data bytes actually written (defaults to `data`); shorter than the size makes a truncated member. */
  writtenData?: Uint8Array;
  /** Skip the padding after the data (to cut an archive mid-block). */
  noPadding?: boolean;
}

const enc = new TextEncoder();
export const bytes = (s: string | Uint8Array): Uint8Array => (typeof s === 'string' ? enc.encode(s) : s);

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

/** One 512-byte ustar header. */
function header(e: CraftEntry, nameBytes: Uint8Array, size: number, type: string): Uint8Array {
  const h = new Uint8Array(512);
  const put = (off: number, len: number, v: Uint8Array | string) => {
    const b = bytes(v);
    h.set(b.subarray(0, len), off);
  };
  put(0, 100, nameBytes.length <= 100 ? nameBytes : nameBytes.subarray(0, 100));
  put(100, 8, octal(e.mode ?? (type === '5' ? 0o755 : 0o644), 8));
  put(108, 8, octal(e.uid ?? 0, 8));
  put(116, 8, octal(e.gid ?? 0, 8));
  if (size >= 8 ** 11) {
    // base-256 (GNU): high bit set, big-endian in the remaining 11 bytes
    h[124] = 0x80;
    let v = BigInt(size);
    for (let i = 135; i > 124; i--) {
      h[i] = Number(v & 0xffn);
      v >>= 8n;
    }
  } else put(124, 12, octal(size, 12));
  const mt = e.mtime ?? 1_700_000_000;
  put(136, 12, octal(mt >= 0 && mt < 8 ** 11 ? mt : 0, 12));
  put(148, 8, '        ');
  put(156, 1, type);
  put(157, 100, e.linkname ?? '');
  put(257, 6, 'ustar\0');
  put(263, 2, '00');
  put(265, 32, 'root');
  put(297, 32, 'root');
  put(329, 8, octal(e.devmajor ?? 0, 8));
  put(337, 8, octal(e.devminor ?? 0, 8));
  let sum = 0;
  for (const b of h) sum += b;
  if (e.badChecksum) sum += 1;
  put(148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

function paxBody(records: Record<string, string>): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [k, v] of Object.entries(records)) {
    const body = ` ${k}=${v}\n`;
    const bodyLen = bytes(body).length;
    let len = bodyLen + 1;
    while (String(len).length + bodyLen !== len) len = String(len).length + bodyLen;
    parts.push(bytes(`${len}${body}`));
  }
  return concat(parts);
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const pad = (n: number) => new Uint8Array((512 - (n % 512)) % 512);

/** A tar of the given members, ended by two zero blocks unless `end: false`. */
export function tarOf(entries: CraftEntry[], opts: { end?: boolean } = {}): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    const type = e.type ?? '0';
    const nameBytes = bytes(e.name);
    const data = bytes(e.data ?? '');
    const size = e.declaredSize ?? (type === '0' || type === 'x' || type === 'g' || type === 'L' ? data.length : 0);
    const pax: Record<string, string> = { ...e.pax };
    if (nameBytes.length > 100 && pax.path === undefined) pax.path = new TextDecoder().decode(nameBytes);
    const mt = e.mtime ?? 1_700_000_000;
    if ((mt < 0 || mt >= 8 ** 11) && pax.mtime === undefined) pax.mtime = String(mt);
    if (Object.keys(pax).length) {
      const body = paxBody(pax);
      parts.push(header({ name: 'PaxHeaders/x', mode: 0o644 }, bytes('PaxHeaders/x'), body.length, 'x'), body, pad(body.length));
    }
    parts.push(header(e, nameBytes, size, type));
    const written = e.writtenData ?? data;
    parts.push(written);
    if (!e.noPadding) parts.push(pad(written.length));
  }
  if (opts.end !== false) parts.push(new Uint8Array(1024));
  return concat(parts);
}

export const sha256hex = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

export interface ArchiveOpts {
  /** Uncompressed layer tars, bottom first (or already compressed bytes: Docker's loader sniffs). */
  layers: Uint8Array[];
  /** Fields merged into the image config (architecture, config.Cmd …). */
  config?: Record<string, unknown>;
  /** diff_ids as written (default: the sha256 of each layer as stored). */
  diffIds?: string[];
  tag?: string;
  /** Leave out of the archive: the config file, or the layer at this index. */
  omitConfig?: boolean;
  omitLayer?: number;
  /** Replace the raw manifest.json. */
  manifestJson?: string;
}

/** A legacy `docker save` archive (manifest.json + config + `<id>/layer.tar`), as Docker 20.10 loads it. */
export function dockerArchive(o: ArchiveOpts): Uint8Array {
  const diffIds = o.diffIds ?? o.layers.map((l) => `sha256:${sha256hex(l)}`);
  const cfg = {
    architecture: 'amd64',
    os: 'linux',
    created: '2026-01-01T00:00:00Z',
    config: { Cmd: ['/bin/sh'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'] },
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: o.layers.map(() => ({ created: '2026-01-01T00:00:00Z', created_by: 'eifkit test' })),
    ...o.config,
  };
  const cfgBytes = bytes(JSON.stringify(cfg));
  const cfgName = `${sha256hex(cfgBytes)}.json`;
  const layerNames = o.layers.map((l, i) => `${sha256hex(concat([l, bytes(String(i))]))}/layer.tar`);
  const manifest = o.manifestJson ?? JSON.stringify([{ Config: cfgName, RepoTags: [o.tag ?? 'hostile:latest'], Layers: layerNames }]);
  const members: CraftEntry[] = [];
  if (!o.omitConfig) members.push({ name: cfgName, data: cfgBytes, mtime: 0 });
  o.layers.forEach((l, i) => {
    if (i === o.omitLayer) return;
    members.push({ name: layerNames[i]!.split('/')[0]!, type: '5', mtime: 0 });
    members.push({ name: layerNames[i]!, data: l, mtime: 0 });
  });
  members.push({ name: 'manifest.json', data: manifest, mtime: 0 });
  return tarOf(members);
}
