/**
 * The shared reference vectors (../shared/test-vectors/attestation, attestation.md §5 and §7): every genuine
 * document verifies at its own timestamp and fails now (expired chain); the invalid samples fail; the synthetic
 * valid controls pass and each hostile case fails for its intended reason, with synthetic/root.der as the anchor.
 */
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { describeShared, readShared, sharedPath } from '../helpers/shared.js';
import { inspectAttestation, verifyAttestation } from '../../src/attestation/index.js';
import { AWS_NITRO_ROOT_PEM, AWS_NITRO_ROOT_SHA256 } from '../../src/attestation/aws-root.js';
import { toHex } from '../../src/util/hex.js';
import { REASON_CODES } from './helpers/reason-codes.js';

interface IndexEntry {
  file: string;
  timestamp_ms?: number | null;
  expect: 'accept' | 'reject';
  pcr0?: string;
  pcr1?: string;
  pcr2?: string;
  debug_mode?: boolean;
  pcr_count?: number;
}
interface SyntheticCase {
  id: string;
  file: string;
  expect: 'accept' | 'reject';
  reason: string;
}


describeShared('attestation: shared reference vectors', () => {
  const index = JSON.parse(readFileSync(sharedPath('attestation', 'INDEX.json'), 'utf8')) as IndexEntry[];

  it('the embedded AWS root is the shared root file, with the pinned fingerprint', async () => {
    const pem = readFileSync(sharedPath('attestation', 'aws-nitro-root-g1.pem'), 'utf8');
    expect(AWS_NITRO_ROOT_PEM.trim()).toBe(pem.trim());
    const der = Uint8Array.from(atob(pem.replace(/-----[^-]+-----|\s/g, '')), (c) => c.charCodeAt(0));
    expect(toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', der)))).toBe(AWS_NITRO_ROOT_SHA256);
  });

  for (const e of index.filter((x) => x.expect === 'accept')) {
    it(`accepts ${e.file} at its timestamp and rejects it now`, async () => {
      const doc = readShared('attestation', e.file);
      const at = e.timestamp_ms!;
      const r = await inspectAttestation(doc, { at });
      expect(r.errors).toEqual([]);
      expect(r.ok).toBe(true);
      expect(r.document!.timestamp).toBe(at);
      expect(toHex(r.document!.pcrs[0]!)).toBe(e.pcr0);
      expect(Object.keys(r.document!.pcrs)).toHaveLength(e.pcr_count!);
      expect(r.document!.debug).toBe(e.debug_mode);
      expect(r.document!.chain.map((c) => c.role)).toEqual(['root', 'intermediate', 'intermediate', 'intermediate', 'leaf']);

      // with a policy: its own PCRs pass (debug documents need allowDebug)
      const pol = await verifyAttestation(doc, {
        at,
        expectedPcrs: { 0: e.pcr0!, 1: e.pcr1!.toUpperCase(), 2: e.pcr2! },
        allowDebug: e.debug_mode,
      });
      expect(pol.errors).toEqual([]);

      const now = await inspectAttestation(doc);
      expect(now.ok).toBe(false);
      expect(now.errors.map((x) => x.code)).toContain('ATT_CERT_VALIDITY');
    });
  }

  for (const e of index.filter((x) => x.expect === 'reject')) {
    it(`rejects ${e.file}`, async () => {
      const doc = readShared('attestation', e.file);
      const r = await inspectAttestation(doc, { at: e.timestamp_ms ?? Date.UTC(2024, 6, 1) });
      expect(r.ok).toBe(false);
      expect(r.errors.length).toBeGreaterThan(0);
    });
  }

  it('rejects eternis-invalid.cose for its bad signature only', async () => {
    const e = index.find((x) => x.file.endsWith('eternis-invalid.cose'))!;
    const r = await inspectAttestation(readShared('attestation', e.file), { at: e.timestamp_ms! });
    expect(r.errors.map((x) => x.code)).toEqual(['ATT_SIGNATURE_INVALID']);
  });

  it('rejects base-corrupt-as-committed.cose as malformed CBOR (its payload length overruns into the signature)', async () => {
    const r = await inspectAttestation(readShared('attestation', 'invalid', 'base-corrupt-as-committed.cose'));
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]!.code).toMatch(/^ATT_CBOR_/);
    expect(r.document).toBeNull();
  });

  const cases = JSON.parse(readFileSync(sharedPath('attestation', 'synthetic', 'cases.json'), 'utf8')) as {
    document_time_ms: number;
    cases: SyntheticCase[];
  };
  const root = readShared('attestation', 'synthetic', 'root.der');

  for (const c of cases.cases) {
    it(`synthetic ${c.id}: ${c.expect}${c.expect === 'reject' ? ` (${c.reason})` : ''}`, async () => {
      const doc = readShared('attestation', 'synthetic', c.file);
      const r = await inspectAttestation(doc, { at: cases.document_time_ms, roots: [root] });
      if (c.expect === 'accept') {
        expect(r.errors).toEqual([]);
        expect(r.ok).toBe(true);
      } else {
        expect(r.ok).toBe(false);
        const code = REASON_CODES[c.reason];
        expect(code, `no code mapped for reason "${c.reason}"`).toBeDefined();
        expect(r.errors[0]!.code).toBe(code);
      }
    });
  }

  it('synthetic documents are rejected against the AWS root', async () => {
    const r = await inspectAttestation(readShared('attestation', 'synthetic', 'valid-definite-map.cose'), { at: cases.document_time_ms });
    expect(r.errors.map((x) => x.code)).toEqual(['ATT_ROOT_UNTRUSTED']);
  });
});
