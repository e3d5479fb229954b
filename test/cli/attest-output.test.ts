/**
 * `eif attest` output (issue 9): the verdict comes first, --quiet prints nothing (exit status only), an expired
 * chain that was valid at the document's time says so and suggests --at, and a file that is not a document gets
 * "not an attestation document (expected CBOR, base64 or hex)" (ATT_INPUT_NOT_DOCUMENT), not a CBOR length message.
 */
import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { eif, tempDir } from '../helpers/eif.js';
import { toHex } from '../../src/util/hex.js';
import { defaultPcrs, makeDocument, makePki } from '../attestation/helpers/generator.js';

const T = Date.UTC(2026, 8, 21, 12, 0, 0);
const AT = new Date(T).toISOString();

describe('eif attest output', () => {
  const dir = tempDir();
  const f = (name: string): string => join(dir, name);
  const pcr0 = toHex(defaultPcrs().get(0)!);

  beforeAll(async () => {
    const pki = await makePki(T);
    writeFileSync(f('root.der'), pki.root.der);
    const doc = await makeDocument(pki, T, {});
    writeFileSync(f('doc.cbor'), doc);
    writeFileSync(f('doc.gz'), gzipSync(doc));
    writeFileSync(f('cert.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    writeFileSync(f('words.txt'), 'hello world');
    writeFileSync(f('dots.txt'), 'not. a. document.');
    writeFileSync(f('map.cbor'), Uint8Array.of(0xa1, 0x01, 0x02));
    writeFileSync(f('hexjunk.txt'), 'a1b2c3d4');
  });

  it('the verdict is the first line, its reasons follow, then the details', () => {
    const ok = eif(['attest', 'inspect', f('doc.cbor'), '--root', f('root.der'), '--at', AT]);
    expect(ok.status).toBe(0);
    expect(ok.stdout.split('\n')[0]).toBe('verdict       AUTHENTIC');
    expect(ok.stdout.split('\n')[1]).toMatch(/^document      /);
    const bad = eif(['attest', 'verify', f('doc.cbor'), '--root', f('root.der'), '--at', AT, '--pcr', `0=${'00'.repeat(48)}`]);
    expect(bad.status).toBe(1);
    const lines = bad.stdout.split('\n');
    expect(lines[0]).toBe('verdict       INVALID');
    expect(lines[1]).toMatch(/^ {2}ATT_PCR_MISMATCH: /);
  });

  it('--quiet prints nothing; the exit status is the verdict; with --json it is a usage error', () => {
    const ok = eif(['attest', 'verify', f('doc.cbor'), '--root', f('root.der'), '--at', AT, '--pcr', `0=${pcr0}`, '--quiet']);
    expect([ok.status, ok.stdout, ok.stderr]).toEqual([0, '', '']);
    const bad = eif(['attest', 'verify', f('doc.cbor'), '--root', f('root.der'), '--at', AT, '--pcr', `0=${'00'.repeat(48)}`, '-q']);
    expect([bad.status, bad.stdout, bad.stderr]).toEqual([1, '', '']);
    const junk = eif(['attest', 'inspect', f('words.txt'), '--quiet']);
    expect([junk.status, junk.stdout]).toEqual([1, '']);
    const both = eif(['attest', 'inspect', f('doc.cbor'), '--quiet', '--json']);
    expect(both.status).toBe(2);
    expect(both.stderr).toMatch(/^eif: error USAGE: --quiet and --json exclude each other/);
  });

  it('expired now but valid at the document time: says so and suggests --at <timestamp>, which then passes', () => {
    const r = eif(['attest', 'inspect', f('doc.cbor'), '--root', f('root.der')]);
    expect(r.status).toBe(1);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('verdict       NOT AUTHENTIC');
    expect(lines.slice(1).find((l) => !l.startsWith('  '))).toBe(
      `note          the certificate chain was valid at the document's own time (${AT}) but is not now; to check it as of then: --at ${AT}`,
    );
    const j = JSON.parse(eif(['attest', 'inspect', f('doc.cbor'), '--root', f('root.der'), '--json']).stdout);
    expect(j).toMatchObject({ ok: false, validAtDocumentTime: true });
    expect(j.hint).toContain(`--at ${AT}`);
    const suggested = /--at (\S+)$/.exec(lines.find((l) => l.startsWith('note'))!)![1]!;
    expect(eif(['attest', 'inspect', f('doc.cbor'), '--root', f('root.der'), '--at', suggested]).status).toBe(0);
    // not valid then either (the AWS root does not sign this test chain): no such note
    const aws = eif(['attest', 'inspect', f('doc.cbor')]);
    expect(aws.status).toBe(1);
    expect(aws.stdout).not.toContain('note ');
    // with --at given, no second guess
    const later = eif(['attest', 'inspect', f('doc.cbor'), '--root', f('root.der'), '--at', '2030-01-01T00:00:00Z']);
    expect(later.stdout).not.toContain('note ');
  });

  for (const [file, what] of [
    ['doc.gz', 'it starts with bytes 1f 8b 08'],
    ['cert.pem', 'a PEM file (CERTIFICATE)'],
    ['dots.txt', 'text that is neither hex nor base64'],
    ['words.txt', 'its base64 decodes to bytes starting'],
    ['map.cbor', 'it starts with bytes a1 01 02'],
    ['hexjunk.txt', 'its hex decodes to bytes starting a1 b2 c3 d4'],
  ] as const) {
    it(`${file}: not an attestation document (ATT_INPUT_NOT_DOCUMENT), exit 1`, () => {
      const r = eif(['attest', 'inspect', f(file)]);
      expect(r.status).toBe(1);
      expect(r.stderr).toBe('');
      const lines = r.stdout.split('\n');
      expect(lines[0]).toBe('verdict       NOT AUTHENTIC');
      expect(lines[1]).toContain('  ATT_INPUT_NOT_DOCUMENT: not an attestation document (expected CBOR, base64 or hex): ');
      expect(lines[1]).toContain(what);
      expect(r.stdout).not.toMatch(/ATT_CBOR/);
      const j = JSON.parse(eif(['attest', 'verify', f(file), '--pcr', `0=${pcr0}`, '--json']).stdout);
      expect(j).toMatchObject({ ok: false, encoding: 'unrecognized', document: null });
      expect(j.errors.map((e: { code: string }) => e.code)).toEqual(['ATT_INPUT_NOT_DOCUMENT']);
    });
  }
});
