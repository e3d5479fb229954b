/**
 * Mutation fuzzing of the verifier: random byte flips, truncations, insertions, deletions and duplicated ranges
 * applied to genuine documents (../shared real/, at their own timestamps) and to generator documents. The
 * verifier must never throw, never hang, and never accept a changed document. The only accepted change is a
 * leading tag 18 (0xd2) inserted before an untagged document: the same signed content, valid per RFC 9052.
 *
 * Bounded in `npm test` (FUZZ_ITERATIONS, default 400 mutations per source, and a time budget); run longer with
 * e.g. `FUZZ_ITERATIONS=20000 npx vitest run test/attestation/fuzz.test.ts`. FUZZ_SEED fixes the PRNG seed.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CborError, decodeCbor } from '../../src/cbor/decode.js';
import { inspectAttestation } from '../../src/attestation/index.js';
import { HAVE_SHARED, readShared, sharedPath } from '../helpers/shared.js';
import { makeDocument, makePki } from './helpers/generator.js';

const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 400);
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const BUDGET_MS = Number(process.env.FUZZ_BUDGET_MS ?? (process.env.FUZZ_ITERATIONS ? 3_600_000 : 8_000));
const PER_CALL_LIMIT_MS = 2_000;

/** mulberry32: a small seeded PRNG so failures can be replayed with FUZZ_SEED. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(src: Uint8Array, rnd: () => number): { bytes: Uint8Array; what: string } {
  const r = (n: number): number => Math.floor(rnd() * n);
  const pos = r(src.length);
  switch (r(6)) {
    case 0: {
      const out = src.slice();
      const bit = 1 << r(8);
      out[pos]! ^= bit;
      return { bytes: out, what: `flip bit ${bit} at ${pos}` };
    }
    case 1: {
      const out = src.slice();
      const n = 1 + r(4);
      for (let i = 0; i < n; i++) out[r(src.length)] = r(256);
      return { bytes: out, what: `${n} random bytes` };
    }
    case 2:
      return { bytes: src.slice(0, pos), what: `truncate to ${pos}` };
    case 3: {
      const b = r(256);
      const out = new Uint8Array(src.length + 1);
      out.set(src.subarray(0, pos));
      out[pos] = b;
      out.set(src.subarray(pos), pos + 1);
      return { bytes: out, what: `insert ${b} at ${pos}` };
    }
    case 4: {
      const n = 1 + r(16);
      const end = Math.min(src.length, pos + n);
      const out = new Uint8Array(src.length - (end - pos));
      out.set(src.subarray(0, pos));
      out.set(src.subarray(end), pos);
      return { bytes: out, what: `delete ${end - pos} at ${pos}` };
    }
    default: {
      const piece = src.subarray(pos, pos + 1 + r(64));
      const out = new Uint8Array(src.length + piece.length);
      out.set(src.subarray(0, pos));
      out.set(piece, pos);
      out.set(src.subarray(pos), pos + piece.length);
      return { bytes: out, what: `duplicate ${piece.length} at ${pos}` };
    }
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** The one legitimate change: an untagged document wrapped in tag 18. */
function isTag18Wrap(orig: Uint8Array, m: Uint8Array): boolean {
  return orig[0] !== 0xd2 && m.length === orig.length + 1 && m[0] === 0xd2 && sameBytes(m.subarray(1), orig);
}

interface Source {
  name: string;
  doc: Uint8Array;
  at: number;
  roots?: Uint8Array[];
}

async function sources(): Promise<Source[]> {
  const T = Date.UTC(2026, 8, 21, 12);
  const pki = await makePki(T);
  const out: Source[] = [
    { name: 'generator (indefinite map)', doc: await makeDocument(pki, T, { nonce: Uint8Array.of(1, 2, 3) }), at: T, roots: [pki.root.der] },
    { name: 'generator (definite map)', doc: await makeDocument(pki, T, { indefinite: false }), at: T, roots: [pki.root.der] },
  ];
  if (HAVE_SHARED) {
    const index = JSON.parse(readFileSync(sharedPath('attestation', 'INDEX.json'), 'utf8')) as { file: string; expect: string; timestamp_ms: number }[];
    for (const e of index.filter((x) => x.expect === 'accept')) out.push({ name: e.file, doc: readShared('attestation', e.file), at: e.timestamp_ms });
  }
  return out;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`verification hung (> ${ms} ms) on ${what}`)), ms);
    }),
  ]);
}

describe(`mutation fuzz (seed ${SEED}, ${ITERATIONS} mutations per source${HAVE_SHARED ? '' : '; shared real documents absent'})`, () => {
  it('never throws, never hangs, never accepts a changed document', async () => {
    const rnd = prng(SEED);
    const srcs = await sources();
    const start = Date.now();
    let runs = 0;
    for (const s of srcs) {
      const base = await inspectAttestation(s.doc, { at: s.at, roots: s.roots });
      expect(base.errors, s.name).toEqual([]);
      for (let i = 0; i < ITERATIONS && Date.now() - start < BUDGET_MS * ((srcs.indexOf(s) + 1) / srcs.length); i++) {
        const m = mutate(s.doc, rnd);
        const what = `${s.name}: ${m.what} (seed ${SEED})`;
        const r = await withTimeout(inspectAttestation(m.bytes, { at: s.at, roots: s.roots }), PER_CALL_LIMIT_MS, what);
        runs++;
        expect(Array.isArray(r.errors), what).toBe(true);
        if (sameBytes(m.bytes, s.doc) || isTag18Wrap(s.doc, m.bytes)) continue;
        expect(r.ok, `accepted a changed document: ${what}`).toBe(false);
        expect(r.errors.length, what).toBeGreaterThan(0);
        for (const e of r.errors) expect(e.code, `${what}: ${e.message}`).not.toBe('ATT_INTERNAL');
      }
    }
    expect(runs).toBeGreaterThan(0);
  }, BUDGET_MS + 30_000);

  it('the CBOR decoder only ever throws CborError on random and mutated input', () => {
    const rnd = prng(SEED + 1);
    for (let i = 0; i < ITERATIONS * 10; i++) {
      const len = Math.floor(rnd() * 64);
      const b = Uint8Array.from({ length: len }, () => Math.floor(rnd() * 256));
      try {
        decodeCbor(b, { allowIndefiniteContainers: rnd() < 0.5, allowIndefiniteStrings: rnd() < 0.5, allowNonMinimal: rnd() < 0.5 });
      } catch (e) {
        expect(e, `input ${Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')}`).toBeInstanceOf(CborError);
      }
    }
  });
});
