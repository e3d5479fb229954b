/**
 * The verified-leaf cache (src/attestation/leaf-cache.ts) and the DER-hash memo (src/attestation/der-memo.ts):
 * a warm verification costs one ECDSA verify (the COSE signature), and the cache never lets a different leaf,
 * a different issuer key, an expired leaf or a bad COSE signature pass. Every hostile document gives the same
 * result with a warm cache as with `cache: false`.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { sha256 } from '@noble/hashes/sha2.js';
import { clearCertificateCache } from '../../src/attestation/chain.js';
import { clearDerMemo, derMemoSize, derSha256 } from '../../src/attestation/der-memo.js';
import { inspectAttestation } from '../../src/attestation/index.js';
import { LEAF_CACHE_LIMIT, leafCacheSize } from '../../src/attestation/leaf-cache.js';
import { setSyncP384Verifier } from '../../src/attestation/sync-verify.js';
import { setCryptoProvider } from '../../src/pki/ecdsa.js';
import { sigStructureEs384 } from '../../src/attestation/verify.js';
import { nodeP384Verify } from '../../src/node/p384-verify.js';
import { sigStructure1 } from '../../src/cose/sign1-encode.js';
import { toHex } from '../../src/util/hex.js';
import * as cb from './helpers/cbor-writer.js';
import { defaultSpecs, highSTwin, isHighS, makeCertificate, makeDocument, makePki, newKey, pcrValue, setField, type Pki } from './helpers/generator.js';

const T = Date.UTC(2026, 8, 21, 12, 0, 0);
const H = 3_600_000;

beforeEach(() => clearCertificateCache(true));
afterEach(() => vi.restoreAllMocks());

/** Count WebCrypto ECDSA verifications and key imports made while `run` runs. */
async function countCrypto<T>(run: () => Promise<T>): Promise<{ result: T; verifies: number; imports: number }> {
  const verify = vi.spyOn(crypto.subtle, 'verify');
  const importKey = vi.spyOn(crypto.subtle, 'importKey');
  const result = await run();
  const counts = { verifies: verify.mock.calls.length, imports: importKey.mock.calls.length };
  verify.mockRestore();
  importKey.mockRestore();
  return { result, ...counts };
}

const codes = (r: { errors: readonly { code: string }[] }): string[] => r.errors.map((e) => e.code);
const inspect = (doc: Uint8Array, pki: Pki, at = T, cache = true) => inspectAttestation(doc, { at, roots: [pki.root.der], cache });

describe('warm verification', () => {
  it('costs exactly one ECDSA verify and no key import once the leaf and chain are cached', async () => {
    const pki = await makePki(T);
    const d = await makeDocument(pki, T);
    const cold = await countCrypto(() => inspect(d, pki));
    expect(cold.result.ok).toBe(true);
    expect(cold.verifies).toBe(5); // 4 certificate links + the COSE signature
    expect(leafCacheSize()).toBe(1);
    const warm = await countCrypto(() => inspect(d, pki));
    expect(warm.result.ok).toBe(true);
    expect(warm.verifies).toBe(1);
    expect(warm.imports).toBe(0);
    // another document of the same enclave (other nonce, same leaf): still one verify
    const d2 = await makeDocument(pki, T + 1000, { nonce: Uint8Array.of(1, 2, 3) });
    const warm2 = await countCrypto(() => inspect(d2, pki, T + 1000));
    expect(warm2.result.ok).toBe(true);
    expect(warm2.verifies).toBe(1);
    // and the chain summary is the same as a cold verification's (hashes included)
    const uncached = await inspect(d, pki, T, false);
    expect(warm.result.document!.chain).toEqual(uncached.document!.chain);
  });

  it('a different leaf (same issuer) is not served from the cache', async () => {
    const pki = await makePki(T);
    expect((await inspect(await makeDocument(pki, T), pki)).ok).toBe(true);
    const leaf2 = await makeCertificate(defaultSpecs(T).leaf, await newKey(), { key: pki.instance.key, name: pki.instance.name });
    const pki2 = { ...pki, leaf: leaf2 };
    const d2 = await makeDocument(pki2, T);
    const r = await countCrypto(() => inspect(d2, pki2));
    expect(r.result.ok).toBe(true);
    expect(r.verifies).toBe(2); // the new leaf's link + the COSE signature
    expect(leafCacheSize()).toBe(2);
  });

  it('cache: false neither reads nor fills the leaf cache', async () => {
    const pki = await makePki(T);
    const d = await makeDocument(pki, T);
    expect((await inspect(d, pki, T, false)).ok).toBe(true);
    expect(leafCacheSize()).toBe(0);
    expect((await inspect(d, pki)).ok).toBe(true);
    const again = await countCrypto(() => inspect(d, pki, T, false));
    expect(again.verifies).toBe(5);
  });
});

