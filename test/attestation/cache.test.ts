/**
 * The verified-intermediate cache (src/attestation/chain.ts): it only ever skips an ECDSA check that already
 * succeeded for the same (issuer, certificate) DER pair; leaves have their own cache (leaf-cache.test.ts);
 * validity, names and constraints are re-checked at every document's own verification time.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { certificateCacheSize, clearCertificateCache } from '../../src/attestation/chain.js';
import { inspectAttestation } from '../../src/attestation/index.js';
import * as cb from './helpers/cbor-writer.js';
import { defaultSpecs, makeCertificate, makeDocument, makePki, newKey, setField } from './helpers/generator.js';

const T = Date.UTC(2026, 8, 21, 12, 0, 0);

beforeEach(() => clearCertificateCache(true));

describe('verified-intermediate cache', () => {
  it('holds the intermediates after a success (not the leaf: it has its own cache; nor the root: anchors are kept apart)', async () => {
    const pki = await makePki(T);
    const r = await inspectAttestation(await makeDocument(pki, T), { at: T, roots: [pki.root.der] });
    expect(r.ok).toBe(true);
    expect(certificateCacheSize()).toBe(3);
    // a second document of the same instance with a new leaf: the cache does not grow
    const leafKey = await newKey();
    const leaf2 = await makeCertificate(defaultSpecs(T).leaf, leafKey, { key: pki.instance.key, name: pki.instance.name });
    const pki2 = { ...pki, leaf: leaf2 };
    const r2 = await inspectAttestation(await makeDocument(pki2, T), { at: T, roots: [pki.root.der] });
    expect(r2.ok).toBe(true);
    expect(certificateCacheSize()).toBe(3);
  });

  it('is not filled by a failed verification', async () => {
    const pki = await makePki(T);
    const d = await makeDocument(pki, T, { signature: (s) => s.map((b, i) => (i === 0 ? b ^ 1 : b)) });
    const r = await inspectAttestation(d, { at: T, roots: [pki.root.der] });
    expect(r.ok).toBe(false);
    // the COSE signature is not part of the chain: the chain itself verified and may be cached
    const forgedKey = await newKey();
    const forged = await makeCertificate(defaultSpecs(T).zonal, pki.zonal.key, { key: forgedKey, name: pki.regional.name });
    clearCertificateCache();
    const d2 = await makeDocument(pki, T, { fields: (f) => setField(f, 'cabundle', cb.array([pki.root.der, pki.regional.der, forged.der, pki.instance.der].map((c) => cb.bytes(c)))) });
    const r2 = await inspectAttestation(d2, { at: T, roots: [pki.root.der] });
    expect(r2.errors.map((e) => e.code)).toEqual(['ATT_CERT_SIGNATURE_INVALID']);
    expect(certificateCacheSize()).toBe(0);
  });

  it('a warm cache still rejects a bad leaf signature, a bad document signature and an expired leaf', async () => {
    const pki = await makePki(T);
    expect((await inspectAttestation(await makeDocument(pki, T), { at: T, roots: [pki.root.der] })).ok).toBe(true);
    const forgedLeaf = await makeCertificate(defaultSpecs(T).leaf, pki.leaf.key, { key: await newKey(), name: pki.instance.name });
    const badLeaf = await makeDocument({ ...pki, leaf: forgedLeaf }, T);
    expect((await inspectAttestation(badLeaf, { at: T, roots: [pki.root.der] })).errors.map((e) => e.code)).toEqual(['ATT_CERT_SIGNATURE_INVALID']);
    const badSig = await makeDocument(pki, T, { signer: await newKey() });
    expect((await inspectAttestation(badSig, { at: T, roots: [pki.root.der] })).errors.map((e) => e.code)).toEqual(['ATT_SIGNATURE_INVALID']);
    const expired = await makeDocument(pki, T);
    expect((await inspectAttestation(expired, { at: T + 3 * 3_600_000, roots: [pki.root.der] })).errors.map((e) => e.code)).toEqual(['ATT_CERT_VALIDITY']);
  });

  it('re-checks the validity of cached intermediates at each verification time', async () => {
    const pki = await makePki(T);
    const d = await makeDocument(pki, T);
    expect((await inspectAttestation(d, { at: T, roots: [pki.root.der] })).ok).toBe(true);
    // the zonal certificate expires 3 days after T; the leaf after 2 h — check the zonal message names it
    const r = await inspectAttestation(d, { at: T + 4 * 86_400_000, roots: [pki.root.der] });
    expect(r.errors[0]!.code).toBe('ATT_CERT_VALIDITY');
    expect(r.errors[0]!.message).toContain('cabundle[2]');
  });

  it('a cached link does not vouch for the same certificate under another root of the same name', async () => {
    const a = await makePki(T);
    const b = await makePki(T); // same names, other keys
    expect((await inspectAttestation(await makeDocument(a, T), { at: T, roots: [a.root.der] })).ok).toBe(true);
    // b's root in front of a's (cached) regional: names match, the signature does not
    const mixed = await makeDocument(a, T, { fields: (f) => setField(f, 'cabundle', cb.array([b.root.der, a.regional.der, a.zonal.der, a.instance.der].map((c) => cb.bytes(c)))) });
    const r = await inspectAttestation(mixed, { at: T, roots: [a.root.der, b.root.der] });
    expect(r.errors.map((e) => e.code)).toEqual(['ATT_CERT_SIGNATURE_INVALID']);
  });

  it('cache: false leaves the cache alone', async () => {
    const pki = await makePki(T);
    expect((await inspectAttestation(await makeDocument(pki, T), { at: T, roots: [pki.root.der], cache: false })).ok).toBe(true);
    expect(certificateCacheSize()).toBe(0);
  });
});

describe('cache ownership', () => {
  it('cached certificates do not alias the caller\'s buffer', async () => {
    clearCertificateCache();
    const pki = await makePki(T);
    const d = await makeDocument(pki, T);
    const buf = d.slice();
    expect((await inspectAttestation(buf, { at: T, roots: [pki.root.der] })).ok).toBe(true);
    buf.fill(0); // the caller reuses its buffer
    expect((await inspectAttestation(d, { at: T, roots: [pki.root.der] })).ok).toBe(true);
  });
});

describe('prepared anchors', () => {
  it('a root prepared for one call is not trusted by a later call that does not pin it', async () => {
    const a = await makePki(T);
    const b = await makePki(T);
    const d = await makeDocument(a, T);
    expect((await inspectAttestation(d, { at: T, roots: [a.root.der] })).ok).toBe(true);
    expect((await inspectAttestation(d, { at: T, roots: [b.root.der] })).errors.map((e) => e.code)).toEqual(['ATT_ROOT_UNTRUSTED']);
    expect((await inspectAttestation(d, { at: T })).errors.map((e) => e.code)).toEqual(['ATT_ROOT_UNTRUSTED']);
  });

  it('the root is still checked structurally (validity) when prepared', async () => {
    const a = await makePki(T, { specs: { root: { notBefore: T - 1000, notAfter: T + 1000 } } });
    const d = await makeDocument(a, T);
    expect((await inspectAttestation(d, { at: T, roots: [a.root.der] })).ok).toBe(true);
    const r = await inspectAttestation(d, { at: T + 2000, roots: [a.root.der] });
    expect(r.errors[0]!.code).toBe('ATT_CERT_VALIDITY');
    expect(r.errors[0]!.message).toContain('cabundle[0]');
  });
});
