/**
 * The one X.509 reader (src/pki/x509.ts) under its two profiles: every mutation of a well-formed leaf that breaks
 * a rule of the strict profile (attestation.md §1.3, §2.2 step 4) is refused with the profile's code; the
 * lenient profile (an EIF signing certificate, eif-format.md §4: what OpenSSL reads) shares the DER, Name and
 * calendar checks but takes what OpenSSL takes. The same mutations were run against @peculiar/x509 when it was
 * dropped (docs/architecture.md, "Why no X.509 library"). Also: the injectable WebCrypto provider.
 */
import { describe, expect, it } from 'vitest';
import { DerReader, derTlv, type Tlv } from '../../src/pki/der.js';
import { parseCertificate, type X509Profile } from '../../src/pki/x509.js';
import { ES384 } from '../../src/pki/algorithms.js';
import { opensslTimeText } from '../../src/pki/x509-time.js';
import { cryptoProvider, digest, ecdsaSign, ecdsaVerify, importEcdsaPublicKey, setCryptoProvider, type CryptoProvider } from '../../src/pki/ecdsa.js';
import { makePki } from '../attestation/helpers/generator.js';

const STRICT: X509Profile = { strict: true, code: 'ATT_CERT_MALFORMED', maxBytes: 1024 };
const LENIENT: X509Profile = { strict: false, code: 'SIG_CERT_UNREADABLE' };

function codeOf(f: () => unknown): string {
  try {
    f();
    return 'accepted';
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}

const T = Date.UTC(2026, 0, 15, 12);
const pki = await makePki(T);
const leaf = pki.leaf.der;

/** The leaf taken apart, and ways to put it back together with one field changed (signature left as is). */
const r = new DerReader(leaf, 'X', 'leaf');
const cert = r.read(0);
const [tbs, alg, sig] = r.children(cert) as [Tlv, Tlv, Tlv];
const f = r.children(tbs);
const W = (t: Tlv): Uint8Array => r.whole(t);
const fw = f.map(W);
const build = (fields: Uint8Array[], outerAlg = W(alg), sigValue = W(sig)): Uint8Array => derTlv(0x30, derTlv(0x30, ...fields), outerAlg, sigValue);
const rep = (i: number, v: Uint8Array): Uint8Array[] => fw.map((x, j) => (j === i ? v : x));
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);
const times = r.children(f[4]!);
const validity = (a: Uint8Array, b: Uint8Array): Uint8Array[] => rep(4, derTlv(0x30, a, b));
const exts = r.children(r.children(f[7]!)[0]!);
const withExts = (list: Uint8Array[]): Uint8Array[] => rep(7, derTlv(0xa3, derTlv(0x30, ...list)));
const ext0 = r.children(exts[0]!);
const OID_CN = Uint8Array.of(6, 3, 0x55, 4, 3);
const ECDSA_SHA256 = derTlv(0x30, Uint8Array.of(6, 8, 0x2a, 0x86, 0x48, 0xce, 0x3d, 4, 3, 2));
const EC_NO_CURVE = derTlv(0x30, Uint8Array.of(6, 7, 0x2a, 0x86, 0x48, 0xce, 0x3d, 2, 1));