describe('the cache never lets a bad document pass', () => {
  it('a cached leaf presented under another issuer key (same names) fails the leaf signature', async () => {
    const a = await makePki(T);
    const b = await makePki(T); // same names and lifetimes, other keys
    const roots = [a.root.der, b.root.der];
    // a's leaf verified under a's instance key: cached
    expect((await inspectAttestation(await makeDocument(a, T), { at: T, roots })).ok).toBe(true);
    // b's chain verified too, so every intermediate link of the mixed document is cached
    expect((await inspectAttestation(await makeDocument(b, T), { at: T, roots })).ok).toBe(true);
    // a's leaf (same DER, so the same DER-hash entry) behind b's chain, document signed by a's leaf key
    const mixedPki = { ...b, leaf: a.leaf };
    const mixed = await makeDocument(mixedPki, T);
    const r = await countCrypto(() => inspectAttestation(mixed, { at: T, roots }));
    expect(codes(r.result)).toEqual(['ATT_CERT_SIGNATURE_INVALID']);
    expect(r.result.errors[0]!.message).toContain('certificate (leaf)');
    expect(r.verifies).toBe(2); // the leaf's link was checked, not skipped
    // and it keeps failing (nothing was cached by the failure)
    expect(codes(await inspectAttestation(mixed, { at: T, roots }))).toEqual(['ATT_CERT_SIGNATURE_INVALID']);
  });

  it('an expired (or not yet valid) leaf still fails when cached', async () => {
    const pki = await makePki(T);
    const d = await makeDocument(pki, T);
    expect((await inspect(d, pki)).ok).toBe(true);
    expect(leafCacheSize()).toBe(1);
    const late = await inspect(d, pki, T + 2 * H + 1000); // leaf valid until T + 2 h
    expect(codes(late)).toEqual(['ATT_CERT_VALIDITY']);
    expect(late.errors[0]!.message).toContain('certificate (leaf)');
    const early = await inspect(d, pki, T - H - 1000); // leaf valid from T − 1 h
    expect(codes(early)).toEqual(['ATT_CERT_VALIDITY']);
    expect((await inspect(d, pki)).ok).toBe(true);
  });

  it('a tampered COSE signature or payload fails with the leaf cached', async () => {
    const pki = await makePki(T);
    const d = await makeDocument(pki, T);
    expect((await inspect(d, pki)).ok).toBe(true);
    const badSig = await makeDocument(pki, T, { signature: (s) => s.map((x, i) => (i === 95 ? x ^ 1 : x)) });
    expect(codes(await inspect(badSig, pki))).toEqual(['ATT_SIGNATURE_INVALID']);
    const otherSigner = await makeDocument(pki, T, { signer: await newKey() });
    expect(codes(await inspect(otherSigner, pki))).toEqual(['ATT_SIGNATURE_INVALID']);
    // one byte of PCR0 changed in the signed payload, signature left as it was
    const tampered = d.slice();
    const at = indexOf(tampered, pcrValue(0));
    expect(at).toBeGreaterThan(0);
    tampered[at + 5]! ^= 0x80;
    expect(codes(await inspect(tampered, pki))).toEqual(['ATT_SIGNATURE_INVALID']);
  });

  it('constraints of a cached leaf are still checked (a leaf that claims CA fails, even if its signature is cached)', async () => {
    const pki = await makePki(T);
    expect((await inspect(await makeDocument(pki, T), pki)).ok).toBe(true);
    const caLeaf = await makeCertificate({ ...defaultSpecs(T).leaf, basicConstraints: { ca: true, critical: true } }, pki.leaf.key, { key: pki.instance.key, name: pki.instance.name });
    const p2 = { ...pki, leaf: caLeaf };
    const d = await makeDocument(p2, T);
    expect(codes(await inspect(d, p2))).toEqual(['ATT_CERT_CONSTRAINTS']);
    expect(codes(await inspect(d, p2))).toEqual(['ATT_CERT_CONSTRAINTS']);
  });

  it('hostile documents built on a cached leaf give the same errors warm as with cache: false', async () => {
    const pki = await makePki(T);
    const other = await makePki(T);
    const roots = [pki.root.der];
    const warmUp = async (): Promise<void> => {
      expect((await inspectAttestation(await makeDocument(pki, T), { at: T, roots })).ok).toBe(true);
    };
    const bundle = (certs: Uint8Array[]) => ({ fields: (f: cb.Entry[]) => setField(f, 'cabundle', cb.array(certs.map((c) => cb.bytes(c)))) });
    const cases: [string, Promise<Uint8Array>, string[]][] = [
      ['missing intermediate', makeDocument(pki, T, bundle([pki.root.der, pki.regional.der, pki.instance.der])), ['ATT_CHAIN_ISSUER_MISMATCH']],
      ['reversed bundle', makeDocument(pki, T, bundle([...pki.cabundle].reverse())), ['ATT_ROOT_UNTRUSTED']],
      ['other root in front', makeDocument(pki, T, bundle([other.root.der, ...pki.cabundle.slice(1)])), ['ATT_ROOT_UNTRUSTED']],
      ['other instance CA (same name)', makeDocument(pki, T, bundle([...pki.cabundle.slice(0, 3), other.instance.der])), ['ATT_CERT_SIGNATURE_INVALID']],
      ['leaf as its own issuer', makeDocument(pki, T, bundle([...pki.cabundle, pki.leaf.der])), ['ATT_CERT_CONSTRAINTS']],
      ['leaf replaced by the instance CA', makeDocument(pki, T, { fields: (f) => setField(f, 'certificate', cb.bytes(pki.instance.der)) }), ['ATT_CERT_CONSTRAINTS']],
      ['truncated leaf', makeDocument(pki, T, { fields: (f) => setField(f, 'certificate', cb.bytes(pki.leaf.der.subarray(0, 300))) }), ['ATT_CERT_MALFORMED']],
      ['leaf with one byte changed', makeDocument(pki, T, { fields: (f) => setField(f, 'certificate', cb.bytes(flipLast(pki.leaf.der))) }), ['ATT_CERT_SIGNATURE_INVALID']],
    ];
    for (const [name, made, expected] of cases) {
      const doc = await made;
      clearCertificateCache(true);
      const uncached = await inspectAttestation(doc, { at: T, roots, cache: false });
      await warmUp();
      const warm = await inspectAttestation(doc, { at: T, roots });
      expect({ name, codes: codes(warm) }).toEqual({ name, codes: codes(uncached) });
      expect({ name, codes: codes(warm).slice(0, 1) }).toEqual({ name, codes: expected });
    }
  });
});

