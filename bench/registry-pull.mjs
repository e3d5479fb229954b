#!/usr/bin/env node
// Child of bench/registry.mjs: one `pullImage` as a whole process (start included), like one `skopeo copy`.
//   node bench/registry-pull.mjs REF CACHE_DIR
const [ref, cache] = process.argv.slice(2);
const { pullImage } = await import(new URL('../dist/node/registry/pull.js', import.meta.url).href);
const img = await pullImage(ref, { cacheDir: cache });
img.close();
process.stdout.write(JSON.stringify({ downloaded: img.downloaded, manifest: img.manifestDigest }) + '\n');
