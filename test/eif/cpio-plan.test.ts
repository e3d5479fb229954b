/**
 * gocpio's byte format (shared oci-build.md §1.3 "gocpio writer"), each rule against bytes written BY HAND here —
 * header strings typed field by field, not produced by the writer under test.
 */
import { describe, expect, it } from 'vitest';
import { type CpioPlanEntry, cpioPlanSource, goHex8, materializeCpioPlan, planCpio } from '../../src/eif/cpio-plan.js';
import { writeCpio } from '../../src/eif/cpio.js';
import { bytesSource } from '../../src/eif/layout.js';
import { EifError } from '../../src/errors.js';

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const zeros = (n: number) => '\0'.repeat(n);
const entry = (e: Partial<CpioPlanEntry> & { name: string; mode: number }): CpioPlanEntry => ({ uid: 0, gid: 0, mtime: 1492533000, size: 0, rdevmajor: 0, rdevminor: 0, ...e });

// Trailer as linuxkit writes it, for a given inode (hex) — fields: ino mode uid gid nlink mtime size dev(3,1) rdev(0,0) namesize 11 check.
const trailer = (inoHex: string) => '070701' + inoHex + '00000000' + '00000000' + '00000000' + '00000001' + '00000000' + '00000000' + '00000003' + '00000001' + '00000000' + '00000000' + '0000000b' + '00000000' + 'TRAILER!!!\0';

async function bytesOf(entries: CpioPlanEntry[]): Promise<string> {
  const src = cpioPlanSource(planCpio(entries));
  const b = await src.read(0, src.size);
  return String.fromCharCode(...b);
}