/** [what, certificate, lenient result] — each is refused by the strict profile. */
const MUTATIONS: [string, Uint8Array, 'accepted' | 'SIG_CERT_UNREADABLE'][] = [
  ['trailing byte after the certificate', Uint8Array.from([...leaf, 0]), 'SIG_CERT_UNREADABLE'],
  ['non-minimal length (81 form for a short element)', build(rep(1, Uint8Array.from([fw[1]![0]!, 0x81, ...fw[1]!.subarray(1)]))), 'SIG_CERT_UNREADABLE'],
  ['indefinite length (BER)', Uint8Array.from([0x30, 0x80, ...leaf.subarray(cert.contentStart), 0, 0]), 'SIG_CERT_UNREADABLE'],
  ['version absent (v1) but extensions', build(fw.slice(1)), 'accepted'],
  ['version v2', build(rep(0, derTlv(0xa0, derTlv(0x02, Uint8Array.of(1))))), 'accepted'],
  ['negative serial', build(rep(1, derTlv(0x02, Uint8Array.of(0x80, 1)))), 'accepted'],
  ['non-minimal serial', build(rep(1, derTlv(0x02, Uint8Array.of(0, 0, 1)))), 'accepted'],
  ['30-octet serial', build(rep(1, derTlv(0x02, new Uint8Array(30).fill(0x11)))), 'accepted'],
  ['TBS signature algorithm differs from the outer one', build(rep(2, ECDSA_SHA256)), 'accepted'],
  ['ECDSA algorithm with NULL parameters', build(rep(2, derTlv(0x30, ...r.children(f[2]!).map(W), Uint8Array.of(5, 0))), derTlv(0x30, ...r.children(alg).map(W), Uint8Array.of(5, 0))), 'accepted'],
  ['GeneralizedTime before 2050', build(validity(derTlv(0x18, ascii('20200101000000Z')), W(times[1]!))), 'accepted'],
  ['GeneralizedTime with fractional seconds', build(validity(W(times[0]!), derTlv(0x18, ascii('20600101000000.5Z')))), 'accepted'],
  ['UTCTime without seconds', build(validity(derTlv(0x17, ascii('2001010000Z')), W(times[1]!))), 'SIG_CERT_UNREADABLE'],
  ['UTCTime with an offset instead of Z', build(validity(derTlv(0x17, ascii('200101000000+0100')), W(times[1]!))), 'SIG_CERT_UNREADABLE'],
  ['UTCTime month 13', build(validity(derTlv(0x17, ascii('201301000000Z')), W(times[1]!))), 'SIG_CERT_UNREADABLE'],
  ['UTCTime Feb 30', build(validity(derTlv(0x17, ascii('200230000000Z')), W(times[1]!))), 'SIG_CERT_UNREADABLE'],
  ['GeneralizedTime fraction ending in 0', build(validity(W(times[0]!), derTlv(0x18, ascii('20600101000000.50Z')))), 'SIG_CERT_UNREADABLE'],
  ['empty RDN in the subject', build(rep(5, derTlv(0x30, ...r.children(f[5]!).map(W), derTlv(0x31)))), 'accepted'],
  ['invalid UTF-8 in a UTF8String', build(rep(5, derTlv(0x30, derTlv(0x31, derTlv(0x30, OID_CN, derTlv(0x0c, Uint8Array.of(0xc3, 0x28))))))), 'accepted'],
  ['odd-length BMPString', build(rep(5, derTlv(0x30, derTlv(0x31, derTlv(0x30, OID_CN, derTlv(0x1e, Uint8Array.of(0, 0x41, 0))))))), 'accepted'],
  ['EC key without a named curve', build(rep(6, derTlv(0x30, EC_NO_CURVE, W(r.children(f[6]!)[1]!)))), 'accepted'],
  ['explicit critical FALSE', build(withExts([derTlv(0x30, W(ext0[0]!), Uint8Array.of(1, 1, 0), W(ext0.at(-1)!)), ...exts.slice(1).map(W)])), 'accepted'],
  ['critical BOOLEAN 01 (not FF)', build(withExts([derTlv(0x30, W(ext0[0]!), Uint8Array.of(1, 1, 1), W(ext0.at(-1)!)), ...exts.slice(1).map(W)])), 'accepted'],
  ['duplicate extension', build(withExts([...exts.map(W), W(exts[0]!)])), 'accepted'],
  ['empty extension list', build(withExts([])), 'accepted'],
  ['extensions absent', build(fw.slice(0, 7)), 'accepted'],
  ['a field after the extensions', build([...fw, derTlv(0x02, Uint8Array.of(1))]), 'accepted'],
  ['signature BIT STRING with unused bits', build(fw, W(alg), derTlv(0x03, Uint8Array.from([1, ...r.content(sig).subarray(1)]))), 'accepted'],
  ['more than 1024 bytes', build(rep(5, derTlv(0x30, ...r.children(f[5]!).map(W), derTlv(0x31, derTlv(0x30, OID_CN, derTlv(0x0c, ascii('x'.repeat(600)))))))), 'accepted'],
  ['malformed subject Name (an attribute without a value)', build(rep(5, derTlv(0x30, derTlv(0x31, derTlv(0x30, OID_CN))))), 'SIG_CERT_UNREADABLE'],
];

