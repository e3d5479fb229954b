/**
 * COSE_Sign1 reading and verification (src/cose): the shared COSE-C vectors (ES256 tagged, ES384, ES512), our
 * own messages on all three curves (round trip with src/cose/sign1-encode.ts), high-S, tampering, and the
 * structural errors with their codes.
 */
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { CborError } from '../../src/cbor/decode.js';
import {
  checkEcdsaSignatureShape,
  coseSign1Algorithm,
  CoseError,
  decodeCoseSign1,
  encodeCoseSign1,
  encodeProtectedHeader,
  verifyCoseSign1,
} from '../../src/cose/index.js';
import { ecdsaSignatureShapeProblem, importEcdsaPublicKey } from '../../src/pki/ecdsa.js';
import { ES256, ES384, ES512, type EcdsaAlgorithm } from '../../src/pki/algorithms.js';
import { sigStructure1 } from '../../src/cose/sign1-encode.js';
import { fromHex } from '../../src/util/hex.js';
import { describeShared, readShared, sharedPath } from '../helpers/shared.js';
import * as cb from '../attestation/helpers/cbor-writer.js';
import { fromBig, newKey, signRaw, toBig, type Curve } from '../attestation/helpers/generator.js';

const ALGS: [Curve, EcdsaAlgorithm][] = [
  ['P-256', ES256],
  ['P-384', ES384],
  ['P-521', ES512],
];

function coseCode(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    if (e instanceof CoseError || e instanceof CborError) return e.code;
    throw e;
  }
  return 'OK';
}

describeShared('COSE-C vectors (shared test-vectors/eif/cose)', () => {
  const meta = JSON.parse(readFileSync(sharedPath('eif', 'cose', 'cose-c-vectors.json'), 'utf8')) as Record<
    string,
    { public_x_hex: string; public_y_hex: string; tagged_18: boolean; file: string; payload_utf8: string }
  >;
  for (const [name, alg] of [['es256', ES256], ['es384', ES384], ['es512', ES512]] as const) {
    it(`${name}: decodes, names its alg, verifies; a changed payload does not`, async () => {
      const v = meta[name]!;
      const bytes = readShared('eif', 'cose', v.file);
      // COSE-C writes tag 18 in the two-byte form d9 00 12: refused by default (not shortest form), read when relaxed
      const nonMinimalTag = bytes[0] === 0xd9;
      if (nonMinimalTag) expect(coseCode(() => decodeCoseSign1(bytes))).toBe('CBOR_NON_MINIMAL');
      const m = decodeCoseSign1(bytes, nonMinimalTag ? { cbor: { allowNonMinimal: true } } : {});
      expect(m.tagged).toBe(v.tagged_18);
      expect(new TextDecoder().decode(m.payload!)).toBe(v.payload_utf8);
      expect(coseSign1Algorithm(m)).toBe(alg);
      expect(m.unprotectedHeader.entries).toHaveLength(1); // kid
      const key = await importEcdsaPublicKey(cb.concat(Uint8Array.of(4), fromHex(v.public_x_hex), fromHex(v.public_y_hex)), alg, 'raw');
      expect(await verifyCoseSign1(m, key)).toBe(true);
      const changed = { ...m, payload: m.payload!.map((b, i) => (i === 0 ? b ^ 1 : b)) };
      expect(await verifyCoseSign1(changed, key)).toBe(false);
      expect(await verifyCoseSign1(m, key, { externalAad: Uint8Array.of(1) })).toBe(false);
      expect(coseCode(() => decodeCoseSign1(bytes, { tag: v.tagged_18 ? 'forbidden' : 'required', cbor: { allowNonMinimal: true } }))).toBe('COSE_TAG');
    });
  }
});

describe('own messages on every curve', () => {
  for (const [curve, alg] of ALGS) {
    it(`${alg.name}: sign → encode → decode → verify, tagged and untagged, and the (r, n−s) twin`, async () => {
      const key = await newKey(curve);
      const protectedBytes = encodeProtectedHeader(alg.coseAlg);
      const payload = new TextEncoder().encode('payload ' + alg.name);
      const sig = await signRaw(key, sigStructure1(protectedBytes, payload));
      expect(sig.length).toBe(2 * alg.size);
      const verifyKey = await importEcdsaPublicKey(key.spki, alg);
      for (const tagged of [false, true]) {
        const m = decodeCoseSign1(encodeCoseSign1(protectedBytes, payload, sig, { tagged }));
        expect(m.tagged).toBe(tagged);
        expect(await verifyCoseSign1(m, verifyKey)).toBe(true);
      }
      const n = { 'P-256': ES256, 'P-384': ES384, 'P-521': ES512 }[curve];
      expect(n).toBe(alg);
      const order = BigInt(
        {
          'P-256': '0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551',
          'P-384': '0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973',
          'P-521': '0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409',
        }[curve],
      );
      const twin = cb.concat(sig.subarray(0, alg.size), fromBig(order - toBig(sig.subarray(alg.size)), alg.size));
      expect(await verifyCoseSign1(decodeCoseSign1(encodeCoseSign1(protectedBytes, payload, twin)), verifyKey)).toBe(true);
      // s = n is out of range
      expect(ecdsaSignatureShapeProblem(cb.concat(sig.subarray(0, alg.size), fromBig(order, alg.size)), alg)).toMatch(/s out of range/);
      expect(await verifyCoseSign1(decodeCoseSign1(encodeCoseSign1(protectedBytes, payload, cb.concat(sig.subarray(0, alg.size), fromBig(order, alg.size)))), verifyKey)).toBe(false);
    });
  }

  it('a detached payload needs detachedPayload', async () => {
    const key = await newKey('P-384');
    const protectedBytes = encodeProtectedHeader(-35);
    const payload = Uint8Array.of(1, 2, 3);
    const sig = await signRaw(key, sigStructure1(protectedBytes, payload));
    const m = decodeCoseSign1(cb.array([cb.bytes(protectedBytes), cb.map([]), cb.NULL, cb.bytes(sig)]));
    expect(m.payload).toBeNull();
    const k = await importEcdsaPublicKey(key.spki, ES384);
    await expect(verifyCoseSign1(m, k)).rejects.toMatchObject({ code: 'COSE_STRUCTURE' });
    expect(await verifyCoseSign1(m, k, { detachedPayload: payload })).toBe(true);
  });

  it('the required algorithm must match the header', async () => {
    const key = await newKey('P-384');
    const m = decodeCoseSign1(encodeCoseSign1(encodeProtectedHeader(-35), Uint8Array.of(1), new Uint8Array(96).fill(1)));
    await expect(verifyCoseSign1(m, await importEcdsaPublicKey(key.spki, ES384), { algorithm: ES256 })).rejects.toMatchObject({ code: 'COSE_ALG' });
  });
});

