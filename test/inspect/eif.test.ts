/** Browser-safe inspection (bytes and Blobs) agrees with the Node file reader and nitro-cli's describe shape. */
import { beforeAll, describe, expect, it } from 'vitest';
import { initCore } from '../../src/core/index.js';
import { describeEifBytes, inspectEifBytes, measureEifBytes } from '../../src/inspect/eif.js';
import { describeEifFileDetails } from '../../src/node/describe.js';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { REPO_ROOT, describeShared, readShared, sharedPath } from '../helpers/shared.js';
import { expectedVectors, vector } from '../helpers/eif.js';

beforeAll(() => initCore());

describe('inspectEifBytes (bytes, Blob)', () => {
  it('measures a Blob without reading it whole, and matches the file reader', async () => {
    const bytes = vector('three-ramdisks');
    const reads: number[] = [];
    const blob = new Blob([bytes]);
    const orig = blob.slice.bind(blob);
    blob.slice = (a?: number, b?: number) => (reads.push((b ?? 0) - (a ?? 0)), orig(a, b));
    const fromBlob = await describeEifBytes(blob);
    expect(Math.max(...reads)).toBeLessThanOrEqual(1 << 20);
    const fromFile = await describeEifFileDetails(join(REPO_ROOT, 'test-vectors/eif/three-ramdisks.eif'));
    expect(fromBlob).toEqual(fromFile.describe);
    expect(await measureEifBytes(bytes)).toMatchObject(expectedVectors['three-ramdisks'].measurements);
  });
  it('rejects a malformed image with its code', async () => {
    const b = vector('three-ramdisks');
    b[1] = 0;
    await expect(inspectEifBytes(b)).rejects.toMatchObject({ code: 'EIF_BAD_MAGIC' });
  });
});

describeShared('signed images (../shared min-signed.eif)', () => {
  const exp = () => JSON.parse(readFileSync(sharedPath('eif', 'synthetic', 'expected.json'), 'utf8'))['synthetic/min-signed.eif'];
  it('describes with PCR8, SigningCertificate and SignatureCheck true, like the file reader', async () => {
    const i = await inspectEifBytes(readShared('eif', 'synthetic', 'min-signed.eif'));
    expect(i.measurements).toEqual({ HashAlgorithm: 'Sha384 { ... }', ...exp().measurements });
    expect(Object.keys(i.describe)).toEqual(['EifVersion', 'Measurements', 'IsSigned', 'SigningCertificate', 'CheckCRC', 'SignatureCheck', 'ImageName', 'ImageVersion', 'Metadata']);
    expect(i.describe).toMatchObject({ IsSigned: true, CheckCRC: true, SignatureCheck: true });
    expect((await describeEifFileDetails(sharedPath('eif', 'synthetic', 'min-signed.eif'))).describe).toEqual(i.describe);
  });
});