describe('warm path with the synchronous node:crypto verifier (what the Node entry point installs)', () => {
  beforeEach(() => setSyncP384Verifier(nodeP384Verify));
  afterEach(() => setSyncP384Verifier(undefined));

  it('verifies a warm document without WebCrypto, and rejects what the WebCrypto path rejects', async () => {
    const pki = await makePki(T);
    const d = await makeDocument(pki, T);
    const cold = await countCrypto(() => inspect(d, pki));
    expect(cold.result.ok).toBe(true);
    expect(cold.verifies).toBe(5); // a new leaf: every check on WebCrypto, in parallel
    const warm = await countCrypto(() => inspect(d, pki));
    expect(warm.result.ok).toBe(true);
    expect(warm.verifies).toBe(0);
    const s = d.subarray(d.length - 96);
    const twin = d.slice();
    twin.set(highSTwin(s), d.length - 96); // (r, n − s): also valid, no low-S rule
    expect(isHighS(twin.subarray(d.length - 96))).not.toBe(isHighS(s));
    const tampered = d.slice();
    tampered[indexOf(tampered, pcrValue(0)) + 1]! ^= 1;
    const cases: [string, Uint8Array, string[]][] = [
      ['high-S twin', twin, []],
      ['other signer', await makeDocument(pki, T, { signer: await newKey() }), ['ATT_SIGNATURE_INVALID']],
      ['signature byte flipped', await makeDocument(pki, T, { signature: (x) => x.map((b, i) => (i === 40 ? b ^ 4 : b)) }), ['ATT_SIGNATURE_INVALID']],
      ['payload byte flipped', tampered, ['ATT_SIGNATURE_INVALID']],
      ['s = 0', await makeDocument(pki, T, { signature: (x) => x.map((b, i) => (i >= 48 ? 0 : b)) }), ['ATT_SIGNATURE_FORMAT']],
    ];
    for (const [name, doc, want] of cases) {
      const sync = await countCrypto(() => inspect(doc, pki));
      setSyncP384Verifier(undefined);
      const webcrypto = await inspect(doc, pki);
      setSyncP384Verifier(nodeP384Verify);
      expect({ name, codes: codes(sync.result) }).toEqual({ name, codes: want });
      expect({ name, codes: codes(webcrypto) }).toEqual({ name, codes: want });
      if (want[0] !== 'ATT_SIGNATURE_FORMAT') expect({ name, webcryptoVerifies: sync.verifies }).toEqual({ name, webcryptoVerifies: 0 });
    }
    // an expired leaf still fails on this path
    expect(codes(await inspect(d, pki, T + 2 * H + 1000))).toEqual(['ATT_CERT_VALIDITY']);
  });

  it('a verifier that throws hands the check to WebCrypto (no false mismatch, no crash)', async () => {
    const pki = await makePki(T);
    const d = await makeDocument(pki, T);
    expect((await inspect(d, pki)).ok).toBe(true);
    setSyncP384Verifier(() => {
      throw new Error('boom');
    });
    const r = await countCrypto(() => inspect(d, pki));
    expect(r.result.ok).toBe(true);
    expect(r.verifies).toBe(1);
    const bad = await makeDocument(pki, T, { signer: await newKey() });
    expect(codes(await inspect(bad, pki))).toEqual(['ATT_SIGNATURE_INVALID']);
  });

  it('is not used when another WebCrypto provider is set (setCryptoProvider)', async () => {
    const pki = await makePki(T);
    const d = await makeDocument(pki, T);
    expect((await inspect(d, pki)).ok).toBe(true);
    let used = 0;
    setSyncP384Verifier(() => {
      used++;
      return true;
    });
    const subtle = globalThis.crypto.subtle;
    const calls: string[] = [];
    setCryptoProvider({
      importKey: (...a: Parameters<SubtleCrypto['importKey']>) => subtle.importKey(...a),
      sign: (...a: Parameters<SubtleCrypto['sign']>) => subtle.sign(...a),
      digest: (...a: Parameters<SubtleCrypto['digest']>) => subtle.digest(...a),
      verify: (...a: Parameters<SubtleCrypto['verify']>) => (calls.push('verify'), subtle.verify(...a)),
    } as never);
    try {
      const bad = await makeDocument(pki, T, { signer: await newKey() });
      expect(codes(await inspect(bad, pki))).toEqual(['ATT_SIGNATURE_INVALID']);
      expect((await inspect(d, pki)).ok).toBe(true);
      expect(used).toBe(0);
      expect(calls.length).toBe(2);
    } finally {
      setCryptoProvider(undefined);
    }
  });
});

