// tsc never deletes: a module moved or removed in src/ would stay in dist/, be packed, and keep working for a
// stale import. scripts/build.mjs calls this after tsc to remove every dist/ output whose src/ .ts is gone.
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Remove `X.js`, `X.d.ts` and their `.map`s under `dist` when `src/…/X.ts` does not exist; then empty folders. */
export function pruneStaleOutputs(dist, src) {
  if (!existsSync(dist)) return;
  for (const name of readdirSync(dist)) {
    const out = join(dist, name);
    if (statSync(out).isDirectory()) {
      pruneStaleOutputs(out, join(src, name));
      if (readdirSync(out).length === 0) rmSync(out, { recursive: true });
      continue;
    }
    const m = /^(.*)\.(?:js|d\.ts)(?:\.map)?$/.exec(name);
    if (m && !existsSync(join(src, `${m[1]}.ts`))) rmSync(out);
  }
}
