/**
 * inspectAttestation's `at: 'document'` (src/attestation/verify.ts): verification at the document's own timestamp
 * from the one decoding the check does — the web page's verdict "authentic when it was issued" without decoding
 * the document first. A policy (verifyAttestation) refuses it: its freshness needs a time other than the document's.
 */
import { describe, expect, it } from 'vitest';
import { inspectAttestation, verifyAttestation } from '../../src/attestation/index.js';
import { makeDocument, makePki } from './helpers/generator.js';

const T = Date.UTC(2025, 2, 3, 4, 5, 6);

describe("inspectAttestation at: 'document'", () => {
  it('verifies at the timestamp inside the document: the same result as at: <that time>', async () => {
    const pki = await makePki(T);
    const doc = await makeDocument(pki, T);
    const then = await inspectAttestation(doc, { at: 'document', roots: [pki.root.der] });
    expect(then.ok, JSON.stringify(then.errors)).toBe(true);
    expect(then.document?.timestamp).toBe(T);
    const explicit = await inspectAttestation(doc, { at: T, roots: [pki.root.der] });
    expect(then).toEqual(explicit);
    // now (years later) the 3-hour leaf has expired: the document's own time is what made it authentic
    const now = await inspectAttestation(doc, { roots: [pki.root.der] });
    expect(now.ok).toBe(false);
    expect(now.errors.map((e) => e.code)).toContain('ATT_CERT_VALIDITY');
  });

  it('a document that does not decode is reported with its code (no time needed, nothing thrown)', async () => {
    const pki = await makePki(T);
    const doc = await makeDocument(pki, T);
    const r = await inspectAttestation(doc.subarray(0, 200), { at: 'document', roots: [pki.root.der] });
    expect(r.ok).toBe(false);
    expect(r.document).toBeNull();
    expect(r.errors[0]!.code).toBe('ATT_CBOR_TRUNCATED');
  });

  it('is refused by verifyAttestation (a policy needs another time)', async () => {
    const pki = await makePki(T);
    const doc = await makeDocument(pki, T);
    const r = await verifyAttestation(doc, { at: 'document', roots: [pki.root.der], maxAgeMs: 1000 });
    expect(r.ok).toBe(false);
    expect(r.errors.map((e) => e.code)).toEqual(['ATT_OPTIONS_INVALID']);
  });
});
