/**
 * Every hostile class of attestation.md §7.1, produced by our own generator (a throw-away AWS-shaped P-384 PKI)
 * and re-signed so each document fails only for its intended reason — plus the valid controls that must pass.
 * The verifier runs with the generator's root as the only anchor, at the document time.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { inspectAttestation, type AttestationErrorCode } from '../../src/attestation/index.js';
import * as cb from './helpers/cbor-writer.js';
import {
  defaultPcrs,
  defaultSpecs,
  encodeName,
  makeCertificate,
  highSTwin,
  isHighS,
  KU,
  makeDocument,
  makePki,
  newKey,
  P384_N,
  fromBig,
  setField,
  sigStructure,
  type DocumentOptions,
  type Pki,
} from './helpers/generator.js';
import { ecdsaRawToDer } from '../../src/pki/der.js';

const T = Date.UTC(2026, 8, 21, 12, 0, 0);
let pki: Pki;

beforeAll(async () => {
  pki = await makePki(T);
});

async function check(doc: Uint8Array, p: Pki = pki, at = T): Promise<{ ok: boolean; codes: string[] }> {
  const r = await inspectAttestation(doc, { at, roots: [p.root.der] });
  return { ok: r.ok, codes: r.errors.map((e) => e.code) };
}

async function expectReject(doc: Uint8Array, code: AttestationErrorCode, p: Pki = pki, at = T): Promise<void> {
  const r = await check(doc, p, at);
  expect(r.ok).toBe(false);
  expect(r.codes[0]).toBe(code);
}

const doc = (o: DocumentOptions = {}, p?: Pki): Promise<Uint8Array> => makeDocument(p ?? pki, T, o);
const field = (name: string, value: Uint8Array | undefined): DocumentOptions => ({ fields: (f) => setField(f, name, value) });

describe('valid controls (must be accepted)', () => {
  const controls: [string, () => Promise<Uint8Array>][] = [
    ['indefinite payload map (current NSM)', () => doc({ indefinite: true })],
    ['definite payload map (pre-2025 NSM)', () => doc({ indefinite: false })],
    ['tag 18', () => doc({ tag: 18 })],
    ['shuffled key order', () => doc({ fields: (f) => [...f].reverse() })],
    ['user_data and public_key = h\'\'', () => doc({ userData: new Uint8Array(0), publicKey: new Uint8Array(0) })],
    ['nonce of exactly 1024 bytes', () => doc({ nonce: new Uint8Array(1024).fill(7) })],
    ['17 PCRs (PCR16 used)', () => doc({ pcrs: new Map([...defaultPcrs(), [16, new Uint8Array(48).fill(0x16)]]) })],
    ['optional fields absent', () => doc({ fields: (f) => setField(setField(setField(f, 'nonce', undefined), 'user_data', undefined), 'public_key', undefined) })],
    ['indefinite cabundle array and pcrs map', () => doc({ fields: (f) => setField(setField(f, 'cabundle', cb.array(pki.cabundle.map((c) => cb.bytes(c)), true)), 'pcrs', cb.map([...defaultPcrs()].map(([i, v]) => [cb.uint(i), cb.bytes(v)] as const), true)) })],
  ];
  for (const [name, make] of controls) {
    it(name, async () => {
      const r = await check(await make());
      expect(r.codes).toEqual([]);
      expect(r.ok).toBe(true);
    });
  }

  it('both signatures of a (r, s) / (r, n − s) pair are accepted (no low-S rule)', async () => {
    const d = await doc();
    const r1 = await check(d);
    expect(r1.ok).toBe(true);
    // the signature is the last 96 bytes (58 60 <sig>)
    const sig = d.subarray(d.length - 96);
    const twin = cb.concat(d.subarray(0, d.length - 96), highSTwin(sig));
    expect(isHighS(sig)).not.toBe(isHighS(twin.subarray(twin.length - 96)));
    expect((await check(twin)).ok).toBe(true);
  });
});

describe('envelope / COSE hostile cases', () => {
  const cases: [string, () => Promise<Uint8Array>, AttestationErrorCode][] = [
    ['trailing byte', () => doc({ trailing: Uint8Array.of(0x00) }), 'ATT_CBOR_TRAILING_BYTES'],
    ['wrong tag (17)', () => doc({ tag: 17 }), 'ATT_COSE_TAG'],
    ['wrong tag (98, COSE_Sign)', () => doc({ tag: 98 }), 'ATT_COSE_TAG'],
    ['3-element array', () => doc({ envelope: (p) => cb.array([cb.bytes(p.protectedBytes), p.unprotected, p.payloadItem]) }), 'ATT_COSE_STRUCTURE'],
    ['5-element array', () => doc({ envelope: (p) => cb.array([cb.bytes(p.protectedBytes), p.unprotected, p.payloadItem, cb.bytes(p.signature), cb.NULL]) }), 'ATT_COSE_STRUCTURE'],
    ['not an array (map)', () => doc({ envelope: (p) => cb.map([[cb.uint(0), p.payloadItem]]) }), 'ATT_COSE_STRUCTURE'],
    ['indefinite outer array', () => doc({ envelope: (p) => cb.array([cb.bytes(p.protectedBytes), p.unprotected, p.payloadItem, cb.bytes(p.signature)], true) }), 'ATT_CBOR_INDEFINITE'],
    ['chunked payload byte string', () => doc({ envelope: (p) => {
      const payload = p.payloadItem.subarray(3);
      return cb.array([cb.bytes(p.protectedBytes), p.unprotected, cb.chunked(2, [payload.subarray(0, 100), payload.subarray(100)]), cb.bytes(p.signature)]);
    } }), 'ATT_CBOR_INDEFINITE'],
    ['non-minimal payload length (4-byte head)', () => doc({ envelope: (p) => {
      const payload = p.payloadItem.subarray(3);
      return cb.array([cb.bytes(p.protectedBytes), p.unprotected, cb.bytes(payload, 4), cb.bytes(p.signature)]);
    } }), 'ATT_CBOR_NON_MINIMAL'],
    ['declared payload length 2^62 (must not allocate)', () => doc({ envelope: (p) => cb.concat(cb.head(4, 4), cb.bytes(p.protectedBytes), p.unprotected, cb.head(2, 1n << 62n), p.payloadItem.subarray(3)) }), 'ATT_CBOR_TRUNCATED'],
    ['declared array count 2^32 (must not allocate)', () => doc({ envelope: (p) => cb.concat(cb.head(4, 1n << 32n), cb.bytes(p.protectedBytes)) }), 'ATT_CBOR_TRUNCATED'],
    ['5000-deep nesting in the unprotected header', () => doc({ unprotected: cb.concat(cb.head(5, 1), cb.uint(1), new Uint8Array(5000).fill(0x81), cb.uint(0)) }), 'ATT_CBOR_TOO_DEEP'],
    ['alg -7 (ES256), signed consistently', () => doc({ protectedBytes: Uint8Array.of(0xa1, 0x01, 0x26) }), 'ATT_COSE_HEADER'],
    ['alg -36 (ES512)', () => doc({ protectedBytes: Uint8Array.of(0xa1, 0x01, 0x38, 0x23) }), 'ATT_COSE_HEADER'],
    ['alg -37 (PS256)', () => doc({ protectedBytes: Uint8Array.of(0xa1, 0x01, 0x38, 0x24) }), 'ATT_COSE_HEADER'],
    ['alg as text "ES384"', () => doc({ protectedBytes: cb.map([[cb.uint(1), cb.text('ES384')]]) }), 'ATT_COSE_HEADER'],
    ['empty protected header', () => doc({ protectedBytes: new Uint8Array(0) }), 'ATT_COSE_HEADER'],
    ['alg only in the unprotected header', () => doc({ protectedBytes: new Uint8Array(0), unprotected: cb.map([[cb.uint(1), cb.nint(-35)]]) }), 'ATT_COSE_HEADER'],
    ['extra crit in the protected header', () => doc({ protectedBytes: cb.map([[cb.uint(1), cb.nint(-35)], [cb.uint(2), cb.array([cb.uint(1)])]]) }), 'ATT_COSE_HEADER'],
    ['protected header {1: -35} with a non-minimal head', () => doc({ protectedBytes: Uint8Array.of(0xb8, 0x01, 0x01, 0x38, 0x22) }), 'ATT_COSE_HEADER'],
    ['non-empty unprotected header (kid)', () => doc({ unprotected: cb.map([[cb.uint(4), cb.bytes(Uint8Array.of(1))]]) }), 'ATT_COSE_HEADER'],
    ['indefinite empty unprotected map', () => doc({ unprotected: Uint8Array.of(0xbf, 0xff) }), 'ATT_CBOR_INDEFINITE'],
    ['nil payload', () => doc({ envelope: (p) => cb.array([cb.bytes(p.protectedBytes), p.unprotected, cb.NULL, cb.bytes(p.signature)]) }), 'ATT_COSE_STRUCTURE'],
    ['empty payload', () => doc({ envelope: (p) => cb.array([cb.bytes(p.protectedBytes), p.unprotected, cb.bytes(new Uint8Array(0)), cb.bytes(p.signature)]) }), 'ATT_COSE_STRUCTURE'],
    ['payload as text', () => doc({ envelope: (p) => cb.array([cb.bytes(p.protectedBytes), p.unprotected, cb.text('x'), cb.bytes(p.signature)]) }), 'ATT_COSE_STRUCTURE'],
    ['document larger than 20 KiB', async () => cb.concat(await doc(), new Uint8Array(20 * 1024)), 'ATT_INPUT_TOO_LARGE'],
    ['empty input', async () => new Uint8Array(0), 'ATT_INPUT'],
    ['payload over 16384 bytes', () => doc({ envelope: (p) => cb.array([cb.bytes(p.protectedBytes), p.unprotected, cb.bytes(new Uint8Array(16385).fill(0xa0)), cb.bytes(p.signature)]) }), 'ATT_COSE_STRUCTURE'],
  ];
  for (const [name, make, code] of cases) it(`${name} → ${code}`, async () => expectReject(await make(), code));
});

describe('signature hostile cases', () => {
  const n = fromBig(P384_N, 48);
  const cases: [string, DocumentOptions, AttestationErrorCode][] = [
    ['bit flip in r', { signature: (s) => s.map((b, i) => (i === 5 ? b ^ 0x01 : b)) }, 'ATT_SIGNATURE_INVALID'],
    ['bit flip in s', { signature: (s) => s.map((b, i) => (i === 60 ? b ^ 0x80 : b)) }, 'ATT_SIGNATURE_INVALID'],
    ['95 bytes', { signature: (s) => s.subarray(0, 95) }, 'ATT_SIGNATURE_FORMAT'],
    ['97 bytes (leading zero on s)', { signature: (s) => cb.concat(s.subarray(0, 48), Uint8Array.of(0), s.subarray(48)) }, 'ATT_SIGNATURE_FORMAT'],
    ['DER-encoded', { signature: (s) => ecdsaRawToDer(s) }, 'ATT_SIGNATURE_FORMAT'],
    ['r = s = 0', { signature: () => new Uint8Array(96) }, 'ATT_SIGNATURE_FORMAT'],
    ['r = n', { signature: (s) => cb.concat(n, s.subarray(48)) }, 'ATT_SIGNATURE_FORMAT'],
    ['s = n', { signature: (s) => cb.concat(s.subarray(0, 48), n) }, 'ATT_SIGNATURE_FORMAT'],
    ['r = 0xff…ff', { signature: (s) => cb.concat(new Uint8Array(48).fill(0xff), s.subarray(48)) }, 'ATT_SIGNATURE_FORMAT'],
    ['signed over the Sig_structure with a different payload', { signOver: (ss) => ss.map((b, i) => (i === ss.length - 10 ? b ^ 1 : b)) }, 'ATT_SIGNATURE_INVALID'],
    ['signed with SHA-256 instead of SHA-384', { signHash: 'SHA-256' }, 'ATT_SIGNATURE_INVALID'],
    ['signed with external_aad', { signOver: (_ss, p) => sigStructure(Uint8Array.of(0xa1, 0x01, 0x38, 0x22), p, Uint8Array.of(1)) }, 'ATT_SIGNATURE_INVALID'],
    ['Sig_structure "Signature" (COSE_Sign context)', { signOver: (_ss, p) => cb.array([cb.text('Signature'), cb.bytes(Uint8Array.of(0xa1, 0x01, 0x38, 0x22)), cb.bytes(new Uint8Array(0)), cb.bytes(p)]) }, 'ATT_SIGNATURE_INVALID'],
  ];
  for (const [name, o, code] of cases) it(`${name} → ${code}`, async () => expectReject(await doc(o), code));

  it('payload tampered after signing → ATT_SIGNATURE_INVALID', async () => {
    const d = await doc();
    // change one byte of PCR0's value inside the payload (find the 48-byte PCR0 value)
    const pcr0 = defaultPcrs().get(0)!;
    const at = indexOf(d, pcr0);
    expect(at).toBeGreaterThan(0);
    const t = d.slice();
    t[at + 3]! ^= 0x01;
    await expectReject(t, 'ATT_SIGNATURE_INVALID');
  });

  it('signed over a definite re-encoding but sent indefinite → ATT_SIGNATURE_INVALID', async () => {
    let definite!: Uint8Array;
    await doc({ indefinite: false, payload: (p) => (definite = p) });
    const d = await doc({ indefinite: true, signOver: () => sigStructure(Uint8Array.of(0xa1, 0x01, 0x38, 0x22), definite) });
    await expectReject(d, 'ATT_SIGNATURE_INVALID');
  });

  it('document signed by a non-leaf key (the instance CA) → ATT_SIGNATURE_INVALID', async () => {
    await expectReject(await doc({ signer: pki.instance.key }), 'ATT_SIGNATURE_INVALID');
  });

  it('document signed by an unrelated P-384 key → ATT_SIGNATURE_INVALID', async () => {
    await expectReject(await doc({ signer: await newKey() }), 'ATT_SIGNATURE_INVALID');
  });
});

function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

describe('payload hostile cases', () => {
  const K = (s: string): Uint8Array => cb.text(s);
  const cases: [string, DocumentOptions, AttestationErrorCode][] = [
    ['trailing byte after the payload map (signed)', { payload: (p) => cb.concat(p, Uint8Array.of(0x00)) }, 'ATT_CBOR_TRAILING_BYTES'],
    ['payload is an array', { payload: () => cb.array([cb.uint(1)]) }, 'ATT_PAYLOAD_NOT_MAP'],
    ['duplicate nonce', { fields: (f) => [...f, [K('nonce'), cb.bytes(Uint8Array.of(1))]] }, 'ATT_CBOR_DUPLICATE_KEY'],
    ['duplicate module_id', { fields: (f) => [[K('module_id'), cb.text('x')], ...f] }, 'ATT_CBOR_DUPLICATE_KEY'],
    ['unknown field', { fields: (f) => [...f, [K('extra'), cb.NULL]] }, 'ATT_PAYLOAD_UNKNOWN_FIELD'],
    ['field name in another case (Nonce)', { fields: (f) => [...setField(f, 'nonce', undefined), [K('Nonce'), cb.NULL]] }, 'ATT_PAYLOAD_UNKNOWN_FIELD'],
    ...(['module_id', 'digest', 'timestamp', 'pcrs', 'certificate', 'cabundle'] as const).map(
      (name): [string, DocumentOptions, AttestationErrorCode] => [`missing ${name}`, field(name, undefined), 'ATT_PAYLOAD_MISSING_FIELD'],
    ),
    ['module_id null', field('module_id', cb.NULL), 'ATT_MODULE_ID_INVALID'],
    ['module_id empty', field('module_id', cb.text('')), 'ATT_MODULE_ID_INVALID'],
    ['module_id as bytes', field('module_id', cb.bytes(Uint8Array.of(0x69))), 'ATT_MODULE_ID_INVALID'],
    ['digest "SHA256"', field('digest', cb.text('SHA256')), 'ATT_DIGEST_INVALID'],
    ['digest "sha384"', field('digest', cb.text('sha384')), 'ATT_DIGEST_INVALID'],
    ['digest null', field('digest', cb.NULL), 'ATT_DIGEST_INVALID'],
    ['timestamp 0', field('timestamp', cb.uint(0)), 'ATT_TIMESTAMP_INVALID'],
    ['timestamp negative', field('timestamp', cb.nint(-T)), 'ATT_TIMESTAMP_INVALID'],
    ['timestamp float', field('timestamp', cb.float64(T)), 'ATT_TIMESTAMP_INVALID'],
    ['timestamp text', field('timestamp', cb.text(String(T))), 'ATT_TIMESTAMP_INVALID'],
    ['timestamp > 2^53', field('timestamp', cb.uint(1n << 60n)), 'ATT_TIMESTAMP_INVALID'],
    ['timestamp as bignum tag', field('timestamp', cb.tag(2, cb.bytes(cb.uint(T).subarray(1)))), 'ATT_CBOR_TAG_NOT_ALLOWED'],
    ['timestamp with a non-minimal head', field('timestamp', cb.head(0, 5, 8)), 'ATT_CBOR_NON_MINIMAL'],
    ['empty pcrs', field('pcrs', cb.map([])), 'ATT_PCRS_INVALID'],
    ['33 PCRs', field('pcrs', cb.map(Array.from({ length: 33 }, (_, i) => [cb.uint(i), cb.bytes(new Uint8Array(48))] as const))), 'ATT_PCRS_INVALID'],
    ['pcr index 32', field('pcrs', cb.map([[cb.uint(0), cb.bytes(new Uint8Array(48).fill(1))], [cb.uint(32), cb.bytes(new Uint8Array(48))]])), 'ATT_PCRS_INVALID'],
    ['pcr index -1', field('pcrs', cb.map([[cb.nint(-1), cb.bytes(new Uint8Array(48))]])), 'ATT_PCRS_INVALID'],
    ['pcr index as text "0"', field('pcrs', cb.map([[cb.text('0'), cb.bytes(new Uint8Array(48))]])), 'ATT_PCRS_INVALID'],
    ['duplicate pcr index', field('pcrs', cb.map([[cb.uint(0), cb.bytes(new Uint8Array(48))], [cb.uint(0), cb.bytes(new Uint8Array(48).fill(1))]])), 'ATT_CBOR_DUPLICATE_KEY'],
    ['pcr value 47 bytes', field('pcrs', cb.map([[cb.uint(0), cb.bytes(new Uint8Array(47))]])), 'ATT_PCRS_INVALID'],
    ['pcr value 32 bytes with SHA384', field('pcrs', cb.map([[cb.uint(0), cb.bytes(new Uint8Array(32))]])), 'ATT_PCRS_INVALID'],
    ['pcr value 64 bytes with SHA384', field('pcrs', cb.map([[cb.uint(0), cb.bytes(new Uint8Array(64))]])), 'ATT_PCRS_INVALID'],
    ['pcr value null', field('pcrs', cb.map([[cb.uint(0), cb.NULL]])), 'ATT_PCRS_INVALID'],
    ['pcrs as an array', field('pcrs', cb.array([cb.bytes(new Uint8Array(48))])), 'ATT_PCRS_INVALID'],
    ['certificate null', field('certificate', cb.NULL), 'ATT_CERTIFICATE_INVALID'],
    ['certificate empty', field('certificate', cb.bytes(new Uint8Array(0))), 'ATT_CERTIFICATE_INVALID'],
    ['certificate 1025 bytes', field('certificate', cb.bytes(new Uint8Array(1025))), 'ATT_CERTIFICATE_INVALID'],
    ['empty cabundle', field('cabundle', cb.array([])), 'ATT_CABUNDLE_INVALID'],
    ['empty cabundle entry', field('cabundle', cb.array([cb.bytes(new Uint8Array(0))])), 'ATT_CABUNDLE_INVALID'],
    ['cabundle as bytes', field('cabundle', cb.bytes(Uint8Array.of(1, 2, 3))), 'ATT_CABUNDLE_INVALID'],
    ['cabundle entry as text', field('cabundle', cb.array([cb.text('x')])), 'ATT_CABUNDLE_INVALID'],
    ['cabundle of 17 certificates', field('cabundle', cb.array(Array.from({ length: 17 }, () => cb.bytes(Uint8Array.of(0x30))))), 'ATT_CABUNDLE_INVALID'],
    ['1025-byte nonce', { nonce: new Uint8Array(1025) }, 'ATT_OPTIONAL_FIELD_INVALID'],
    ['1025-byte user_data', { userData: new Uint8Array(1025) }, 'ATT_OPTIONAL_FIELD_INVALID'],
    ['nonce as text', field('nonce', cb.text('abcd')), 'ATT_OPTIONAL_FIELD_INVALID'],
    ['user_data = undefined', field('user_data', cb.UNDEFINED), 'ATT_OPTIONAL_FIELD_INVALID'],
    ['public_key as an integer', field('public_key', cb.uint(5)), 'ATT_OPTIONAL_FIELD_INVALID'],
    ['public_key = false', field('public_key', Uint8Array.of(0xf4)), 'ATT_OPTIONAL_FIELD_INVALID'],
    ['integer key', { fields: (f) => [...f, [cb.uint(1), cb.NULL]] }, 'ATT_PAYLOAD_KEY'],
    ['byte-string key', { fields: (f) => [[cb.bytes(new TextEncoder().encode('nonce')), cb.NULL], ...setField(f, 'nonce', undefined)] }, 'ATT_PAYLOAD_KEY'],
    ['chunked (indefinite) text key', { fields: (f) => [[cb.chunked(3, [new TextEncoder().encode('non'), new TextEncoder().encode('ce')]), cb.NULL], ...setField(f, 'nonce', undefined)] }, 'ATT_CBOR_INDEFINITE'],
    ['chunked nonce value', field('nonce', cb.chunked(2, [Uint8Array.of(1), Uint8Array.of(2)])), 'ATT_CBOR_INDEFINITE'],
    ['invalid UTF-8 in module_id', field('module_id', Uint8Array.of(0x62, 0xc3, 0x28)), 'ATT_CBOR_BAD_UTF8'],
    ['unterminated indefinite map', { payload: (p) => p.subarray(0, p.length - 1) }, 'ATT_CBOR_TRUNCATED'],
    ['break byte inside a definite map', { indefinite: false, payload: (p) => cb.concat(p.subarray(0, 1), Uint8Array.of(0xff), p.subarray(1)) }, 'ATT_CBOR_MALFORMED'],
    ['reserved additional information (0x1c)', field('nonce', Uint8Array.of(0x1c)), 'ATT_CBOR_MALFORMED'],
    ['5000-deep nesting in the payload', field('nonce', cb.concat(new Uint8Array(5000).fill(0x81), cb.uint(0))), 'ATT_CBOR_TOO_DEEP'],
  ];
  for (const [name, o, code] of cases) it(`${name} → ${code}`, async () => expectReject(await doc(o), code));

  it('the optional-field limit is configurable', async () => {
    const d = await doc({ nonce: new Uint8Array(600) });
    const strict = await inspectAttestation(d, { at: T, roots: [pki.root.der], maxOptionalFieldBytes: 512 });
    expect(strict.errors.map((e) => e.code)).toEqual(['ATT_OPTIONAL_FIELD_INVALID']);
    const lax = await inspectAttestation(await doc({ nonce: new Uint8Array(2000) }), { at: T, roots: [pki.root.der], maxOptionalFieldBytes: 4096 });
    expect(lax.ok).toBe(true);
  });
});

describe('chain hostile cases', () => {
  it('self-consistent chain to another root → ATT_ROOT_UNTRUSTED', async () => {
    const other = await makePki(T);
    await expectReject(await doc({}, other), 'ATT_ROOT_UNTRUSTED');
  });

  it('another root with the same name and a different key → ATT_ROOT_UNTRUSTED', async () => {
    const other = await makePki(T); // same subject names as pki
    expect(other.root.name).toEqual(pki.root.name);
    await expectReject(await doc({}, other), 'ATT_ROOT_UNTRUSTED', pki);
  });

  it('cabundle reversed → ATT_ROOT_UNTRUSTED', async () => {
    await expectReject(await doc(field('cabundle', cb.array([...pki.cabundle].reverse().map((c) => cb.bytes(c))))), 'ATT_ROOT_UNTRUSTED');
  });

  it('root only in the middle of the bundle → ATT_ROOT_UNTRUSTED', async () => {
    const b = [pki.regional.der, pki.root.der, pki.zonal.der, pki.instance.der];
    await expectReject(await doc(field('cabundle', cb.array(b.map((c) => cb.bytes(c))))), 'ATT_ROOT_UNTRUSTED');
  });

  it('missing intermediate → ATT_CHAIN_ISSUER_MISMATCH', async () => {
    const b = [pki.root.der, pki.regional.der, pki.instance.der];
    await expectReject(await doc(field('cabundle', cb.array(b.map((c) => cb.bytes(c))))), 'ATT_CHAIN_ISSUER_MISMATCH');
  });

  it('unrelated extra CA appended → ATT_CERT_CONSTRAINTS (instance pathLen 0)', async () => {
    const other = await makePki(T);
    const b = [...pki.cabundle, other.zonal.der];
    await expectReject(await doc(field('cabundle', cb.array(b.map((c) => cb.bytes(c))))), 'ATT_CERT_CONSTRAINTS');
  });

  it('non-CA leaf used as an issuer → ATT_CERT_CONSTRAINTS', async () => {
    // chain root → regional → zonal (pathLen 1 raised to 5 so only the CA flag can fail) → leafA (not a CA) → leafB
    const p = await makePki(T, { specs: { regional: { basicConstraints: { ca: true, critical: true } }, zonal: { basicConstraints: { ca: true, critical: true } }, instance: { basicConstraints: { ca: false, critical: true }, keyUsage: { bits: KU.keyCertSign | KU.digitalSignature, critical: true } } } });
    await expectReject(await doc({}, p), 'ATT_CERT_CONSTRAINTS', p);
  });

  it('CA under a pathLen-0 CA → ATT_CERT_CONSTRAINTS', async () => {
    const p = await makePki(T, { specs: { zonal: { basicConstraints: { ca: true, pathLen: 0, critical: true } } } });
    await expectReject(await doc({}, p), 'ATT_CERT_CONSTRAINTS', p);
  });

  it('issuer without basicConstraints → ATT_CERT_CONSTRAINTS', async () => {
    const p = await makePki(T, { specs: { zonal: { basicConstraints: null } } });
    await expectReject(await doc({}, p), 'ATT_CERT_CONSTRAINTS', p);
  });

  it('issuer with non-critical basicConstraints → ATT_CERT_CONSTRAINTS', async () => {
    const p = await makePki(T, { specs: { regional: { basicConstraints: { ca: true, pathLen: 2, critical: false } } } });
    await expectReject(await doc({}, p), 'ATT_CERT_CONSTRAINTS', p);
  });

  it('leaf is CA:TRUE → ATT_CERT_CONSTRAINTS', async () => {
    const p = await makePki(T, { specs: { leaf: { basicConstraints: { ca: true, critical: true } } } });
    await expectReject(await doc({}, p), 'ATT_CERT_CONSTRAINTS', p);
  });

  it('issuer without keyCertSign → ATT_CERT_KEY_USAGE', async () => {
    const p = await makePki(T, { specs: { instance: { keyUsage: { bits: KU.digitalSignature, critical: true } } } });
    await expectReject(await doc({}, p), 'ATT_CERT_KEY_USAGE', p);
  });

  it('leaf without digitalSignature → ATT_CERT_KEY_USAGE', async () => {
    const p = await makePki(T, { specs: { leaf: { keyUsage: { bits: KU.nonRepudiation, critical: false } } } });
    await expectReject(await doc({}, p), 'ATT_CERT_KEY_USAGE', p);
  });

  it('leaf without keyUsage → ATT_CERT_KEY_USAGE', async () => {
    const p = await makePki(T, { specs: { leaf: { keyUsage: null } } });
    await expectReject(await doc({}, p), 'ATT_CERT_KEY_USAGE', p);
  });

  for (const role of ['root', 'regional', 'zonal', 'instance', 'leaf'] as const) {
    it(`${role} expired at T → ATT_CERT_VALIDITY`, async () => {
      const p = await makePki(T, { specs: { [role]: { notBefore: T - 10_000_000, notAfter: T - 1000 } } });
      await expectReject(await doc({}, p), 'ATT_CERT_VALIDITY', p);
    });
  }

  it('leaf not yet valid at T → ATT_CERT_VALIDITY', async () => {
    const p = await makePki(T, { specs: { leaf: { notBefore: T + 1000, notAfter: T + 10_000_000 } } });
    await expectReject(await doc({}, p), 'ATT_CERT_VALIDITY', p);
  });

  it('chain valid at T but not at T + 1 day (verification time outside validity, timestamp inside)', async () => {
    const d = await doc();
    expect((await check(d)).ok).toBe(true);
    await expectReject(d, 'ATT_CERT_VALIDITY', pki, T + 24 * 3_600_000);
  });

  it('P-256 leaf with a 64-byte signature → ATT_SIGNATURE_FORMAT, and the chain check names the key', async () => {
    const p = await makePki(T, { leafCurve: 'P-256' });
    const r = await check(await doc({}, p), p);
    expect(r.codes[0]).toBe('ATT_SIGNATURE_FORMAT');
  });

  it('P-256 leaf when the signature is shaped like P-384 → ATT_CERT_ALGORITHM', async () => {
    const p = await makePki(T, { leafCurve: 'P-256' });
    const d = await doc({ signature: (s) => cb.concat(new Uint8Array(16), s.subarray(0, 32), new Uint8Array(16), s.subarray(32)) }, p);
    await expectReject(d, 'ATT_CERT_ALGORITHM', p);
  });

  it('P-521 leaf → rejected without a crash (signature 132 bytes)', async () => {
    const p = await makePki(T, { leafCurve: 'P-521' });
    await expectReject(await doc({}, p), 'ATT_SIGNATURE_FORMAT', p);
  });

  it('P-521 leaf with a P-384-shaped signature → ATT_CERT_ALGORITHM (no crash)', async () => {
    const p = await makePki(T, { leafCurve: 'P-521' });
    const d = await doc({ signature: (s) => cb.concat(s.subarray(18, 66), s.subarray(84, 132)) }, p);
    await expectReject(d, 'ATT_CERT_ALGORITHM', p);
  });

  it('leaf signed with ecdsa-with-SHA256 → ATT_CERT_ALGORITHM', async () => {
    const p = await makePki(T, { specs: { leaf: { signatureAlgorithm: 'ecdsa-with-SHA256' } } });
    await expectReject(await doc({}, p), 'ATT_CERT_ALGORITHM', p);
  });

  it('intermediate with a P-256 key → ATT_CERT_ALGORITHM', async () => {
    const p = await makePki(T, { keys: { zonal: await newKey('P-256') } });
    await expectReject(await doc({}, p), 'ATT_CERT_ALGORITHM', p);
  });

  it('unknown critical extension → ATT_CERT_CRITICAL_EXTENSION', async () => {
    const p = await makePki(T, { specs: { zonal: { extraExtensions: [{ oid: '1.3.6.1.4.1.99999.1', critical: true, value: Uint8Array.of(0x05, 0x00) }] } } });
    await expectReject(await doc({}, p), 'ATT_CERT_CRITICAL_EXTENSION', p);
  });

  it('unknown NON-critical extension is fine', async () => {
    const p = await makePki(T, { specs: { leaf: { extraExtensions: [{ oid: '1.3.6.1.4.1.99999.1', critical: false, value: Uint8Array.of(0x05, 0x00) }] } } });
    expect((await check(await doc({}, p), p)).ok).toBe(true);
  });

  it('issuer name that is not the parent subject → ATT_CHAIN_ISSUER_MISMATCH', async () => {
    const p = await makePki(T, { specs: { zonal: { issuerName: encodeName('someone else') } } });
    await expectReject(await doc({}, p), 'ATT_CHAIN_ISSUER_MISMATCH', p);
  });

  it('intermediate whose signature does not verify → ATT_CERT_SIGNATURE_INVALID', async () => {
    const other = await newKey();
    // regional certificate signed by an unrelated key but naming the root as issuer
    const p = await makePki(T);
    const forged = await makeCertificate(defaultSpecs(T).regional, p.regional.key, { key: other, name: p.root.name });
    const b = [p.root.der, forged.der, p.zonal.der, p.instance.der];
    await expectReject(await doc(field('cabundle', cb.array(b.map((c) => cb.bytes(c)))), p), 'ATT_CERT_SIGNATURE_INVALID', p);
  });

  it('leaf whose signature does not verify → ATT_CERT_SIGNATURE_INVALID', async () => {
    const forged = await makeCertificate(defaultSpecs(T).leaf, pki.leaf.key, { key: await newKey(), name: pki.instance.name });
    await expectReject(await doc(field('certificate', cb.bytes(forged.der))), 'ATT_CERT_SIGNATURE_INVALID');
  });

  for (const role of ['zonal', 'leaf'] as const) {
    it(`${role} key not on the curve → ATT_CERT_MALFORMED (no crash)`, async () => {
      const good = await newKey();
      const spki = good.spki.slice();
      spki[spki.length - 1]! ^= 0x01; // change y: the point leaves the curve
      const p = await makePki(T, { keys: { [role]: { ...good, spki } } });
      await expectReject(await doc({}, p), 'ATT_CERT_MALFORMED', p);
    });
  }

  it('malformed certificate DER (truncated) → ATT_CERT_MALFORMED', async () => {
    await expectReject(await doc(field('certificate', cb.bytes(pki.leaf.der.subarray(0, 300)))), 'ATT_CERT_MALFORMED');
  });

  it('certificate with explicit critical FALSE (not DER) → ATT_CERT_MALFORMED', async () => {
    const p = pki;
    const leaf = await makeCertificate({ ...defaultSpecs(T).leaf, extraExtensions: [{ oid: '1.3.6.1.4.1.99999.2', critical: false, value: Uint8Array.of(0x05, 0x00) }] }, p.leaf.key, { key: p.instance.key, name: p.instance.name });
    // the writer omits FALSE; insert "01 01 00" after the OID of that extension and fix up the lengths
    const tampered = insertCriticalFalse(leaf.der);
    await expectReject(await doc(field('certificate', cb.bytes(tampered)), p), 'ATT_CERT_MALFORMED', p);
  });
});

/** Insert an explicit BOOLEAN FALSE into the last extension (lengths fixed up, signature left stale). */
function insertCriticalFalse(der: Uint8Array): Uint8Array {
  // Find the marker OID 1.3.6.1.4.1.99999.2 = 06 09 2b 06 01 04 01 86 8d 1f 02
  const marker = Uint8Array.of(0x06, 0x09, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x86, 0x8d, 0x1f, 0x02);
  const at = indexOf(der, marker);
  if (at < 0) throw new Error('marker OID not found');
  const ins = at + marker.length;
  const out = cb.concat(der.subarray(0, ins), Uint8Array.of(0x01, 0x01, 0x00), der.subarray(ins));
  // Every enclosing length grows by 3: bump the extension SEQUENCE, the extensions SEQUENCE, [3], TBS, Certificate.
  // Walk the DER from the top and add 3 to each constructed element whose content spans the insertion point.
  return bumpLengths(out, ins, 3);
}

