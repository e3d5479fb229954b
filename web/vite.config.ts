/**
 * The page's build (issue 13): `npm run build:web` → dist-web/, a static folder with relative URLs (hostable under
 * any path: GitHub Pages, `eif web`, a file server). The page imports `eifkit/browser` as any app does; here the
 * name points at the sources, so the page always matches the library it ships with.
 */
import { defineConfig } from 'vite';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const pkg = JSON.parse(readFileSync(join(here, '..', 'package.json'), 'utf8')) as { version: string };

export default defineConfig({
  root: here,
  base: './',
  define: { __EIFKIT_VERSION__: JSON.stringify(pkg.version) },
  logLevel: 'warn',
  resolve: { alias: { 'eifkit/browser': join(here, '..', 'src', 'browser.ts') } },
  build: {
    outDir: join(here, '..', 'dist-web'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    reportCompressedSize: false,
    modulePreload: { polyfill: false },
  },
  worker: { format: 'es' },
});
