/**
 * Compare eifkit's emulated `docker export` (src/oci/docker-export.ts) with the real stream of a private daemon
 * (issue 11 "Exactness": name, order, type, mode, uid/gid, mtime, link target, contents). Differences come back as
 * precise lines — image, entry, field, daemon value, eifkit value — so a failing test says what to fix.
 */
import { createHash } from 'node:crypto';
import type { ExportEntry, LayerIndex } from '../../src/oci/types.js';
import { displayName } from '../../src/oci/types.js';
import type { PrivateDocker } from './docker.js';
import { listTar, type ListedEntry } from './tar-list.js';

/** `docker create` as linuxkit does it (command /dev/null, no network) and `docker export` of it, parsed. */
export async function daemonExport(docker: PrivateDocker, tag: string): Promise<{ entries: ListedEntry[]; createdAt: number; id: string }> {
  const id = (await docker.okAsync(['create', '--network', 'none', tag, '/dev/null'])).toString().trim();
  try {
    const entries = await listTar(new Uint8Array(await docker.okAsync(['export', id])));
    // The init layer's files carry the creation time (moby initlayer); .dockerenv is always one of them.
    const env = entries.find((e) => e.name === '.dockerenv');
    if (!env) throw new Error(`docker export of ${tag} has no .dockerenv`);
    return { entries, createdAt: env.mtime, id };
  } finally {
    await docker.runAsync(['rm', '-f', id]);
  }
}

async function sha256Of(e: ExportEntry, layers: readonly LayerIndex[]): Promise<string> {
  if (e.type !== 'file' || e.size === 0 || !e.data) return '';
  const h = createHash('sha256');
  if ('bytes' in e.data) h.update(e.data.bytes);
  else {
    const src = layers[e.data.layer]!.source;
    for (let off = 0; off < e.size; off += 4 << 20) {
      const n = Math.min(4 << 20, e.size - off);
      h.update(await src.read(e.data.offset + off, n));
    }
  }
  return h.digest('hex');
}

/** eifkit's entries in the listed shape (data hashed from the layers). */
export async function listExport(entries: readonly ExportEntry[], layers: readonly LayerIndex[]): Promise<ListedEntry[]> {
  const out: ListedEntry[] = [];
  for (const e of entries) {
    out.push({
      name: e.name,
      type: e.type,
      mode: e.mode,
      uid: e.uid,
      gid: e.gid,
      mtime: e.mtime,
      size: e.size,
      linkname: e.linkname,
      devmajor: e.devmajor,
      devminor: e.devminor,
      sha256: await sha256Of(e, layers),
      pax: {},
    });
  }
  return out;
}

export interface CompareOptions {
  /** The creation time eifkit was given (the daemon's .dockerenv mtime). */
  createdAt: number;
  /** Entries whose mtime the daemon sets at load or create time: compared on everything but mtime. */
  daemonTime?: (name: string) => boolean;
}

const FIELDS = ['type', 'mode', 'uid', 'gid', 'mtime', 'size', 'linkname', 'devmajor', 'devminor', 'sha256'] as const;

const show = (v: unknown, f: string) => (f === 'mode' && typeof v === 'number' ? `0${v.toString(8)}` : JSON.stringify(typeof v === 'string' && f === 'linkname' ? displayName(v) : v));

/**
 * Every difference between the daemon's stream and eifkit's, as `entry: field: daemon X, eifkit Y` lines (order
 * first, then fields of the entries both have). Devices: go-archive writes devmajor/minor only for char/block.
 */
export function compareExports(daemon: readonly ListedEntry[], ours: readonly ListedEntry[], o: CompareOptions): string[] {
  const diffs: string[] = [];
  const dn = daemon.map((e) => e.name);
  const on = ours.map((e) => e.name);
  const ds = new Set(dn);
  const os = new Set(on);
  for (const n of dn) if (!os.has(n)) diffs.push(`${displayName(n)}: missing in eifkit's export`);
  for (const n of on) if (!ds.has(n)) diffs.push(`${displayName(n)}: eifkit has it, the daemon's export does not`);
  const dCommon = dn.filter((n) => os.has(n));
  const oCommon = on.filter((n) => ds.has(n));
  const firstOff = dCommon.findIndex((n, i) => oCommon[i] !== n);
  if (firstOff >= 0) diffs.push(`order: entry #${firstOff} is ${displayName(dCommon[firstOff]!)} in the daemon's export, ${displayName(oCommon[firstOff]!)} in eifkit's`);
  const byName = new Map(ours.map((e) => [e.name, e]));
  for (const d of daemon) {
    const e = byName.get(d.name);
    if (!e) continue;
    for (const f of FIELDS) {
      let dv: unknown = d[f];
      let ev: unknown = e[f];
      if ((f === 'devmajor' || f === 'devminor') && d.type !== 'char' && d.type !== 'block') continue;
      if (f === 'mtime') {
        if (o.daemonTime?.(d.name)) continue;
        // init-layer entries are made within one create call: allow the next second if the call straddled one
        if (ev === o.createdAt && dv === o.createdAt + 1) continue;
      }
      if (dv !== ev) diffs.push(`${displayName(d.name)}: ${f}: daemon ${show(dv, f)}, eifkit ${show(ev, f)}`);
    }
  }
  return diffs;
}