describe('one X.509 reader, two profiles', () => {
  it('the well-formed leaf passes both profiles with the same fields', () => {
    const a = parseCertificate(leaf, 'leaf', STRICT);
    const b = parseCertificate(leaf, 'leaf', LENIENT);
    expect(a.version).toBe(3);
    expect(a.subjectText).toContain('CN=');
    for (const k of ['serial', 'signatureAlgorithm', 'issuerText', 'subjectText', 'notBefore', 'notAfter', 'notBeforeTime', 'keyCurve', 'keyAlgorithm'] as const) {
      expect(b[k]).toEqual(a[k]);
    }
    expect(Buffer.from(b.spki).equals(Buffer.from(a.spki))).toBe(true);
    expect(Buffer.from(b.signatureValue).equals(Buffer.from(a.signatureValue))).toBe(true);
    expect(a.basicConstraints).toEqual({ ca: false, pathLen: undefined, critical: true });
    expect(b.extensions).toEqual([]); // the lenient profile does not read past the key
  });

  it.each(MUTATIONS)('%s: strict → ATT_CERT_MALFORMED', (_what, der) => {
    expect(codeOf(() => parseCertificate(der, 'leaf', STRICT))).toBe('ATT_CERT_MALFORMED');
  });

  it.each(MUTATIONS)('%s: lenient → %s', (_what, der, lenient) => {
    expect(codeOf(() => parseCertificate(der, 'signing certificate', LENIENT))).toBe(lenient);
  });
});

describe('validity times', () => {
  const withTimes = (a: string, b: string, tagB = 0x18): Uint8Array => build(validity(derTlv(0x17, ascii(a)), derTlv(tagB, ascii(b))));

  it('OpenSSL print form, fraction kept (lenient) and truncated to ms', () => {
    const c = parseCertificate(withTimes('240229235959Z', '20600101000000.1234Z'), 's', LENIENT);
    expect(opensslTimeText(c.notBeforeTime)).toBe('Feb 29 23:59:59 2024 GMT');
    expect(opensslTimeText(c.notAfterTime)).toBe('Jan  1 00:00:00.1234 2060 GMT');
    expect(c.notAfter).toBe(Date.UTC(2060, 0, 1) + 123);
  });

  it('UTCTime years: 50–99 are 19xx, 00–49 are 20xx', () => {
    const c = parseCertificate(withTimes('500101000000Z', '491231235959Z', 0x17), 's', STRICT);
    expect(new Date(c.notBefore).toISOString()).toBe('1950-01-01T00:00:00.000Z');
    expect(new Date(c.notAfter).toISOString()).toBe('2049-12-31T23:59:59.000Z');
  });

  it('a GeneralizedTime year below 100 is that year, not 19xx (regression: Date.UTC)', () => {
    const c = parseCertificate(withTimes('200101000000Z', '00500101000000Z'), 's', LENIENT);
    expect(new Date(c.notAfter).getUTCFullYear()).toBe(50);
  });

  it('Feb 29 only in leap years (2100 is not one)', () => {
    expect(codeOf(() => parseCertificate(withTimes('200101000000Z', '21000229000000Z'), 's', LENIENT))).toBe('SIG_CERT_UNREADABLE');
    expect(codeOf(() => parseCertificate(withTimes('200101000000Z', '20960229000000Z'), 's', STRICT))).toBe('accepted');
  });
});

describe('injectable WebCrypto provider', () => {
  it('setCryptoProvider routes every call through the given SubtleCrypto; undefined restores the global one', async () => {
    const calls: string[] = [];
    const real = globalThis.crypto.subtle;
    const spy: CryptoProvider = {
      importKey: ((...a: Parameters<SubtleCrypto['importKey']>) => (calls.push('importKey'), real.importKey(...a))) as SubtleCrypto['importKey'],
      sign: (...a) => (calls.push('sign'), real.sign(...a)),
      verify: (...a) => (calls.push('verify'), real.verify(...a)),
      digest: (...a) => (calls.push('digest'), real.digest(...a)),
    };
    const pair = (await real.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify'])) as CryptoKeyPair;
    const spki = new Uint8Array(await real.exportKey('spki', pair.publicKey));
    const msg = Uint8Array.of(1, 2, 3);
    setCryptoProvider(spy);
    try {
      expect(cryptoProvider()).toBe(spy);
      const s = await ecdsaSign(ES384, pair.privateKey, msg);
      const k = await importEcdsaPublicKey(spki, ES384);
      expect(await ecdsaVerify(k, ES384, s, msg)).toBe(true);
      expect((await digest(ES384, msg)).length).toBe(48);
    } finally {
      setCryptoProvider(undefined);
    }
    expect(calls).toEqual(['sign', 'importKey', 'verify', 'digest']);
    expect(cryptoProvider()).toBe(real);
    // a per-call provider wins over the default
    const one: string[] = [];
    await digest(ES384, msg, { ...spy, digest: (...a) => (one.push('digest'), real.digest(...a)) });
    expect(one).toEqual(['digest']);
  });
});
