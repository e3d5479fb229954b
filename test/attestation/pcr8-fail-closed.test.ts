/**
 * Regression (issue "Trust and drop-in", security): measurements used as an attestation policy must pin PCR8.
 * Before the fix, Node's `measureEifFile(path)` dropped PCR8 of signed images and the policy skipped an absent PCR8, so
 * a document from the same image signed by anyone else passed `verifyAttestation(doc, { eif })` and
 * `eif attest verify --eif`. Now: a signed image contributes its PCR8; measurements without PCR8 mean "unsigned",
 * so the enclave must report PCR8 = zeros (eif-format.md §3.2); `IsSigned: true` without PCR8 is refused.
 * The same rule holds for `--policy` files of tool output and for `eif verify --expect`.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { measureEifFile } from '../../src/node/describe.js';
import { verifyAttestation } from '../../src/attestation/verify.js';
import { UNSIGNED_PCR8 } from '../../src/eif/pcr.js';
import { fromHex } from '../../src/util/hex.js';
import { eif, tempDir, type CliResult } from '../helpers/eif.js';
import { REPO_ROOT } from '../helpers/shared.js';
import { HAVE_OPENSSL, makeEcKey, type TestKey } from '../signing/keys.js';
import { defaultPcrs, makeDocument, makePki, type Pki } from './helpers/generator.js';

const HAVE_CLI = existsSync(join(REPO_ROOT, 'dist', 'cli', 'main.js'));
const T = Date.UTC(2026, 8, 21, 12, 0, 0);
const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * seed + (i >> 5)) & 0xff);
const codes = (r: { errors: { code: string }[] }) => r.errors.map((e) => e.code);
const json = (r: CliResult) => {
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
};

describe.skipIf(!HAVE_OPENSSL || !HAVE_CLI)('PCR8 is pinned whenever measurements become a policy', () => {
  const dir = tempDir();
  const f = (n: string) => join(dir, n);
  let pki: Pki;
  let mine: TestKey;
  let theirs: TestKey;
  let pcr8Mine: string;
  let pcr8Theirs: string;
  let unsignedM: Record<string, string>;
  /** Documents of this image's PCR0/1/2 with PCR8 = mine / theirs / zeros (an unsigned enclave). */
  const docs = {} as Record<'mine' | 'theirs' | 'zero', Uint8Array>;
  const root = () => ['--root', f('root.der'), '--at', String(T)];

  beforeAll(async () => {
    mine = makeEcKey(dir, 'mine', 'P-384');
    theirs = makeEcKey(dir, 'theirs', 'P-384');
    writeFileSync(f('bzImage'), bytes(20000, 3));
    writeFileSync(f('rd0'), bytes(5000, 5));
    writeFileSync(f('rd1'), bytes(9000, 9));
    const parts = ['--kernel', f('bzImage'), '--cmdline', 'console=ttyS0', '--ramdisk', f('rd0'), '--ramdisk', f('rd1'), '--build-time', '2024-01-01T00:00:00+00:00', '--quiet'];
    unsignedM = json(eif(['build', ...parts, '--output', f('unsigned.eif')])).Measurements;
    writeFileSync(f('unsigned-build.json'), JSON.stringify({ Measurements: unsignedM }));
    const signed = json(eif(['build', ...parts, '--output', f('signed.eif'), '--signing-certificate', mine.certPath, '--private-key', mine.keyPath]));
    pcr8Mine = signed.Measurements.PCR8;
    pcr8Theirs = json(eif(['pcr', '--signing-certificate', theirs.certPath])).PCR8;
    expect(pcr8Mine).not.toBe(pcr8Theirs);
    pki = await makePki(T);
    writeFileSync(f('root.der'), pki.root.der);
    for (const [name, pcr8] of [['mine', pcr8Mine], ['theirs', pcr8Theirs], ['zero', UNSIGNED_PCR8]] as const) {
      const pcrs = defaultPcrs();
      for (const i of [0, 1, 2] as const) pcrs.set(i, fromHex(unsignedM[`PCR${i}`]!));
      pcrs.set(8, fromHex(pcr8));
      docs[name] = await makeDocument(pki, T, { pcrs });
      writeFileSync(f(`${name}.cbor`), docs[name]);
    }
  });

  const verify = (doc: Uint8Array, eifOpt: Parameters<typeof verifyAttestation>[1]['eif']) =>
    verifyAttestation(doc, { eif: eifOpt, roots: [pki.root.der], at: new Date(T) });

  it('Node measureEifFile(path) of a signed image returns its PCR8 (it was dropped)', async () => {
    const m = await measureEifFile(f('signed.eif'));
    expect(m.PCR8).toBe(pcr8Mine);
    expect((await measureEifFile(f('unsigned.eif'))).PCR8).toBeUndefined();
  });

  it('verifyAttestation({ eif: measureEifFile(signed) }) accepts only documents with its signer', async () => {
    const m = await measureEifFile(f('signed.eif'));
    expect(codes(await verify(docs.mine, m))).toEqual([]);
    expect(codes(await verify(docs.theirs, m))).toEqual(['ATT_PCR_MISMATCH']);
    expect(codes(await verify(docs.zero, m))).toEqual(['ATT_PCR_MISMATCH']);
  });

  it('EIF bytes as the policy: same result (the browser measurer)', async () => {
    const bytesSigned = new Uint8Array(readFileSync(f('signed.eif')));
    expect(codes(await verify(docs.mine, bytesSigned))).toEqual([]);
    expect(codes(await verify(docs.theirs, bytesSigned))).toEqual(['ATT_PCR_MISMATCH']);
    const bytesUnsigned = new Uint8Array(readFileSync(f('unsigned.eif')));
    expect(codes(await verify(docs.zero, bytesUnsigned))).toEqual([]);
    expect(codes(await verify(docs.mine, bytesUnsigned))).toEqual(['ATT_PCR_MISMATCH']);
  });

  it('measurements without PCR8 mean "unsigned": a signed enclave of the same image is refused', async () => {
    const m = await measureEifFile(f('unsigned.eif'));
    expect(codes(await verify(docs.zero, m))).toEqual([]);
    const r = await verify(docs.theirs, m);
    expect(codes(r)).toEqual(['ATT_PCR_MISMATCH']);
    expect(r.errors[0]!.message).toContain('PCR8');
  });

  it('measurements that say IsSigned but lack PCR8 (or lack PCR1/2) are a policy error, not a skipped check', async () => {
    const m = await measureEifFile(f('unsigned.eif'));
    expect(codes(await verify(docs.mine, { ...m, IsSigned: true }))).toEqual(['ATT_POLICY_INVALID']);
    const { PCR2: _drop, ...partial } = m;
    expect(codes(await verify(docs.mine, partial as typeof m))).toEqual(['ATT_POLICY_INVALID']);
  });

  it('eif attest verify --eif signed.eif: the signer is checked', () => {
    expect(eif(['attest', 'verify', f('mine.cbor'), ...root(), '--eif', f('signed.eif')]).status).toBe(0);
    for (const other of ['theirs.cbor', 'zero.cbor']) {
      const r = eif(['attest', 'verify', f(other), ...root(), '--eif', f('signed.eif')]);
      expect(r.status, other).toBe(1);
      expect(r.stdout).toMatch(/ATT_PCR_MISMATCH.*PCR8/);
    }
  });

  it('eif attest verify --policy <describe output>: PCR8 pinned, IsSigned without PCR8 refused', () => {
    writeFileSync(f('describe-signed.json'), eif(['describe', f('signed.eif')]).stdout);
    writeFileSync(f('describe-unsigned.json'), eif(['describe', f('unsigned.eif')]).stdout);
    expect(eif(['attest', 'verify', f('mine.cbor'), ...root(), '--policy', f('describe-signed.json')]).status).toBe(0);
    expect(eif(['attest', 'verify', f('theirs.cbor'), ...root(), '--policy', f('describe-signed.json')]).status).toBe(1);
    expect(eif(['attest', 'verify', f('zero.cbor'), ...root(), '--policy', f('describe-unsigned.json')]).status).toBe(0);
    const r = eif(['attest', 'verify', f('theirs.cbor'), ...root(), '--policy', f('describe-unsigned.json')]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/ATT_PCR_MISMATCH.*PCR8/);
    const d = JSON.parse(readFileSync(f('describe-signed.json'), 'utf8'));
    delete d.Measurements.PCR8;
    writeFileSync(f('describe-stripped.json'), JSON.stringify(d));
    const bad = eif(['attest', 'verify', f('theirs.cbor'), ...root(), '--policy', f('describe-stripped.json')]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/ATT_POLICY_INVALID.*IsSigned/);
  });

  it('eif verify --expect <unsigned build output> fails on a signed image, unless the signer is named', () => {
    const r = eif(['verify', f('signed.eif'), '--expect', f('unsigned-build.json'), '--json']);
    expect(r.status).toBe(1);
    const pcr8 = JSON.parse(r.stdout).Checks.find((c: { Check: string }) => c.Check === 'PCR8');
    expect(pcr8).toMatchObject({ Ok: false, Code: 'PCR_MISMATCH' });
    expect(eif(['verify', f('unsigned.eif'), '--expect', f('unsigned-build.json')]).status).toBe(0);
    expect(eif(['verify', f('signed.eif'), '--expect', f('unsigned-build.json'), '--signing-certificate', mine.certPath]).status).toBe(0);
    expect(eif(['verify', f('signed.eif'), '--expect', f('unsigned-build.json'), '--signing-certificate', theirs.certPath]).status).toBe(1);
    // a hand-written bare map still checks exactly what it lists
    writeFileSync(f('pcr0-only.json'), JSON.stringify({ PCR0: unsignedM.PCR0 }));
    expect(eif(['verify', f('signed.eif'), '--expect', f('pcr0-only.json')]).status).toBe(0);
  });
});
