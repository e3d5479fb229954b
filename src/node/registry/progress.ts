/**
 * Per-layer download progress on a terminal (issue 12: "Progress per layer on a TTY; `--quiet` silent"): one line per
 * blob, redrawn in place at most every 100 ms; nothing at all when the stream is not a TTY or `quiet` is set.
 */
import type { PullProgress } from './pull.js';

export interface ProgressStream {
  isTTY?: boolean;
  write(s: string): unknown;
}

const mib = (n: number) => (n / 2 ** 20).toFixed(1);

/**
 * A `PullOptions.onProgress` that draws one line per layer on `out` (stderr), and `finish()` to draw the last state.
 * Undefined when `quiet` or `out` is not a terminal.
 *
 * @example
 * import { pullImage, layerProgress } from 'eifkit';
 * const progress = layerProgress(process.stderr, false);
 * const img = await pullImage('app:latest', { onProgress: progress?.update });
 * progress?.finish();
 */
export function layerProgress(out: ProgressStream, quiet: boolean): { update: (p: PullProgress) => void; finish: () => void } | undefined {
  if (quiet || !out.isTTY) return undefined;
  const rows = new Map<string, PullProgress>();
  let drawn = 0;
  let last = 0;
  const draw = () => {
    let s = drawn > 0 ? `\x1b[${drawn}A` : '';
    for (const p of rows.values()) {
      const state = p.cached ? 'cached' : p.done >= p.total ? 'done' : `${mib(p.done)}/${mib(p.total)} MiB`;
      s += `\r\x1b[2K${p.digest.slice(7, 19)}: ${state}\n`;
    }
    drawn = rows.size;
    out.write(s);
  };
  return {
    update(p) {
      const had = rows.has(p.digest);
      rows.set(p.digest, p);
      const now = Date.now();
      if (!had || p.done >= p.total || now - last >= 100) {
        last = now;
        draw();
      }
    },
    finish() {
      if (rows.size > 0) draw();
    },
  };
}
