/**
 * The signature section's bytes (eif-format.md §4.1–§4.3): our encoder (src/cbor/encode.ts) must
 * write exactly what serde_cbor writes — pinned against the AWS-tool-checked synthetic vectors and against a
 * naive reference encoder written here from the spec's rules.
 */
import { describe, expect, it } from 'vitest';
import { describeShared, readShared } from '../helpers/shared.js';
import { encodePcrPayload, encodeSignatureSection, decodeSignatureSection } from '../../src/signing/section.js';
import { encodeCoseSign1, encodeProtectedHeader, sigStructure1 } from '../../src/cose/sign1-encode.js';
import { decodeEifCoseSign1 } from '../../src/signing/verify.js';
import { fromHex, toHex } from '../../src/util/hex.js';

const PCR0 = '091f733861ce80047477464aae689f6e655f9b1fac7845361b8f45de7627f50d24b2d23d5e62b2aa1ae725129feb7163';

/** serde_cbor's rules, spelled out (§4.1): shortest heads; Vec<u8> as an array of uints. */
function head(major: number, n: number): number[] {
  if (n < 24) return [(major << 5) | n];
  if (n < 0x100) return [(major << 5) | 24, n];
  if (n < 0x10000) return [(major << 5) | 25, n >> 8, n & 0xff];
  return [(major << 5) | 26, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
}
const text = (s: string) => [...head(3, s.length), ...new TextEncoder().encode(s)];
const uintArray = (b: Uint8Array) => [...head(4, b.length), ...Array.from(b).flatMap((x) => head(0, x))];
function referenceSection(cert: Uint8Array, cose: Uint8Array): Uint8Array {
  return new Uint8Array([0x81, 0xa2, ...text('signing_certificate'), ...uintArray(cert), ...text('signature'), ...uintArray(cose)]);
}

describe('serde_cbor-exact encoding', () => {
  it('payload {register_index: 0, register_value: [PCR0 as uints]}', () => {
    const pcr0 = fromHex(PCR0);
    const expected = new Uint8Array([0xa2, ...text('register_index'), 0x00, ...text('register_value'), ...uintArray(pcr0)]);
    expect(toHex(encodePcrPayload(pcr0))).toBe(toHex(expected));
  });

  it('section: byte values on both sides of 24 and arrays whose length needs 0, 1 and 2 extra bytes', () => {
    for (const n of [0, 1, 23, 24, 255, 256, 1000, 70000]) {
      const cert = Uint8Array.from({ length: n }, (_, i) => (i * 37 + 11) & 0xff);
      const cose = Uint8Array.from({ length: (n % 300) + 1 }, (_, i) => (i === 0 ? 23 : i === 1 ? 24 : (i * 101) & 0xff));
      expect(toHex(encodeSignatureSection(cert, cose))).toBe(toHex(referenceSection(cert, cose)));
    }
  });

  it('protected headers {1: alg} and the Sig_structure prefix', () => {
    expect(toHex(encodeProtectedHeader(-7))).toBe('a10126');
    expect(toHex(encodeProtectedHeader(-35))).toBe('a1013822');
    expect(toHex(encodeProtectedHeader(-36))).toBe('a1013823');
    const tbs = sigStructure1(fromHex('a1013822'), new Uint8Array([1, 2, 3]));
    expect(toHex(tbs)).toBe('84' + '6a' + toHex(new TextEncoder().encode('Signature1')) + '44a1013822' + '40' + '43010203');
  });

  it('COSE_Sign1 untagged by default, tag 18 on request', () => {
    const m = encodeCoseSign1(fromHex('a10126'), new Uint8Array([9]), new Uint8Array(64));
    expect(toHex(m.subarray(0, 8))).toBe('8443a10126a04109');
    expect(encodeCoseSign1(fromHex('a10126'), new Uint8Array([9]), new Uint8Array(64), { tagged: true })[0]).toBe(0xd2);
  });

  it('decode(encode(x)) = x', () => {
    const cert = new TextEncoder().encode('-----BEGIN CERTIFICATE-----\n…\n');
    const cose = Uint8Array.from({ length: 200 }, (_, i) => i);
    const back = decodeSignatureSection(encodeSignatureSection(cert, cose));
    expect(toHex(back.certificatePem)).toBe(toHex(cert));
    expect(toHex(back.coseSign1)).toBe(toHex(cose));
  });
});

describeShared('synthetic AWS-checked vectors (shared/test-vectors/eif/synthetic)', () => {
  const section = readShared('eif/synthetic/signature-section.cbor');
  const cose = readShared('eif/synthetic/cose_sign1.cbor');
  const payload = readShared('eif/synthetic/pcr0-payload.cbor');
  const cert = readShared('eif/synthetic/test-signing-cert.pem');

  it('the PCR0 payload is byte-identical', () => {
    expect(toHex(encodePcrPayload(fromHex(PCR0)))).toBe(toHex(payload));
  });

  it('re-encoding the COSE_Sign1 from its parts gives the same bytes (untagged, {1: -35}, empty map)', () => {
    const parsed = decodeEifCoseSign1(cose);
    expect(parsed.message.tagged).toBe(false);
    expect(toHex(parsed.message.protectedBytes)).toBe('a1013822');
    expect(parsed.message.unprotectedHeader.entries).toHaveLength(0);
    expect(toHex(parsed.payload)).toBe(toHex(payload));
    expect(toHex(encodeCoseSign1(encodeProtectedHeader(-35), payload, parsed.message.signature))).toBe(toHex(cose));
  });

  it('the whole section is byte-identical (certificate file bytes + COSE bytes as uint arrays)', () => {
    expect(toHex(encodeSignatureSection(cert, cose))).toBe(toHex(section));
    const back = decodeSignatureSection(section);
    expect(toHex(back.certificatePem)).toBe(toHex(cert));
    expect(toHex(back.coseSign1)).toBe(toHex(cose));
  });
});
