#!/usr/bin/env node
// The `eif` command: a thin shim over the compiled CLI (src/cli/main.ts).
import { main } from '../dist/cli/main.js';

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