describe('bounds and ownership', () => {
  it(`keeps at most ${LEAF_CACHE_LIMIT} leaves, least recently used evicted`, async () => {
    const pki = await makePki(T);
    const first = await makeDocument(pki, T);
    expect((await inspect(first, pki)).ok).toBe(true);
    const key = await newKey(); // one key, many leaves (distinct serials)
    let oldest: { doc: Uint8Array; p: Pki } | undefined;
    for (let i = 0; i < LEAF_CACHE_LIMIT + 4; i++) {
      const leaf = await makeCertificate(defaultSpecs(T).leaf, key, { key: pki.instance.key, name: pki.instance.name });
      const p = { ...pki, leaf };
      const doc = await makeDocument(p, T);
      expect((await inspect(doc, p)).ok).toBe(true);
      if (i === 0) oldest = { doc, p };
      if (i === 10) expect((await inspect(first, pki)).ok).toBe(true); // `first` used again: no longer the oldest
    }
    // LIMIT + 5 leaves seen: the 5 least recently used are gone (leaf 0 among them), `first` is not
    expect(leafCacheSize()).toBe(LEAF_CACHE_LIMIT);
    const evicted = await countCrypto(() => inspect(oldest!.doc, oldest!.p));
    expect(evicted.result.ok).toBe(true);
    expect(evicted.verifies).toBe(2);
    const kept = await countCrypto(() => inspect(first, pki));
    expect(kept.result.ok).toBe(true);
    expect(kept.verifies).toBe(1);
  }, 60_000);

  it('the cached leaf does not alias the caller\'s buffer', async () => {
    const pki = await makePki(T);
    const d = await makeDocument(pki, T);
    const buf = d.slice();
    expect((await inspect(buf, pki)).ok).toBe(true);
    buf.fill(0);
    const r = await countCrypto(() => inspect(d, pki));
    expect(r.result.ok).toBe(true);
    expect(r.verifies).toBe(1);
  });
});