describe('gocpio format, by hand', () => {
  it('one directory: ino 721, mode 040755, nlink 2, dev 3/1, namesize, pad to 4, trailer ino 722, pad to 512', async () => {
    // header (110) + "dev\0" = 114 → pad 2 → 116; trailer 110 + 11 = 121 → 237, pad 512
    const want =
      '070701' + '000002d1' + '000041ed' + '00000000' + '00000000' + '00000002' + '58f63f08' + '00000000' + '00000003' + '00000001' + '00000000' + '00000000' + '00000004' + '00000000' + 'dev\0' + zeros(2) +
      trailer('000002d2');
    const got = await bytesOf([entry({ name: 'dev', mode: 0o040755 })]);
    expect(got.length).toBe(512);
    expect(got).toBe(want + zeros(512 - want.length));
  });

  it('file data follows the padded name; the next header starts 4-aligned relative to the stream start', async () => {
    // "a\0" → 112 (aligned), data "xyz" 112..115, pad 1 → 116; "bb\0" → 229, pad 3 → 232 = data start of bb
    const want =
      '070701' + '000002d1' + '000081a4' + '000003e8' + '00000064' + '00000001' + '00000001' + '00000003' + '00000003' + '00000001' + '00000000' + '00000000' + '00000002' + '00000000' + 'a\0' + 'xyz' + zeros(1) +
      '070701' + '000002d2' + '0000a1ff' + '00000000' + '00000000' + '00000001' + '00000000' + '00000001' + '00000003' + '00000001' + '00000000' + '00000000' + '00000003' + '00000000' + 'bb\0' + zeros(3) + 'a' + zeros(3) +
      trailer('000002d3');
    const got = await bytesOf([
      entry({ name: 'a', mode: 0o100644, uid: 1000, gid: 100, mtime: 1, size: 3, data: { bytes: ascii('xyz') } }),
      entry({ name: 'bb', mode: 0o120777, mtime: 0, size: 1, data: { bytes: ascii('a') } }),
    ]);
    expect(got.slice(0, want.length)).toBe(want);
    expect(got.length % 512).toBe(0);
    expect(got.slice(want.length)).toBe(zeros(got.length - want.length));
  });

  it('setuid/setgid/sticky bits and the type in the mode; rdev of a char device; a FIFO', async () => {
    const got = await bytesOf([
      entry({ name: 'null', mode: 0o020666, rdevmajor: 1, rdevminor: 3 }),
      entry({ name: 'p', mode: 0o010644 }),
      entry({ name: 's', mode: 0o107755 }),
      entry({ name: 't', mode: 0o041777 }),
    ]);
    // "null\0" → 115 → pad to 116
    expect(got.slice(0, 116)).toBe('070701' + '000002d1' + '000021b6' + '00000000' + '00000000' + '00000001' + '58f63f08' + '00000000' + '00000003' + '00000001' + '00000001' + '00000003' + '00000005' + '00000000' + 'null\0' + zeros(1));
    // "p\0" → 228, aligned
    expect(got.slice(116, 228)).toBe('070701' + '000002d2' + '000011a4' + '00000000' + '00000000' + '00000001' + '58f63f08' + '00000000' + '00000003' + '00000001' + '00000000' + '00000000' + '00000002' + '00000000' + 'p\0');
    expect(got.slice(228, 228 + 22)).toBe('070701' + '000002d3' + '00008fed');
    expect(got.slice(340, 340 + 22)).toBe('070701' + '000002d4' + '000043ff');
    expect(got.slice(340 + 38, 340 + 46)).toBe('00000002'); // a directory's nlink
  });

  it('names are written byte for byte (non-UTF-8, over 100 bytes)', async () => {
    const long = 'd/' + 'x'.repeat(150);
    const got = await bytesOf([entry({ name: 'caf\xe9', mode: 0o100644 }), entry({ name: long, mode: 0o100644 })]);
    expect(got.slice(94, 102)).toBe('00000005');
    expect(got.slice(110, 115)).toBe('caf\xe9\0');
    expect(got.slice(116 + 94, 116 + 102)).toBe('00000099'); // 152 + 1
    expect(got.slice(116 + 110, 116 + 110 + 153)).toBe(long + '\0');
  });

  it('a negative time as Go prints it: "-" inside the 8-character width', async () => {
    expect(goHex8(-1, 'mtime')).toBe('-0000001');
    expect(goHex8(-0xfffffff, 'mtime')).toBe('-fffffff');
    const got = await bytesOf([entry({ name: 'l', mode: 0o120777, mtime: -86400, size: 1, data: { bytes: ascii('x') } })]);
    expect(got.slice(46, 54)).toBe('-0015180');
  });

  it('fields that do not fit 8 characters are refused (gocpio would shift the archive)', () => {
    const bad: Array<Partial<CpioPlanEntry>> = [{ size: 2 ** 32, data: { bytes: new Uint8Array(0) } }, { mtime: 2 ** 32 }, { mtime: -0x10000000 }, { uid: 2 ** 32 }, { rdevmajor: 2 ** 32 }];
    for (const b of bad) {
      let err: unknown;
      try {
        planCpio([entry({ name: 'f', mode: 0o100644, ...b })]);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(EifError);
      expect(['CPIO_FIELD_OVERFLOW', 'CPIO_BAD_NAME']).toContain((err as EifError).code);
    }
    expect(() => planCpio([entry({ name: 'f', mode: 0o100644, mtime: 2 ** 32 })])).toThrow(/8 hex digits/);
  });

  it('the size is known before any data is read; data comes from a source at an offset; random access agrees', async () => {
    let reads = 0;
    const backing = ascii('....hello world....');
    const source = { size: backing.length, read: (o: number, l: number) => (reads++, backing.subarray(o, o + l)) };
    const plan = planCpio([entry({ name: 'f', mode: 0o100644, size: 11, data: { source, offset: 4 } }), entry({ name: 'g', mode: 0o040755 })]);
    expect(plan.size).toBe(512);
    expect(reads).toBe(0);
    const src = cpioPlanSource(plan);
    expect(src.entryCount).toBe(2);
    const whole = await src.read(0, src.size);
    expect(String.fromCharCode(...whole.subarray(112, 123))).toBe('hello world');
    for (let o = 0; o < src.size; o += 7) {
      const part = await src.read(o, 13);
      expect(Buffer.from(part).equals(Buffer.from(whole.subarray(o, o + 13)))).toBe(true);
    }
    expect((await src.read(src.size, 10)).length).toBe(0);
  });

  it('a source that ends early is an error, not silent zeros', async () => {
    const source = bytesSource(ascii('abc'));
    const src = cpioPlanSource(planCpio([entry({ name: 'f', mode: 0o100644, size: 10, data: { source, offset: 0 } })]));
    await expect(src.read(0, src.size)).rejects.toThrow(/ended early/);
  });

  it('writeCpio gives the same bytes as the plan (UTF-8 names, default mtime 1492533000)', async () => {
    const data = ascii('payload');
    const viaWriter = writeCpio([{ name: 'dev', mode: 0o040755 }, { name: 'init', mode: 0o100755, data }]);
    const viaPlan = materializeCpioPlan(planCpio([entry({ name: 'dev', mode: 0o040755 }), entry({ name: 'init', mode: 0o100755, size: 7, data: { bytes: data } })]));
    expect(Buffer.from(viaWriter).equals(Buffer.from(viaPlan))).toBe(true);
    expect(String.fromCharCode(...writeCpio([{ name: 'é', mode: 0o100644 }]).subarray(110, 113))).toBe('\xc3\xa9\0');
  });
});