describe('structure errors', () => {
  const sig = cb.bytes(new Uint8Array(96).fill(1));
  const prot = cb.bytes(Uint8Array.of(0xa1, 0x01, 0x38, 0x22));
  const cases: [string, Uint8Array, string][] = [
    ['tag 17', cb.tag(17, cb.array([prot, cb.map([]), cb.bytes(Uint8Array.of(1)), sig])), 'COSE_TAG'],
    ['not an array', cb.map([]), 'COSE_STRUCTURE'],
    ['3 elements', cb.array([prot, cb.map([]), cb.bytes(Uint8Array.of(1))]), 'COSE_STRUCTURE'],
    ['protected as a map', cb.array([cb.map([]), cb.map([]), cb.bytes(Uint8Array.of(1)), sig]), 'COSE_STRUCTURE'],
    ['unprotected as bytes', cb.array([prot, cb.bytes(new Uint8Array(0)), cb.bytes(Uint8Array.of(1)), sig]), 'COSE_STRUCTURE'],
    ['payload as an int', cb.array([prot, cb.map([]), cb.uint(1), sig]), 'COSE_STRUCTURE'],
    ['signature as text', cb.array([prot, cb.map([]), cb.bytes(Uint8Array.of(1)), cb.text('x')]), 'COSE_STRUCTURE'],
    ['protected not a map', cb.array([cb.bytes(cb.uint(1)), cb.map([]), cb.bytes(Uint8Array.of(1)), sig]), 'COSE_HEADER'],
    ['protected not CBOR', cb.array([cb.bytes(Uint8Array.of(0xa1, 0x01)), cb.map([]), cb.bytes(Uint8Array.of(1)), sig]), 'COSE_HEADER'],
    ['trailing bytes', cb.concat(cb.array([prot, cb.map([]), cb.bytes(Uint8Array.of(1)), sig]), Uint8Array.of(0)), 'CBOR_TRAILING_BYTES'],
  ];
  for (const [name, bytes, c] of cases) it(`${name} → ${c}`, () => expect(coseCode(() => decodeCoseSign1(bytes))).toBe(c));

  it('alg missing, text, or unsupported → COSE_ALG', () => {
    for (const p of [cb.map([]), cb.map([[cb.uint(1), cb.text('ES384')]]), cb.map([[cb.uint(1), cb.nint(-37)]]), cb.map([[cb.uint(1), cb.uint(1n << 40n)]])]) {
      const m = decodeCoseSign1(cb.array([cb.bytes(p), cb.map([]), cb.bytes(Uint8Array.of(1)), sig]));
      expect(coseCode(() => coseSign1Algorithm(m))).toBe('COSE_ALG');
    }
    // an empty protected byte string is the empty map
    const m = decodeCoseSign1(cb.array([cb.bytes(new Uint8Array(0)), cb.map([[cb.uint(1), cb.nint(-35)]]), cb.bytes(Uint8Array.of(1)), sig]));
    expect(m.protectedHeader.entries).toHaveLength(0);
    expect(coseCode(() => coseSign1Algorithm(m))).toBe('COSE_ALG'); // alg only unprotected does not count
  });

  it('signature shape', () => {
    expect(coseCode(() => checkEcdsaSignatureShape(new Uint8Array(95).fill(1), ES384))).toBe('COSE_SIGNATURE_FORMAT');
    expect(coseCode(() => checkEcdsaSignatureShape(new Uint8Array(96), ES384))).toBe('COSE_SIGNATURE_FORMAT');
    expect(coseCode(() => checkEcdsaSignatureShape(new Uint8Array(96).fill(1), ES384))).toBe('OK');
    expect(coseCode(() => checkEcdsaSignatureShape(new Uint8Array(96).fill(1), ES256))).toBe('COSE_SIGNATURE_FORMAT');
    expect(coseCode(() => checkEcdsaSignatureShape(new Uint8Array(132).fill(0xff), ES512))).toBe('COSE_SIGNATURE_FORMAT');
  });
});