describe('DER hash memo', () => {
  it('returns the SHA-256 of exactly the bytes given, also for a different input with the same length and tail', () => {
    clearDerMemo();
    const a = Uint8Array.from({ length: 600 }, (_, i) => (i * 31) & 0xff);
    const b = a.slice();
    b[10]! ^= 1; // same length, same last 24 bytes
    expect(derSha256(a)).toBe(toHex(sha256(a)));
    expect(derSha256(b)).toBe(toHex(sha256(b)));
    expect(derSha256(a)).toBe(toHex(sha256(a)));
    // a changed buffer is hashed again, not served from the memo
    const c = a.slice();
    expect(derSha256(c)).toBe(toHex(sha256(a)));
    c[0]! ^= 0xff;
    expect(derSha256(c)).toBe(toHex(sha256(c)));
    expect(derMemoSize()).toBeGreaterThan(0);
    clearDerMemo();
    expect(derMemoSize()).toBe(0);
  });
});

describe('Sig_structure', () => {
  it('equals the generic encoder for every head length', () => {
    for (const n of [1, 23, 24, 255, 256, 4445, 16384]) {
      const payload = Uint8Array.from({ length: n }, (_, i) => (i * 7) & 0xff);
      expect(toHex(sigStructureEs384(payload))).toBe(toHex(sigStructure1(Uint8Array.of(0xa1, 0x01, 0x38, 0x22), payload)));
    }
  });
});

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function flipLast(der: Uint8Array): Uint8Array {
  const out = der.slice();
  out[out.length - 1]! ^= 1;
  return out;
}
