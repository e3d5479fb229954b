/** Reader rules (eif-format.md §1, Appendix B): every malformed image gets its own stable error code. */
import { beforeAll, describe, expect, it } from 'vitest';
import { initCore } from '../../src/core/index.js';
import { bytesSource, readLayout } from '../../src/eif/layout.js';
import { measureSource } from '../../src/eif/measure.js';
import { decodeEifHeader, encodeEifHeader, encodeSectionHeader } from '../../src/eif/header.js';
import { expectedVectors, fixCrc, vector, view } from '../helpers/eif.js';

beforeAll(() => initCore());

const base = () => vector('three-ramdisks'); // kernel, cmdline, metadata, rd0, rd1, rd2
const exp = expectedVectors['three-ramdisks'];
const OFF = (i: number) => 28 + 8 * i; // section_offsets[i]
const SIZE = (i: number) => 284 + 8 * i; // section_sizes[i]

async function codeOf(bytes: Uint8Array): Promise<string> {
  try {
    await readLayout(bytesSource(bytes));
    return 'OK';
  } catch (e) {
    return (e as { code: string }).code;
  }
}

/** Change the type of section i (both its header and nothing else). */
function setType(b: Uint8Array, i: number, type: number): Uint8Array {
  const out = b.slice();
  view(out).setUint16(exp.section_offsets[i], type);
  return fixCrc(out);
}

describe('header codec', () => {
  it('round-trips and is 548 bytes', () => {
    const h = decodeEifHeader(base());
    expect(encodeEifHeader(h)).toEqual(base().subarray(0, 548));
    expect(h.numSections).toBe(exp.num_sections);
    expect(h.sectionOffsets.slice(0, 6).map(Number)).toEqual(exp.section_offsets);
    expect(h.sectionSizes.slice(0, 6).map(Number)).toEqual(exp.section_sizes);
    expect(h.crc32).toBe(exp.crc32);
    expect(h.defaultMem).toBe(1073741824n);
    expect(h.defaultCpus).toBe(2n);
  });
  it('section header is type, flags, size (12 bytes, big-endian)', () => {
    expect(Array.from(encodeSectionHeader(3, 0x0102030405n))).toEqual([0, 3, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5]);
  });
});

describe('well-formed images', () => {
  it('reads the section table and measures like the generator', async () => {
    const b = base();
    const layout = await readLayout(bytesSource(b));
    expect(layout.sections.map((s) => s.type)).toEqual(exp.section_types);
    expect(layout.contiguous).toBe(true);
    const m = await measureSource(bytesSource(b), layout);
    expect(m.checkCrc).toBe(true);
    expect(m.measurements).toMatchObject(exp.measurements);
  });
  it('accepts the aarch64 flag and an empty cmdline / empty first ramdisk', async () => {
    for (const name of ['one-ramdisk-aarch64', 'empty-cmdline']) {
      const b = vector(name);
      const m = await measureSource(bytesSource(b), await readLayout(bytesSource(b)));
      expect(m.measurements).toMatchObject(expectedVectors[name].measurements);
      expect(m.checkCrc).toBe(true);
    }
  });
  it('measures in table order even when the table is not in file order', async () => {
    // Swap the table entries of ramdisk 1 and 2: the hypervisor and QEMU walk the table, so PCR0/PCR2 change order.
    const b = base();
    const v = view(b);
    for (const f of [OFF, SIZE]) {
      const x = v.getBigUint64(f(4));
      v.setBigUint64(f(4), v.getBigUint64(f(5)));
      v.setBigUint64(f(5), x);
    }
    const layout = await readLayout(bytesSource(b));
    expect(layout.sections.map((s) => s.offset)).toEqual([...exp.section_offsets.slice(0, 4), exp.section_offsets[5], exp.section_offsets[4]]);
  });
});

