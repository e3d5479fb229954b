#!/usr/bin/env node
// Runs the eif CLI in this process and reports its peak RSS (worker threads included) as a last stderr line
// `{"maxRssKiB": N}`. Used by bench/eif.mjs to measure memory without external tools.
import { main } from '../dist/cli/main.js';

const code = await main(process.argv.slice(2));
process.stderr.write(`\n${JSON.stringify({ maxRssKiB: process.resourceUsage().maxRSS })}\n`);
process.exitCode = code;
