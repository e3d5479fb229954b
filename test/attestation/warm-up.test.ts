/**
 * warmUpAttestation (src/attestation/warm-up.ts): it runs the whole verification path — real P-384 key imports
 * and verifications through WebCrypto — on a complete document under a throw-away root (every success path;
 * `rounds` times) and on a stand-in document that is always rejected, and leaves no verified certificate behind,
 * so the next real document is still checked in full.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { certificateCacheSize, clearCertificateCache } from '../../src/attestation/chain.js';
import { derMemoSize } from '../../src/attestation/der-memo.js';
import { AWS_NITRO_ROOT_SHA256, inspectAttestation, warmUpAttestation } from '../../src/attestation/index.js';
import { leafCacheSize } from '../../src/attestation/leaf-cache.js';
import * as browser from '../../src/browser.js';
import { makeDocument, makePki } from './helpers/generator.js';
import { WARM_UP_DOCUMENT_BASE64, WARM_UP_ROOT_BASE64, WARM_UP_TIME } from '../../src/attestation/warm-up-document.generated.js';

const b64 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'base64'));

const T = Date.UTC(2026, 8, 21, 12, 0, 0);

beforeEach(() => clearCertificateCache(true));
afterEach(() => vi.restoreAllMocks());

describe('warmUpAttestation', () => {
  it('is exported from the browser entry', () => {
    expect(browser.warmUpAttestation).toBe(warmUpAttestation);
  });

  it('runs real ECDSA P-384 imports and verifications, and rejects its stand-in document', async () => {
    const verify = vi.spyOn(crypto.subtle, 'verify');
    const importKey = vi.spyOn(crypto.subtle, 'importKey');
    const r = await warmUpAttestation();
    expect(r.ok).toBe(false);
    // the stand-in's leaf is the AWS root itself: a CA, refused as a leaf
    expect(r.errors.map((e) => e.code)).toContain('ATT_CERT_CONSTRAINTS');
    expect(r.document?.moduleId).toBe('eifkit-warm-up');
    // shaped like a real chain (root, three intermediates, leaf), every certificate the pinned AWS root
    expect(r.document?.chain.map((c) => c.role)).toEqual(['root', 'intermediate', 'intermediate', 'intermediate', 'leaf']);
    expect(new Set(r.document?.chain.map((c) => c.sha256))).toEqual(new Set([AWS_NITRO_ROOT_SHA256]));
    expect(importKey).toHaveBeenCalled();
    // the warm-up document (default: one round): 4 links + its COSE signature, all valid; then the stand-in: the
    // root's own self-signature for each of the 4 links, and the COSE signature (r = s = 1, says no)
    expect(verify.mock.calls.length).toBe(5 + 5);
    const results = await Promise.all(verify.mock.results.map((x) => x.value as Promise<boolean>));
    expect(results).toContain(true);
    expect(results).toContain(false);
  });

  it('verifies its complete document `rounds` times, each as a new chain', async () => {
    const verify = vi.spyOn(crypto.subtle, 'verify');
    const r = await warmUpAttestation({ rounds: 3 });
    expect(r.document?.moduleId).toBe('eifkit-warm-up'); // the stand-in's result, as with one round
    expect(verify.mock.calls.length).toBe(3 * 5 + 5);
    const results = await Promise.all(verify.mock.results.map((x) => x.value as Promise<boolean>));
    expect(results.slice(0, 15).every((x) => x === true)).toBe(true);
    // rounds 0: only the stand-in — its COSE signature at least; its root-by-root links too unless the prepared
    // AWS root already remembers (depending on when its key import settled) that its key verified itself
    await warmUpAttestation({ rounds: 0 });
    expect(verify.mock.calls.length).toBeGreaterThanOrEqual(3 * 5 + 5 + 1);
    expect(verify.mock.calls.length).toBeLessThanOrEqual(3 * 5 + 5 + 5);
  });

  it('uses a complete, genuine-shaped document that is AUTHENTIC only under its own throw-away root, at its time', async () => {
    const doc = b64(WARM_UP_DOCUMENT_BASE64);
    const ok = await inspectAttestation(doc, { at: 'document', roots: [b64(WARM_UP_ROOT_BASE64)] });
    expect(ok.ok, JSON.stringify(ok.errors)).toBe(true);
    expect(ok.document?.timestamp).toBe(WARM_UP_TIME);
    expect(ok.document?.chain.map((c) => c.role)).toEqual(['root', 'intermediate', 'intermediate', 'intermediate', 'leaf']);
    expect(Object.keys(ok.document!.pcrs)).toHaveLength(16);
    const aws = await inspectAttestation(doc, { at: 'document' });
    expect(aws.ok).toBe(false);
    expect(aws.errors.map((e) => e.code)).toContain('ATT_ROOT_UNTRUSTED');
  });

  it('leaves no verified certificate, leaf or remembered hash behind', async () => {
    await warmUpAttestation({ rounds: 2 });
    expect(certificateCacheSize()).toBe(0);
    expect(leafCacheSize()).toBe(0);
    expect(derMemoSize()).toBe(0);
  });

  it('changes nothing for the next document: a new chain is still verified in full, and can be called again', async () => {
    const pki = await makePki(T);
    const doc = await makeDocument(pki, T);
    await warmUpAttestation();
    await warmUpAttestation();
    const verify = vi.spyOn(crypto.subtle, 'verify');
    const r = await inspectAttestation(doc, { at: T, roots: [pki.root.der] });
    expect(r.ok, JSON.stringify(r.errors)).toBe(true);
    expect(verify.mock.calls.length).toBe(5); // 4 certificate links + the COSE signature
  });
});