describe('bad input: each malformed image has its own code', () => {
  const cases: [string, () => Uint8Array, string][] = [
    ['wrong magic', () => { const b = base(); b[0] = 0x2f; return b; }, 'EIF_BAD_MAGIC'],
    ['unknown version 5', () => { const b = base(); view(b).setUint16(4, 5); return fixCrc(b); }, 'EIF_UNSUPPORTED_VERSION'],
    ['legacy version 2', () => { const b = base(); view(b).setUint16(4, 2); return fixCrc(b); }, 'EIF_UNSUPPORTED_VERSION'],
    ['num_sections 0', () => { const b = base(); view(b).setUint16(26, 0); return b; }, 'EIF_BAD_SECTION_COUNT'],
    ['num_sections 33', () => { const b = base(); view(b).setUint16(26, 33); return b; }, 'EIF_BAD_SECTION_COUNT'],
    ['section offset past EOF', () => { const b = base(); view(b).setBigUint64(OFF(5), BigInt(b.length)); return b; }, 'EIF_SECTION_OUT_OF_BOUNDS'],
    ['section offset inside the header', () => { const b = base(); view(b).setBigUint64(OFF(0), 100n); return b; }, 'EIF_SECTION_OUT_OF_BOUNDS'],
    ['section size past EOF', () => { const b = base(); view(b).setBigUint64(SIZE(5), 10_000n); return b; }, 'EIF_SECTION_OUT_OF_BOUNDS'],
    ['size field claiming 2^63 bytes', () => { const b = base(); view(b).setBigUint64(SIZE(3), 1n << 63n); return b; }, 'EIF_SECTION_OUT_OF_BOUNDS'],
    ['offset field claiming 2^64-1', () => { const b = base(); view(b).setBigUint64(OFF(3), (1n << 64n) - 1n); return b; }, 'EIF_SECTION_OUT_OF_BOUNDS'],
    ['table size differs from section header size', () => { const b = base(); view(b).setBigUint64(exp.section_offsets[5] + 4, BigInt(exp.section_sizes[5] - 1)); return b; }, 'EIF_SECTION_SIZE_MISMATCH'],
    ['non-zero section flags', () => { const b = base(); view(b).setUint16(exp.section_offsets[3] + 2, 1); return fixCrc(b); }, 'EIF_SECTION_FLAGS'],
    ['unknown section type 6', () => setType(base(), 5, 6), 'EIF_UNKNOWN_SECTION_TYPE'],
    ['section type 0', () => setType(base(), 5, 0), 'EIF_UNKNOWN_SECTION_TYPE'],
    ['duplicate kernel', () => setType(base(), 3, 1), 'EIF_DUPLICATE_SECTION'],
    ['duplicate cmdline', () => setType(base(), 5, 2), 'EIF_DUPLICATE_SECTION'],
    ['missing kernel', () => setType(base(), 0, 3), 'EIF_MISSING_SECTION'],
    ['missing cmdline', () => setType(base(), 1, 3), 'EIF_MISSING_SECTION'],
    ['missing metadata in v4', () => setType(base(), 2, 3), 'EIF_MISSING_SECTION'],
    ['a second cmdline where a ramdisk was', () => { let b = setType(base(), 3, 4); b = setType(b, 4, 2); return b; }, 'EIF_DUPLICATE_SECTION'],
    ['truncated header', () => base().subarray(0, 300), 'EIF_TRUNCATED'],
    ['truncated file', () => base().subarray(0, base().length - 10), 'EIF_SECTION_OUT_OF_BOUNDS'],
    ['bytes after the last section', () => { const b = base(); const o = new Uint8Array(b.length + 3); o.set(b); return o; }, 'EIF_TRAILING_BYTES'],
    ['overlapping sections', () => { const b = base(); view(b).setBigUint64(OFF(4), BigInt(exp.section_offsets[3])); view(b).setBigUint64(SIZE(4), BigInt(exp.section_sizes[3])); return b; }, 'EIF_SECTIONS_OVERLAP'],
    ['non-zero table entry past num_sections', () => { const b = base(); view(b).setBigUint64(OFF(20), 7n); return b; }, 'EIF_BAD_SECTION_TABLE'],
    ['cmdline after a ramdisk in the table', () => { let b = setType(base(), 1, 3); b = setType(b, 3, 2); return b; }, 'EIF_SECTION_ORDER'],
  ];
  for (const [name, make, code] of cases) {
    it(`${name} → ${code}`, async () => {
      expect(await codeOf(make())).toBe(code);
    });
  }

  it('no ramdisk at all → EIF_NO_RAMDISK', async () => {
    // kernel, cmdline, metadata, signature-less: turn the three ramdisks into one signature + cut the rest.
    const b = base();
    const v = view(b);
    v.setUint16(26, 3);
    for (const i of [3, 4, 5]) {
      v.setBigUint64(OFF(i), 0n);
      v.setBigUint64(SIZE(i), 0n);
    }
    expect(await codeOf(fixCrc(b.subarray(0, exp.section_offsets[3])))).toBe('EIF_NO_RAMDISK');
  });

  it('a gap between sections is read (table order) but reported as not contiguous', async () => {
    // Move ramdisk 2 one byte later, leaving a one-byte gap.
    const b0 = base();
    const at = exp.section_offsets[5];
    const b = new Uint8Array(b0.length + 1);
    b.set(b0.subarray(0, at));
    b.set(b0.subarray(at), at + 1);
    view(b).setBigUint64(OFF(5), BigInt(at + 1));
    const layout = await readLayout(bytesSource(fixCrc(b)));
    expect(layout.contiguous).toBe(false);
    expect(layout.warnings[0]).toMatch(/1 unused bytes before section 5/);
  });

  it('a CRC mismatch is not a structural error: the measurement says checkCrc false', async () => {
    const b = base();
    b[exp.section_offsets[2] + 12] ^= 1; // a metadata byte: PCRs unchanged, CRC broken
    const m = await measureSource(bytesSource(b), await readLayout(bytesSource(b)));
    expect(m.checkCrc).toBe(false);
    expect(m.measurements).toMatchObject(exp.measurements);
  });

  it('never allocates from a hostile size: a 2^63 table entry fails before any read of that size', async () => {
    const b = base();
    view(b).setBigUint64(SIZE(5), (1n << 63n) + 5n);
    const reads: number[] = [];
    const src = { size: b.length, read: (o: number, l: number) => (reads.push(l), b.subarray(o, o + l)) };
    await expect(readLayout(src)).rejects.toMatchObject({ code: 'EIF_SECTION_OUT_OF_BOUNDS' });
    expect(Math.max(...reads)).toBeLessThanOrEqual(548);
  });
});
