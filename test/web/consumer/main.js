// A small app as users write it (README, "Using eifkit/browser in an app"): the package by name, a bundler, a page.
import { initCore, buildEifBytes, inspectEifBytes, measureEifBytes, verifyAttestation, sha384 } from 'eifkit/browser';

const out = document.getElementById('out');
const hex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
try {
  await initCore(); // compile the WASM core off the main thread's synchronous path
  const bytes = (n, seed) => Uint8Array.from({ length: n }, (_, i) => (i * 131 + seed) & 255);
  const built = await buildEifBytes({ kernel: bytes(5000, 1), cmdline: 'console=ttyS0', ramdisks: [bytes(700, 2), bytes(3 << 20, 3)], buildTime: '2024-01-01T00:00:00+00:00' });
  const file = new File([built.eif], 'app.eif'); // what an <input type=file> gives
  const measured = await measureEifBytes(file);
  const inspected = await inspectEifBytes(file);
  const r = await verifyAttestation(new Uint8Array([0x84, 0x40]), { eif: measured });
  out.textContent = JSON.stringify({ built: built.measurements, measured, crc: inspected.checkCrc, sha: hex(sha384(built.eif)), attestation: r.errors.map((e) => e.code) });
} catch (e) {
  out.textContent = JSON.stringify({ error: String(e?.stack ?? e) });
}