function bumpLengths(b: Uint8Array, ins: number, delta: number): Uint8Array {
  function walk(start: number, end: number): Uint8Array {
    const chunks: Uint8Array[] = [];
    let p = start;
    while (p < end) {
      const tagByte = b[p]!;
      let len = b[p + 1]!;
      let hl = 2;
      if (len & 0x80) {
        const n = len & 0x7f;
        len = 0;
        for (let i = 0; i < n; i++) len = len * 256 + b[p + 2 + i]!;
        hl = 2 + n;
      }
      const cStart = p + hl;
      // lengths in `b` are the OLD ones; an element containing the insertion point is `delta` longer
      const spans = cStart <= ins && ins <= cStart + len && (tagByte & 0x20) !== 0;
      const realLen = spans ? len + delta : len;
      const content = spans ? walk(cStart, cStart + realLen) : b.subarray(cStart, cStart + realLen);
      chunks.push(derHead(tagByte, content.length), content);
      p = cStart + realLen;
    }
    return cb.concat(...chunks);
  }
  return walk(0, b.length);
}

function derHead(tagByte: number, len: number): Uint8Array {
  if (len < 0x80) return Uint8Array.of(tagByte, len);
  if (len < 0x100) return Uint8Array.of(tagByte, 0x81, len);
  return Uint8Array.of(tagByte, 0x82, len >> 8, len & 0xff);
}
