/**
 * createAttestationVerifierPool (src/node/attestation-pool.ts; its threads run dist/node/attestation-worker.js,
 * built by `npm test`): the results of verifyAttestation, in order; per-call options; a closed pool refuses work;
 * a pool never keeps the process alive (closed or not).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAttestation, type AttestationResult } from '../../src/attestation/index.js';
import { createAttestationVerifierPool, type AttestationVerifierPool } from '../../src/node/attestation-pool.js';
import { REPO_ROOT } from '../helpers/shared.js';

const vectors = join(REPO_ROOT, 'test-vectors', 'attestation');
const meta = JSON.parse(readFileSync(join(vectors, 'vectors.json'), 'utf8')) as {
  time_ms: number;
  documents: { file: string; pcrs: Record<string, string>; nonce: string | null }[];
};
const root = new Uint8Array(readFileSync(join(vectors, 'root.der')));
const docs = meta.documents.map((d) => new Uint8Array(readFileSync(join(vectors, d.file))));
const pcrs = meta.documents[0]!.pcrs;
const options = { at: meta.time_ms, roots: [root], expectedPcrs: { 0: pcrs['0']!, 1: pcrs['1']!, 2: pcrs['2']! } };

const shape = (r: AttestationResult) => ({ ok: r.ok, errors: r.errors, chain: r.document?.chain ?? null, pcr0: r.document ? Buffer.from(r.document.pcrs[0]!).toString('hex') : null });

function mixed(): (Uint8Array | string)[] {
  const bad = docs[0]!.slice();
  bad[bad.length - 1]! ^= 1; // COSE signature changed
  const out: (Uint8Array | string)[] = [];
  for (let i = 0; i < 40; i++) out.push(i % 7 === 3 ? bad : i % 11 === 5 ? new Uint8Array([1, 2, 3]) : i % 13 === 6 ? 'zz' : docs[i % docs.length]!);
  return out;
}

let pool: AttestationVerifierPool;
beforeAll(() => {
  pool = createAttestationVerifierPool({ ...options, threads: 2 });
});
afterAll(async () => {
  await pool.close();
});

describe('attestation verifier pool', () => {
  it('gives the results of verifyAttestation, in order, one bad document failing only itself', async () => {
    const list = mixed();
    const got = await pool.verifyMany(list);
    const want = await Promise.all(list.map((d) => verifyAttestation(d, options)));
    expect(got.map(shape)).toEqual(want.map(shape));
    expect(got.filter((r) => r.ok).length).toBeGreaterThan(20);
    expect(got.filter((r) => !r.ok).length).toBeGreaterThan(5);
    const one = await pool.verify(docs[1]!);
    expect(shape(one)).toEqual(shape(await verifyAttestation(docs[1]!, options)));
  });

  it('per-call options replace the pool\'s for that call only', async () => {
    const wrong = { ...options, expectedPcrs: { 0: '00'.repeat(48) } };
    const r = await pool.verify(docs[0]!, wrong);
    expect(r.errors.map((e) => e.code)).toEqual(['ATT_PCR_MISMATCH']);
    const many = await pool.verifyMany([docs[0]!, docs[1]!], wrong);
    expect(many.map((x) => x.errors.map((e) => e.code))).toEqual([['ATT_PCR_MISMATCH'], ['ATT_PCR_MISMATCH']]);
    expect((await pool.verify(docs[0]!)).ok).toBe(true);
    // options that cannot cross to a thread fail that call only
    const fn = await pool.verify(docs[0]!, { ...options, measureEif: async () => ({ PCR0: '', PCR1: '', PCR2: '' }) });
    expect(fn.errors.map((e) => e.code)).toEqual(['ATT_OPTIONS_INVALID']);
    expect((await pool.verify(docs[0]!)).ok).toBe(true);
  });

  it('refuses bad pool options and, once closed, new work (ATT_POOL_CLOSED)', async () => {
    expect(() => createAttestationVerifierPool({ threads: 0 })).toThrow(expect.objectContaining({ code: 'ATT_OPTIONS_INVALID' }));
    expect(() => createAttestationVerifierPool({ threads: 1.5 })).toThrow(expect.objectContaining({ code: 'ATT_OPTIONS_INVALID' }));
    expect(() => createAttestationVerifierPool({ measureEif: async () => ({ PCR0: '', PCR1: '', PCR2: '' }) })).toThrow(
      expect.objectContaining({ code: 'ATT_OPTIONS_INVALID' }),
    );
    const p = createAttestationVerifierPool({ ...options, threads: 1 });
    const inFlight = p.verifyMany(mixed());
    const closing = p.close(); // waits for the work in flight
    expect((await inFlight).length).toBe(40);
    await closing;
    await expect(p.verify(docs[0]!)).rejects.toMatchObject({ code: 'ATT_POOL_CLOSED' });
    await expect(p.verifyMany([docs[0]!])).rejects.toMatchObject({ code: 'ATT_POOL_CLOSED' });
    await p.close(); // twice is fine
  });
});

describe('process exit', () => {
  const script = (close: boolean): string => `
    const { createAttestationVerifierPool } = await import(${JSON.stringify(join(REPO_ROOT, 'dist', 'index.js'))});
    const { readFileSync } = await import('node:fs');
    const doc = new Uint8Array(readFileSync(${JSON.stringify(join(vectors, meta.documents[0]!.file))}));
    const root = new Uint8Array(readFileSync(${JSON.stringify(join(vectors, 'root.der'))}));
    const pool = createAttestationVerifierPool({ threads: 2, at: ${meta.time_ms}, roots: [root], expectedPcrs: ${JSON.stringify({ 0: pcrs['0'] })} });
    const rs = await pool.verifyMany([doc, doc, doc]);
    console.log(rs.map((r) => r.ok).join(','));
    ${close ? 'await pool.close();' : ''}
  `;
  for (const close of [true, false]) {
    it(`exits by itself after the work is done (${close ? 'closed' : 'never closed'})`, () => {
      const t0 = Date.now();
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script(close)], { encoding: 'utf8', timeout: 30_000 });
      expect(r.error).toBeUndefined(); // no timeout: the process did not hang
      expect(r.stderr).toBe('');
      expect(r.stdout.trim()).toBe('true,true,true');
      expect(r.status).toBe(0);
      expect(Date.now() - t0).toBeLessThan(30_000);
    });
  }
});
