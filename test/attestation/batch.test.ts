/**
 * verifyAttestations (src/attestation/batch.ts): the same result as verifyAttestation for every document, in
 * order; a bad document affects only its own result; options and policy checked once.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { clearCertificateCache } from '../../src/attestation/chain.js';
import { verifyAttestation, verifyAttestations, type AttestationResult } from '../../src/attestation/index.js';
import { toHex } from '../../src/util/hex.js';
import { makeDocument, makePki, newKey, pcrValue, type Pki } from './helpers/generator.js';

const T = Date.UTC(2026, 8, 21, 12, 0, 0);
let pki: Pki;

beforeEach(async () => {
  clearCertificateCache(true);
  pki ??= await makePki(T);
});

/** A result without the decoded document's byte views (compared separately). */
const shape = (r: AttestationResult) => ({ ok: r.ok, errors: r.errors, moduleId: r.document?.moduleId ?? null, chain: r.document?.chain ?? null });

async function mixedDocs(): Promise<(Uint8Array | string)[]> {
  const good = await makeDocument(pki, T);
  const other = await makePki(T);
  return [
    good,
    await makeDocument(pki, T, { signer: await newKey() }), // bad COSE signature
    new Uint8Array([0x84, 0x40]), // truncated CBOR
    'not base64 at all ***', // text that is no document
    await makeDocument(other, T), // another root
    good.slice(0, good.length - 1), // cut short
    await makeDocument(pki, T, { nonce: Uint8Array.of(9) }),
    Buffer.from(good).toString('base64'),
    good,
  ];
}

describe('verifyAttestations', () => {
  const policy = () => ({ at: T, roots: [pki.root.der], expectedPcrs: { 0: toHex(pcrValue(0)) } });

  it('gives each document the result of verifyAttestation, in order, bad documents only failing themselves', async () => {
    const docs = await mixedDocs();
    const batch = await verifyAttestations(docs, policy());
    expect(batch).toHaveLength(docs.length);
    clearCertificateCache(true);
    const single: AttestationResult[] = [];
    for (const d of docs) single.push(await verifyAttestation(d, policy()));
    expect(batch.map(shape)).toEqual(single.map(shape));
    expect(batch.map((r) => r.ok)).toEqual([true, false, false, false, false, false, true, true, true]);
    expect(batch[1]!.errors.map((e) => e.code)).toEqual(['ATT_SIGNATURE_INVALID']);
    expect(batch[4]!.errors.map((e) => e.code)).toEqual(['ATT_ROOT_UNTRUSTED']);
  });

  it('the same with concurrency 1 and with a concurrency larger than the batch; an iterable is accepted', async () => {
    const docs = await mixedDocs();
    const a = await verifyAttestations(docs, { ...policy(), concurrency: 1 });
    const b = await verifyAttestations(docs, { ...policy(), concurrency: 1000 });
    const c = await verifyAttestations((function* () { yield* docs; })(), policy());
    expect(b.map(shape)).toEqual(a.map(shape));
    expect(c.map(shape)).toEqual(a.map(shape));
    expect(await verifyAttestations([], policy())).toEqual([]);
  });

  it('a bad policy or bad options fail every document the way verifyAttestation does', async () => {
    const docs = await mixedDocs();
    for (const opts of [{ ...policy(), expectedPcrs: { 0: 'zz' } }, { ...policy(), at: NaN }, { at: T, roots: ['not a pem'] }, { at: T, roots: [pki.root.der] }]) {
      const batch = await verifyAttestations(docs, opts);
      const single = await Promise.all(docs.map((d) => verifyAttestation(d, opts)));
      expect(batch.map(shape)).toEqual(single.map(shape));
      expect(batch.every((r) => !r.ok)).toBe(true);
    }
  });

  it('measures an EIF given as bytes once per batch', async () => {
    const good = await makeDocument(pki, T);
    const measureEif = vi.fn(async () => ({ PCR0: toHex(pcrValue(0)), PCR1: toHex(pcrValue(1)), PCR2: toHex(pcrValue(2)) }));
    const rs = await verifyAttestations([good, good, good, good], { at: T, roots: [pki.root.der], eif: new Uint8Array(8), measureEif });
    expect(rs.map((r) => r.ok)).toEqual([true, true, true, true]);
    expect(measureEif).toHaveBeenCalledTimes(1);
  });

  it('rejects a non-iterable docs or a bad concurrency with a code', async () => {
    await expect(verifyAttestations(42 as never, policy())).rejects.toMatchObject({ code: 'ATT_INPUT' });
    await expect(verifyAttestations(null as never, policy())).rejects.toMatchObject({ code: 'ATT_INPUT' });
    await expect(verifyAttestations([], { ...policy(), concurrency: 0 })).rejects.toMatchObject({ code: 'ATT_OPTIONS_INVALID' });
    await expect(verifyAttestations([], { ...policy(), concurrency: 1.5 })).rejects.toMatchObject({ code: 'ATT_OPTIONS_INVALID' });
  });

  it('without `at`, each document is checked at the current time', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(T);
      const good = await makeDocument(pki, T);
      const ok = await verifyAttestations([good], { roots: [pki.root.der], maxAgeMs: 60_000 });
      expect(ok[0]!.ok).toBe(true);
      vi.setSystemTime(T + 3 * 86_400_000 + 1); // beyond the leaf and zonal validity
      const late = await verifyAttestations([good], { roots: [pki.root.der], maxAgeMs: 60_000 });
      expect(late[0]!.errors[0]!.code).toBe('ATT_CERT_VALIDITY');
    } finally {
      vi.useRealTimers();
    }
  });
});
