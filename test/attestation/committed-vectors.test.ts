/**
 * Our own committed attestation vectors (test-vectors/attestation/, see its README): documents made by the test
 * generator with a throw-away root, used by the benchmark and by tests when ../shared is absent. They must verify
 * at their recorded time with their root, and nowhere else.
 *
 * Regenerate with `node test-vectors/attestation/generate.mjs` (sets WRITE_ATTESTATION_VECTORS=1 for this file).
 * ECDSA signatures are randomized, so regenerated files differ byte for byte; the checks below still hold.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { inspectAttestation, verifyAttestation } from '../../src/attestation/index.js';
import { sha256Hex } from '../../src/attestation/chain.js';
import { toHex } from '../../src/util/hex.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { defaultPcrs, makeDocument, makePki } from './helpers/generator.js';

const DIR = join(REPO_ROOT, 'test-vectors', 'attestation');

interface VectorFile {
  time_ms: number;
  root: string;
  root_sha256: string;
  documents: { file: string; indefinite: boolean; tagged: boolean; pcrs: Record<string, string>; nonce: string | null }[];
}

async function writeVectors(): Promise<void> {
  const time = Date.UTC(2026, 8, 21, 12, 0, 0);
  const pki = await makePki(time);
  mkdirSync(DIR, { recursive: true });
  const pcrs = Object.fromEntries([...defaultPcrs()].map(([i, v]) => [String(i), toHex(v)]));
  const nonce = Uint8Array.of(0x0f, 0x1e, 0x2d, 0x3c);
  const docs: VectorFile['documents'] = [];
  for (const [file, indefinite, tag] of [
    ['valid-indefinite.cose', true, undefined],
    ['valid-definite-tagged.cose', false, 18],
  ] as const) {
    writeFileSync(join(DIR, file), await makeDocument(pki, time, { indefinite, tag, nonce }));
    docs.push({ file, indefinite, tagged: tag === 18, pcrs, nonce: toHex(nonce) });
  }
  writeFileSync(join(DIR, 'root.der'), pki.root.der);
  const meta: VectorFile = { time_ms: time, root: 'root.der', root_sha256: sha256Hex(pki.root.der), documents: docs };
  writeFileSync(join(DIR, 'vectors.json'), JSON.stringify(meta, null, 2) + '\n');
}

describe('committed attestation vectors', () => {
  it.runIf(process.env.WRITE_ATTESTATION_VECTORS === '1')('regenerate', writeVectors);

  it.runIf(existsSync(join(DIR, 'vectors.json')))('verify at their time with their root, and only there', async () => {
    const meta = JSON.parse(readFileSync(join(DIR, 'vectors.json'), 'utf8')) as VectorFile;
    const root = new Uint8Array(readFileSync(join(DIR, meta.root)));
    expect(sha256Hex(root)).toBe(meta.root_sha256);
    expect(meta.documents.length).toBeGreaterThan(0);
    for (const d of meta.documents) {
      const doc = new Uint8Array(readFileSync(join(DIR, d.file)));
      const ok = await verifyAttestation(doc, {
        at: meta.time_ms,
        roots: [root],
        expectedPcrs: { 0: d.pcrs['0']!, 1: d.pcrs['1']!, 2: d.pcrs['2']! },
        nonce: Uint8Array.from(d.nonce!.match(/../g)!, (h) => parseInt(h, 16)),
      });
      expect(ok.errors, d.file).toEqual([]);
      expect(ok.document!.indefiniteMap).toBe(d.indefinite);
      expect(ok.document!.tagged).toBe(d.tagged);
      expect((await inspectAttestation(doc, { at: meta.time_ms })).errors.map((e) => e.code)).toEqual(['ATT_ROOT_UNTRUSTED']);
      expect((await inspectAttestation(doc, { at: meta.time_ms + 86_400_000, roots: [root] })).errors.map((e) => e.code)).toEqual(['ATT_CERT_VALIDITY']);
    }
  });
});
