#!/usr/bin/env node
// Child process of the attestation suite (bench/attestation.mjs), not a suite itself: verifies one genuine document
// over and over (a service checking its enclave's documents: warm caches) through `verifyAttestations` (one JS
// thread; the ECDSA checks on WebCrypto's threads) or a `createAttestationVerifierPool({ threads })`, for about
// --seconds, and prints {"docsPerSecond": …} on stdout. The parent pins it to one or two CPUs with taskset, so
// "one core" and "two cores" are the cores the process may use, not a thread count it chooses.
//   node bench/attestation-throughput.mjs --mode batch|pool [--threads N] [--seconds S] --doc FILE --options JSON [--root DER]
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
};
const mode = arg('mode', 'batch');
const threads = Number(arg('threads', '1'));
const seconds = Number(arg('seconds', '1.5'));
const doc = new Uint8Array(readFileSync(arg('doc')));
const options = JSON.parse(arg('options'));
if (arg('concurrency')) options.concurrency = Number(arg('concurrency'));
if (arg('root')) options.roots = [new Uint8Array(readFileSync(arg('root')))];
const { verifyAttestations, createAttestationVerifierPool } = await import(join(root, 'dist', 'index.js'));

const BATCH = 128;
const docs = Array.from({ length: BATCH }, () => doc);
let verify;
let close = async () => {};
if (mode === 'pool') {
  const pool = createAttestationVerifierPool({ ...options, threads });
  verify = (d) => pool.verifyMany(d);
  close = () => pool.close();
} else {
  verify = (d) => verifyAttestations(d, options);
}
const check = (rs) => {
  for (const r of rs) if (!r.ok) throw new Error(`verification failed: ${JSON.stringify(r.errors)}`);
};
// warm-up: caches filled, code optimised, threads started
const w0 = performance.now();
while (performance.now() - w0 < 400) check(await verify(docs));
let n = 0;
const c0 = process.cpuUsage();
const t0 = performance.now();
while (performance.now() - t0 < seconds * 1000) {
  check(await verify(docs));
  n += BATCH;
}
const dt = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(c0); // all threads of the process
await close();
process.stdout.write(JSON.stringify({ docsPerSecond: n / dt, cpuMsPerDoc: (cpu.user + cpu.system) / 1000 / n }) + '\n');
