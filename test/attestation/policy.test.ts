/**
 * Policy checks of verifyAttestation (attestation.md §2.2 steps 6–7 and the policy list at the end of §7.1):
 * PCRs as bytes, debug mode, nonce / user data / public key as bytes, freshness, EIF measurements, the empty
 * policy, and "never throws".
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { parseDuration, parsePolicyJson, verifyAttestation, type VerifyOptions } from '../../src/attestation/index.js';
import { fromHex, toHex } from '../../src/util/hex.js';
import { describeShared, readShared } from '../helpers/shared.js';
import { defaultPcrs, makeDocument, makePki, type DocumentOptions, type Pki } from './helpers/generator.js';

const T = Date.UTC(2026, 8, 21, 12, 0, 0);
let pki: Pki;
let plain: Uint8Array;
const pcrs = defaultPcrs();
const hex = (i: number): string => toHex(pcrs.get(i)!);

beforeAll(async () => {
  pki = await makePki(T);
  plain = await makeDocument(pki, T, { nonce: Uint8Array.of(0xab, 0xcd), userData: new TextEncoder().encode('hello'), publicKey: Uint8Array.of(1, 2, 3) });
});

async function codes(doc: Uint8Array, o: VerifyOptions): Promise<string[]> {
  const r = await verifyAttestation(doc, { at: T, roots: [pki.root.der], ...o });
  expect(r.ok).toBe(r.errors.length === 0);
  return r.errors.map((e) => e.code);
}
const doc = (o: DocumentOptions = {}): Promise<Uint8Array> => makeDocument(pki, T, o);

describe('PCR policy', () => {
  it('matches expected PCRs given as lowercase hex, uppercase hex, 0x-prefixed hex or bytes', async () => {
    expect(await codes(plain, { expectedPcrs: { 0: hex(0), 1: hex(1).toUpperCase(), '2': '0x' + hex(2), 4: pcrs.get(4)! } })).toEqual([]);
  });

  it('accepts "PCRn" keys', async () => {
    expect(await codes(plain, { expectedPcrs: { PCR0: hex(0), pcr3: hex(3) } as never })).toEqual([]);
  });

  it('reports a mismatch with both values', async () => {
    const r = await verifyAttestation(plain, { at: T, roots: [pki.root.der], expectedPcrs: { 0: hex(0), 2: hex(1) } });
    expect(r.errors.map((e) => e.code)).toEqual(['ATT_PCR_MISMATCH']);
    expect(r.errors[0]!.message).toContain(hex(1));
    expect(r.errors[0]!.message).toContain(hex(2));
  });

  it('reports every mismatching PCR', async () => {
    expect(await codes(plain, { expectedPcrs: { 0: hex(1), 1: hex(2), 2: hex(2) } })).toEqual(['ATT_PCR_MISMATCH', 'ATT_PCR_MISMATCH']);
  });

  it('a PCR the document does not have → ATT_PCR_MISSING', async () => {
    expect(await codes(plain, { expectedPcrs: { 0: hex(0), 16: hex(1) } })).toEqual(['ATT_PCR_MISSING']);
  });

  it('compares exact length: a prefix of the value is refused as a policy error', async () => {
    expect(await codes(plain, { expectedPcrs: { 0: hex(0).slice(0, 64) } })).toEqual(['ATT_POLICY_INVALID']);
  });

  it('debug-mode documents (PCR0/1/2 zero) are refused unless allowDebug', async () => {
    const zero = new Map(pcrs);
    for (const i of [0, 1, 2]) zero.set(i, new Uint8Array(48));
    const dbg = await doc({ pcrs: zero, nonce: Uint8Array.of(1) });
    expect(await codes(dbg, { nonce: Uint8Array.of(1) })).toEqual(['ATT_DEBUG_MODE']);
    // expecting zeros explicitly is still refused without allowDebug
    expect(await codes(dbg, { expectedPcrs: { 0: '00'.repeat(48) } })).toEqual(['ATT_DEBUG_MODE']);
    expect(await codes(dbg, { expectedPcrs: { 0: '00'.repeat(48) }, allowDebug: true })).toEqual([]);
    // real PCRs expected, zeros found
    expect(await codes(dbg, { expectedPcrs: { 0: hex(0) } })).toEqual(['ATT_DEBUG_MODE', 'ATT_PCR_MISMATCH']);
  });

  it('a single zero PCR (e.g. PCR8 of an unsigned image) is not debug mode', async () => {
    expect(await codes(plain, { expectedPcrs: { 8: '00'.repeat(48) } })).toEqual([]);
  });

  it('EIF measurements: PCR0/1/2 (and PCR8 when present) are expected', async () => {
    const m = { HashAlgorithm: 'Sha384 { ... }', PCR0: hex(0), PCR1: hex(1), PCR2: hex(2) };
    expect(await codes(plain, { eif: m })).toEqual([]);
    expect(await codes(plain, { eif: { ...m, PCR8: hex(0) } })).toEqual(['ATT_PCR_MISMATCH']);
    expect(await codes(plain, { eif: { ...m, PCR1: hex(0) } })).toEqual(['ATT_PCR_MISMATCH']);
  });

  it('EIF bytes go through the measurer', async () => {
    const seen: Uint8Array[] = [];
    const measureEif = async (b: Uint8Array) => {
      seen.push(b);
      return { PCR0: hex(0), PCR1: hex(1), PCR2: hex(2) };
    };
    expect(await codes(plain, { eif: Uint8Array.of(1, 2, 3), measureEif })).toEqual([]);
    expect(seen).toHaveLength(1);
    const failing = async (): Promise<never> => {
      throw new Error('not an EIF');
    };
    expect(await codes(plain, { eif: Uint8Array.of(1, 2, 3), measureEif: failing })).toEqual(['ATT_EIF_UNREADABLE']);
  });
});

describe('nonce, user data, public key', () => {
  it('equal bytes pass', async () => {
    expect(await codes(plain, { nonce: Uint8Array.of(0xab, 0xcd), userData: new TextEncoder().encode('hello'), publicKey: Uint8Array.of(1, 2, 3) })).toEqual([]);
  });

  it('different bytes fail, each with its own code', async () => {
    expect(await codes(plain, { nonce: Uint8Array.of(0xab), userData: new Uint8Array(5), publicKey: Uint8Array.of(1, 2, 4) })).toEqual([
      'ATT_NONCE_MISMATCH',
      'ATT_USER_DATA_MISMATCH',
      'ATT_PUBLIC_KEY_MISMATCH',
    ]);
  });

  it('equal only after a UTF-8 or hex conversion is a mismatch', async () => {
    // the document nonce is the bytes ab cd; the text "abcd" is different bytes
    expect(await codes(plain, { nonce: new TextEncoder().encode('abcd') })).toEqual(['ATT_NONCE_MISMATCH']);
  });

  it('a string is refused (comparison is byte-exact; convert explicitly)', async () => {
    expect(await codes(plain, { nonce: 'abcd' as never })).toEqual(['ATT_POLICY_INVALID']);
  });

  it('expected but absent (null) → mismatch', async () => {
    const d = await doc();
    expect(await codes(d, { nonce: Uint8Array.of(1) })).toEqual(['ATT_NONCE_MISMATCH']);
    expect(await codes(d, { userData: new Uint8Array(0) })).toEqual(['ATT_USER_DATA_MISMATCH']);
  });

  it('an empty expected value matches h\'\' but not null', async () => {
    const d = await doc({ userData: new Uint8Array(0) });
    expect(await codes(d, { userData: new Uint8Array(0) })).toEqual([]);
  });
});

describe('freshness', () => {
  it('maxAgeMs: fresh passes, stale fails', async () => {
    expect(await codes(plain, { maxAgeMs: 60_000, at: T + 59_000 })).toEqual([]);
    expect(await codes(plain, { maxAgeMs: 60_000, at: T + 61_000 })).toEqual(['ATT_TIMESTAMP_STALE']);
  });

  it('a timestamp in the future is refused beyond the clock skew (default 60 s)', async () => {
    const future = await doc({ timestamp: T + 5 * 60_000 });
    expect(await codes(future, { nonce: undefined, maxAgeMs: 3_600_000 })).toEqual(['ATT_TIMESTAMP_FUTURE']);
    const soon = await doc({ timestamp: T + 30_000 });
    expect(await codes(soon, { maxAgeMs: 3_600_000 })).toEqual([]);
    expect(await codes(soon, { maxAgeMs: 3_600_000, clockSkewMs: 0 })).toEqual(['ATT_TIMESTAMP_FUTURE']);
  });

  it('the future check runs with any policy, not only with maxAgeMs', async () => {
    const future = await doc({ timestamp: T + 3_600_000, nonce: Uint8Array.of(9) });
    expect(await codes(future, { nonce: Uint8Array.of(9) })).toEqual(['ATT_TIMESTAMP_FUTURE']);
  });

  it('at accepts a Date', async () => {
    const r = await verifyAttestation(plain, { at: new Date(T), roots: [pki.root.der], maxAgeMs: 1000 });
    expect(r.ok).toBe(true);
  });
});

describe('fail-closed policy', () => {
  it('a policy with nothing to check is refused, not passed', async () => {
    expect(await codes(plain, {})).toEqual(['ATT_POLICY_EMPTY']);
    expect(await codes(plain, { expectedPcrs: {} })).toEqual(['ATT_POLICY_EMPTY']);
    expect(await codes(plain, { allowDebug: true })).toEqual(['ATT_POLICY_EMPTY']);
  });

  it('policy errors come first, authenticity errors are still reported', async () => {
    const bad = plain.slice();
    bad[bad.length - 1]! ^= 1;
    expect(await codes(bad, { expectedPcrs: { 40: hex(0) } })).toEqual(['ATT_POLICY_INVALID', 'ATT_SIGNATURE_INVALID']);
  });

  it('authenticity failures and policy failures are both listed', async () => {
    const r = await verifyAttestation(plain, { at: T + 86_400_000, roots: [pki.root.der], expectedPcrs: { 0: hex(1) } });
    expect(r.errors.map((e) => e.code)).toEqual(['ATT_CERT_VALIDITY', 'ATT_PCR_MISMATCH']);
    expect(r.document?.moduleId).toBeTruthy();
  });

  it('invalid policy values are reported, not thrown', async () => {
    for (const o of [
      { expectedPcrs: { 32: hex(0) } },
      { expectedPcrs: { x: hex(0) } },
      { expectedPcrs: { 0: 'zz' } },
      { expectedPcrs: { 0: 5 as never } },
      { expectedPcrs: 'nope' as never },
      { maxAgeMs: -1 },
      { maxAgeMs: Number.NaN },
      { eif: 5 as never },
      { eif: { PCR0: hex(0) } as never },
      { clockSkewMs: -5, nonce: Uint8Array.of(1) },
    ] as VerifyOptions[]) {
      expect(await codes(plain, o)).toContain('ATT_POLICY_INVALID');
    }
  });
});

describe('never throws', () => {
  it('on hostile arguments', async () => {
    const inputs: unknown[] = [null, undefined, 5, {}, [], 'not base64!', new Uint8Array(0), new Uint8Array(100_000), new ArrayBuffer(8)];
    for (const i of inputs) {
      const r = await verifyAttestation(i as Uint8Array, { nonce: Uint8Array.of(1) });
      expect(r.ok).toBe(false);
      expect(r.errors.length).toBeGreaterThan(0);
    }
    for (const o of [null, 5, { at: 'yesterday' }, { at: new Date(NaN) }, { roots: [] }, { roots: ['junk'] }, { roots: [new Uint8Array([0x30, 0])] }, { roots: 7 }]) {
      const r = await verifyAttestation(plain, o as never);
      expect(r.ok).toBe(false);
      expect(r.errors[0]!.code).toMatch(/^ATT_(OPTIONS|ROOTS|POLICY)_/);
    }
  });

  it('accepts base64 and hex text documents', async () => {
    const b64 = btoa(String.fromCharCode(...plain));
    const o = { at: T, roots: [pki.root.der], maxAgeMs: 1000 };
    expect((await verifyAttestation(b64, o)).ok).toBe(true);
    expect((await verifyAttestation(b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''), o)).ok).toBe(true);
    expect((await verifyAttestation(toHex(plain), o)).ok).toBe(true);
    expect((await verifyAttestation(b64.replace(/(.{76})/g, '$1\n'), o)).ok).toBe(true);
  });

  it('roots as PEM text', async () => {
    const pem = `-----BEGIN CERTIFICATE-----\n${btoa(String.fromCharCode(...pki.root.der)).replace(/(.{64})/g, '$1\n')}\n-----END CERTIFICATE-----\n`;
    const r = await verifyAttestation(plain, { at: T, roots: [pem], maxAgeMs: 1000 });
    expect(r.errors).toEqual([]);
  });
});

describe('policy JSON and durations', () => {
  it('nitro-cli Measurements', () => {
    const p = parsePolicyJson(JSON.stringify({ EifVersion: 4, Measurements: { HashAlgorithm: 'Sha384 { ... }', PCR0: 'aa', PCR1: 'bb', PCR2: 'cc' } }));
    // an image's measurements without PCR8 are of an unsigned image: PCR8 must be zero
    expect(p.expectedPcrs).toEqual({ 0: 'aa', 1: 'bb', 2: 'cc', 8: '0'.repeat(96) });
    const signed = parsePolicyJson(JSON.stringify({ IsSigned: true, Measurements: { HashAlgorithm: 'x', PCR0: 'aa', PCR1: 'bb', PCR2: 'cc', PCR8: 'dd' } }));
    expect(signed.expectedPcrs).toEqual({ 0: 'aa', 1: 'bb', 2: 'cc', 8: 'dd' });
    expect(parsePolicyJson('{"HashAlgorithm":"Sha384 { ... }","PCR0":"aa","PCR1":"bb","PCR2":"cc"}').expectedPcrs).toEqual({ 0: 'aa', 1: 'bb', 2: 'cc', 8: '0'.repeat(96) });
    expect(() => parsePolicyJson(JSON.stringify({ IsSigned: true, Measurements: { PCR0: 'aa', PCR1: 'bb', PCR2: 'cc' } }))).toThrow(/IsSigned/);
    expect(() => parsePolicyJson(JSON.stringify({ Measurements: { PCR0: 'aa' } }))).toThrow(/lack PCR1, PCR2/);
  });

  it('top-level PCRn keys', () => {
    expect(parsePolicyJson('{"PCR0":"aa","PCR8":"bb"}').expectedPcrs).toEqual({ 0: 'aa', 8: 'bb' });
    expect(() => parsePolicyJson('{"PCR0":"aa","nonce":"00"}')).toThrow(/unknown key/);
  });

  it('full policy', () => {
    const p = parsePolicyJson('{"pcrs":{"0":"aa","4":"bb"},"nonce":"abcd","user_data":"","publicKey":"01","maxAge":"5m","allowDebug":true}');
    expect(p.expectedPcrs).toEqual({ 0: 'aa', 4: 'bb' });
    expect([...p.nonce!]).toEqual([0xab, 0xcd]);
    expect(p.userData).toEqual(new Uint8Array(0));
    expect([...p.publicKey!]).toEqual([1]);
    expect(p.maxAgeMs).toBe(300_000);
    expect(p.allowDebug).toBe(true);
  });

  it('refuses typos and bad values', () => {
    for (const bad of ['[]', 'null', '{"nonse":"00"}', '{"nonce":"abc"}', '{"nonce":5}', '{"pcrs":{"33":"aa"}}', '{"maxAge":"soon"}', '{"allowDebug":"yes"}', 'nope']) {
      expect(() => parsePolicyJson(bad), bad).toThrow();
    }
  });

  it('durations', () => {
    expect(parseDuration('500')).toBe(500);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('5m')).toBe(300_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('2d')).toBe(172_800_000);
    expect(() => parseDuration('5 minutes')).toThrow();
    expect(() => parseDuration('-1s')).toThrow();
  });
});

describeShared('EIF bytes through the EIF reader (shared synthetic EIFs)', () => {
  const expected = (): Record<string, { measurements: Record<string, string> }> =>
    JSON.parse(new TextDecoder().decode(readShared('eif', 'synthetic', 'expected.json')));

  it('a signed EIF sets PCR0/1/2 and PCR8; an unsigned one PCR0/1/2 and PCR8 = zeros (fail-closed)', async () => {
    const m = expected()['synthetic/min-signed.eif']!.measurements;
    const asPcrs = new Map(defaultPcrs());
    for (const [k, v] of Object.entries(m)) asPcrs.set(Number(k.slice(3)), fromHex(v));
    const d = await doc({ pcrs: asPcrs });
    expect(await codes(d, { eif: readShared('eif', 'synthetic', 'min-signed.eif') })).toEqual([]);
    // same PCR0/1/2, but the enclave is signed and the image is not: PCR8 must be zero (was: not checked)
    expect(await codes(d, { eif: readShared('eif', 'synthetic', 'min-unsigned.eif') })).toEqual(['ATT_PCR_MISMATCH']);
    asPcrs.set(8, new Uint8Array(48));
    expect(await codes(await doc({ pcrs: asPcrs }), { eif: readShared('eif', 'synthetic', 'min-unsigned.eif') })).toEqual([]);
    // the document of another image fails
    expect(await codes(plain, { eif: readShared('eif', 'synthetic', 'min-signed.eif') })).toEqual([
      'ATT_PCR_MISMATCH',
      'ATT_PCR_MISMATCH',
      'ATT_PCR_MISMATCH',
      'ATT_PCR_MISMATCH',
    ]);
  });

  it('bytes that are not an EIF → ATT_EIF_UNREADABLE', async () => {
    expect(await codes(plain, { eif: new Uint8Array(600) })).toEqual(['ATT_EIF_UNREADABLE']);
  });
});
