/**
 * Helpers for the packaging tests: the file list `npm pack` would publish, a package tree laid out as npm installs
 * it (without a dependency the test wants hidden), and the ELF machine of a compiled helper.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, openSync, readSync, closeSync, readdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../helpers/shared.js';

export const HAVE_NPM = spawnSync('npm', ['--version'], { encoding: 'utf8' }).status === 0;
export const HAVE_DIST = existsSync(join(REPO_ROOT, 'dist', 'cli', 'main.js'));

/** The files `npm pack` would put in the tarball (no lifecycle scripts, no network). */
export function packedFiles(): string[] {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`npm pack --dry-run failed: ${r.stderr}`);
  const [info] = JSON.parse(r.stdout) as { files: { path: string }[] }[];
  return info!.files.map((f) => f.path).sort();
}

/**
 * Copy the packed files of the repository into `dir` (the layout npm installs) and link each runtime dependency
 * from the repository's node_modules, except those named in `hide` (e.g. the optional AWS SDK).
 */
export function packageTree(dir: string, files: string[], hide: string[] = []): string {
  const pkg = join(dir, 'node_modules', 'eifkit');
  for (const f of files) {
    mkdirSync(join(pkg, f, '..'), { recursive: true });
    cpSync(join(REPO_ROOT, f), join(pkg, f));
  }
  // Dependencies sit beside the package, as after `npm install eifkit` (node_modules/eifkit, node_modules/yargs …).
  const modules = join(REPO_ROOT, 'node_modules');
  for (const name of readdirSync(modules)) {
    if (name.startsWith('.') || name === 'eifkit') continue;
    const scoped = name.startsWith('@') ? readdirSync(join(modules, name)).map((n) => `${name}/${n}`) : [name];
    for (const full of scoped) {
      if (hide.some((h) => full === h || full.startsWith(`${h}/`))) continue;
      mkdirSync(join(dir, 'node_modules', full, '..'), { recursive: true });
      symlinkSync(join(modules, full), join(dir, 'node_modules', full));
    }
  }
  return pkg;
}

/** ELF e_machine of a binary: 62 x86_64, 183 aarch64 (undefined when it is not an ELF file). */
export function elfMachine(path: string): number | undefined {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(20);
    readSync(fd, b, 0, 20, 0);
    return b.subarray(0, 4).equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])) ? b.readUInt16LE(18) : undefined;
  } finally {
    closeSync(fd);
  }
}

export const ELF_MACHINE: Record<string, number> = { x64: 62, arm64: 183 };
