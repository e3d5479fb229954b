/**
 * `eif ramdisk ls FILE` and `eif ramdisk diff A B`: look inside newc ramdisks (nitro-cli's `bootstrap-initrd.img`,
 * `customer-initrd.img`, or what `eif build --emit-ramdisks` writes) to find why two builds of an image differ
 * (shared oci-build.md §1.3, §7). Both stream the files (src/eif/cpio-reader.ts): constant memory at any size.
 * `diff` exits 0 when the ramdisks are equal, 1 when they differ (as diff(1) does), 2 on usage errors.
 */
import type { Argv, CommandModule } from 'yargs';
import { closeSync } from 'node:fs';
import { usageError } from '../../errors.js';
import { displayName } from '../../oci/types.js';

interface LsArgs {
  file: string;
  json: boolean;
}

interface DiffArgs {
  a: string;
  b: string;
  json: boolean;
  max: number;
}

const iso = (t: number): string => {
  const d = new Date(t * 1000);
  return Number.isNaN(d.getTime()) ? String(t) : d.toISOString().replace('.000Z', 'Z');
};

/** Buffered stdout: one write per batch of lines. */
function lineWriter(): { line(s: string): void; flush(): void } {
  let buf: string[] = [];
  return {
    line(s) {
      buf.push(s);
      if (buf.length >= 512) this.flush();
    },
    flush() {
      if (buf.length) process.stdout.write(buf.join('\n') + '\n');
      buf = [];
    },
  };
}

async function openRamdisk(path: string) {
  const { openInput, fileSource } = await import('../../node/file-source.js');
  const f = openInput(path, 'ramdisk');
  return { source: fileSource(f.fd, f.size), close: () => closeSync(f.fd) };
}

async function ls(a: LsArgs): Promise<void> {
  const { readCpioEntries, modeString } = await import('../../eif/cpio-reader.js');
  const r = await openRamdisk(a.file);
  const out = lineWriter();
  try {
    const it = readCpioEntries(r.source, a.file);
    if (a.json) out.line('[');
    let first = true;
    for (let n = await it.next(); ; n = await it.next()) {
      if (n.done) {
        if (a.json) out.line(']');
        else out.line(`# ${n.value.entries} entries, ${n.value.size} bytes (${n.value.paddingBytes} bytes of padding after the trailer${n.value.paddingZero ? '' : ', NOT all zero'})`);
        break;
      }
      const e = n.value;
      if (a.json) {
        const o = {
          name: displayName(e.name), type: e.type, mode: `0${e.mode.toString(8)}`, uid: e.uid, gid: e.gid, mtime: e.mtime, size: e.size,
          ...(e.linkTarget !== undefined ? { linkTarget: displayName(e.linkTarget) } : {}),
          ...(e.sha256 !== undefined && e.type !== 'symlink' ? { sha256: e.sha256 } : {}),
          ino: e.ino, nlink: e.nlink, dev: `${e.devmajor},${e.devminor}`, rdev: `${e.rdevmajor},${e.rdevminor}`,
        };
        out.line((first ? '  ' : ', ') + JSON.stringify(o));
        first = false;
      } else {
        const size = e.type === 'char' || e.type === 'block' ? `${e.rdevmajor},${e.rdevminor}` : String(e.size);
        const digest = e.type === 'file' ? e.sha256! : '-'.padEnd(64);
        const link = e.linkTarget !== undefined ? ` -> ${displayName(e.linkTarget)}` : '';
        out.line(`${modeString(e.mode)} ${`${e.uid}/${e.gid}`.padStart(11)} ${iso(e.mtime)} ${size.padStart(10)} ${digest} ${displayName(e.name)}${link}`);
      }
    }
  } finally {
    out.flush();
    r.close();
  }
}

async function diff(a: DiffArgs): Promise<void> {
  if (!Number.isInteger(a.max) || a.max < 1) throw usageError('--max takes a whole number ≥ 1');
  const { diffCpio } = await import('../../eif/cpio-reader.js');
  const ra = await openRamdisk(a.a);
  try {
    const rb = await openRamdisk(a.b);
    try {
      const d = await diffCpio(ra.source, rb.source, { limit: a.max, labels: [a.a, a.b] });
      if (a.json) {
        process.stdout.write(JSON.stringify({ same: d.same, entries: { a: d.entries[0], b: d.entries[1] }, total: d.total, differences: d.differences.map((x) => ({ ...x, name: displayName(x.name), a: displayName(x.a), b: displayName(x.b) })) }, null, 2) + '\n');
      } else if (d.same) {
        process.stdout.write(`same: ${d.entries[0]} entries, equal in every header field, data and padding\n`);
      } else {
        const out = lineWriter();
        out.line(`--- ${a.a} (${d.entries[0]} entries)`);
        out.line(`+++ ${a.b} (${d.entries[1]} entries)`);
        for (const x of d.differences) {
          const where = x.index < 0 ? displayName(x.name) : `entry ${x.index} ${displayName(x.name)}`;
          out.line(`${where}: ${x.field}`);
          out.line(`  - ${displayName(x.a)}`);
          out.line(`  + ${displayName(x.b)}`);
        }
        if (d.total > d.differences.length) out.line(`… ${d.total - d.differences.length} more differences (--max N to see more)`);
        out.flush();
      }
      process.exitCode = d.same ? 0 : 1;
    } finally {
      rb.close();
    }
  } finally {
    ra.close();
  }
}

export const ramdiskCommand: CommandModule<object, object> = {
  command: 'ramdisk <command>',
  describe: 'Look inside newc ramdisks: ls lists the entries, diff shows the first differences (exit 1)',
  builder: (y: Argv) =>
    y
      .command<LsArgs>({
        command: 'ls <file>',
        describe: 'List a ramdisk: type and mode, uid/gid, mtime, size, SHA-256, name, link target',
        builder: (yy: Argv) =>
          yy
            .positional('file', { type: 'string', describe: 'ramdisk file (newc cpio)' })
            .option('json', { type: 'boolean', default: false, describe: 'a JSON array with every header field' }) as unknown as Argv<LsArgs>,
        handler: ls,
      })
      .command<DiffArgs>({
        command: 'diff <a> <b>',
        describe: 'Compare two ramdisks entry by entry; exit 1 when they differ',
        builder: (yy: Argv) =>
          yy
            .positional('a', { type: 'string', describe: 'first ramdisk (e.g. eifkit --emit-ramdisks output)' })
            .positional('b', { type: 'string', describe: 'second ramdisk (e.g. nitro-cli\'s artifact)' })
            .option('json', { type: 'boolean', default: false, describe: 'differences as JSON' })
            .option('max', { type: 'number', default: 20, describe: 'differences to show' }) as unknown as Argv<DiffArgs>,
        handler: diff,
      })
      .demandCommand(1, 'Name a ramdisk command: ls or diff.') as unknown as Argv<object>,
  handler: () => undefined,
};
