/**
 * QEMU's attestation documents (qemu-emulation.md, "Documents are unsigned by design"): a real one, committed as
 * fixtures/qemu-document.cbor (QEMU 10.0.2's nitro-enclave NSM, asked by enclave-probe with nonce "abcd"), is
 * shown by `eif attest inspect` as an emulated (unsigned) document with its fields and PCRs, and refused by
 * verification with ATT_EMULATED_DOCUMENT — never authentic. Needs no QEMU.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeAttestationDocument, decodeEmulatedDocument, PROTECTED_ES384 } from '../../src/attestation/document.js';
import { verifyAttestation } from '../../src/attestation/verify.js';
import { toHex } from '../../src/util/hex.js';
import { REPO_ROOT } from '../helpers/shared.js';

const DOC = join(REPO_ROOT, 'test', 'emulate', 'fixtures', 'qemu-document.cbor');
const bytes = new Uint8Array(readFileSync(DOC));
const PCR0 = '12c2f7c82bdbd7094571285509486a0058842c0f6d24feec7562fc47c0ab69550a67e8d907bb80dfb34e2909e103e8a4';
const eif = (args: string[]) => spawnSync(process.execPath, [join(REPO_ROOT, 'bin', 'eif.js'), ...args], { encoding: 'utf8' });

describe('emulated (unsigned) attestation documents', () => {
  it('the library refuses them with ATT_EMULATED_DOCUMENT and decodes them only through decodeEmulatedDocument', async () => {
    expect(() => decodeAttestationDocument(bytes)).toThrow(expect.objectContaining({ code: 'ATT_EMULATED_DOCUMENT' }));
    const r = await verifyAttestation(bytes, { expectedPcrs: { 0: PCR0 } });
    expect(r.ok).toBe(false);
    expect(r.errors.map((e) => e.code)).toEqual(['ATT_EMULATED_DOCUMENT']);
    const d = decodeEmulatedDocument(bytes);
    expect(d.moduleId).toBe('i-0000000000000000-ence441e2b3509ea');
    expect(toHex(d.pcrs[0]!)).toBe(PCR0);
    expect(new TextDecoder().decode(d.nonce!)).toBe('abcd');
    expect(new TextDecoder().decode(d.userData!)).toBe('eifkit-emulate');
    expect(d.publicKey).toBeNull();
    expect(d.signature.every((b) => b === 0)).toBe(true);
  });

  it('decodeEmulatedDocument refuses a document with the real ES384 header (it is for display of emulated ones only)', () => {
    const real = new Uint8Array(bytes);
    // same envelope with the protected header a1 01 20 replaced by a1 01 38 22 (one byte longer): rebuild the prefix
    const i = real.indexOf(0xa1);
    const forged = new Uint8Array([...real.subarray(0, i - 1), 0x44, ...PROTECTED_ES384, ...real.subarray(i + 3)]);
    expect(() => decodeEmulatedDocument(forged)).toThrow(expect.objectContaining({ code: 'ATT_COSE_HEADER' }));
  });

  it('eif attest inspect: "NOT AUTHENTIC: emulated (unsigned) document", then the fields and PCRs; exit 1', () => {
    const r = eif(['attest', 'inspect', DOC]);
    expect(r.status).toBe(1);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('verdict       NOT AUTHENTIC: emulated (unsigned) document');
    expect(lines[1]).toMatch(/^ {2}ATT_EMULATED_DOCUMENT: /);
    expect(r.stdout).toContain(`PCR0   ${PCR0}`);
    expect(r.stdout).toMatch(/nonce +61626364/);
    const j = JSON.parse(eif(['attest', 'inspect', DOC, '--json']).stdout);
    expect(j.ok).toBe(false);
    expect(j.errors[0].code).toBe('ATT_EMULATED_DOCUMENT');
    expect(j.document.pcrs['0']).toBe(PCR0);
  });

  it('eif attest verify rejects it even when every policy value matches', () => {
    const r = eif(['attest', 'verify', DOC, '--pcr', `0=${PCR0}`, '--nonce', '61626364']);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('ATT_EMULATED_DOCUMENT');
    expect(r.stdout.split('\n')[0]).toContain('INVALID');
  });
});
