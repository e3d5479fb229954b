/** The tar reader (src/oci/tar.ts; shared oci-build.md §3, §7 steps 1 and 3) against hand-made bytes. */
import { describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { pack as tarStreamPack } from 'tar-stream';
import { bytesSource } from '../../src/eif/layout.js';
import { EifError } from '../../src/errors.js';
import { cleanTarName, dockerAppliedMtime, goClean, indexTarMembers, MAX_TAR_META, parseTarNumber, paxTime, TarStreamParser } from '../../src/oci/tar.js';
import { base256, concat, data, END, file, header, pax } from './tar-bytes.js';

function parse(bytes: Uint8Array, chunk = bytes.length || 1) {
  const p = new TarStreamParser('t');
  for (let i = 0; i < bytes.length; i += chunk) p.push(bytes.subarray(i, i + chunk));
  p.end();
  return p;
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    if (e instanceof EifError) return e.code;
    throw e;
  }
  return undefined;
}

async function codeAsync(fn: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof EifError) return e.code;
    throw e;
  }
  return undefined;
}

describe('ustar members', () => {
  const tar = concat(
    header({ name: 'dir/', typeflag: '5', mode: 0o40755 }),
    file('dir/a.txt', 'hello', { mode: 0o4755, uid: 1000, gid: 1001, mtime: 1234 }),
    header({ name: 'dir/link', typeflag: '1', linkname: 'dir/a.txt' }),
    header({ name: 'dir/sym', typeflag: '2', linkname: '../x/y', mode: 0o777 }),
    header({ name: 'dev/c', typeflag: '3', devmajor: 1, devminor: 3 }),
    header({ name: 'dev/b', typeflag: '4', devmajor: 8, devminor: 1 }),
    header({ name: 'fifo', typeflag: '6' }),
    END,
  );

  it('reads names, types, modes, ids, times, links, devices and data offsets', () => {
    const { entries } = parse(tar);
    expect(entries.map((e) => [e.name, e.type])).toEqual([
      ['dir', 'dir'], ['dir/a.txt', 'file'], ['dir/link', 'hardlink'], ['dir/sym', 'symlink'],
      ['dev/c', 'char'], ['dev/b', 'block'], ['fifo', 'fifo'],
    ]);
    const a = entries[1]!;
    expect(a).toMatchObject({ mode: 0o4755, uid: 1000, gid: 1001, mtime: 1234, size: 5, dataOffset: 1024 });
    expect(new TextDecoder().decode(tar.subarray(a.dataOffset, a.dataOffset + a.size))).toBe('hello');
    expect(entries[0]!.mode).toBe(0o755); // type bits dropped: mode & 0o7777
    expect(entries[2]!.linkname).toBe('dir/a.txt');
    expect(entries[3]!.linkname).toBe('../x/y'); // symlink targets stay raw
    expect(entries[4]).toMatchObject({ devmajor: 1, devminor: 3 });
  });

  it('gives the same entries whatever the chunking (1, 7, 511, 513 bytes)', () => {
    const whole = parse(tar).entries;
    for (const n of [1, 7, 511, 513]) expect(parse(tar, n).entries).toEqual(whole);
  });

  it('joins the ustar prefix field, but not in GNU headers', () => {
    expect(parse(concat(header({ name: 'b', prefix: 'a/long' }), END)).entries[0]!.name).toBe('a/long/b');
    expect(parse(concat(header({ name: 'b', prefix: 'zz', magic: 'gnu' }), END)).entries[0]!.name).toBe('b');
  });

  it('ignores the size field of header-only types (no data follows a symlink or directory), as Go does', () => {
    const t = concat(header({ name: 's', typeflag: '2', linkname: 't', size: 600 }), file('after', 'x'), END);
    const { entries } = parse(t);
    expect(entries.map((e) => e.name)).toEqual(['s', 'after']);
    expect(entries[0]!.size).toBe(0);
  });

  it("reads an old-style '\\0' member as a file, or a directory when its name ends in /", () => {
    const t = concat(header({ name: 'd/', typeflag: '\0' }), header({ name: 'f', typeflag: '\0' }), END);
    expect(parse(t).entries.map((e) => e.type)).toEqual(['dir', 'file']);
  });

  it('accepts a V7 header (no magic)', () => {
    expect(parse(concat(file('old', 'abc', { magic: 'v7' }), END)).entries[0]).toMatchObject({ name: 'old', size: 3 });
  });

  it('keeps non-UTF-8 name bytes as a byte string', () => {
    const t = concat(header({ name: new Uint8Array([0x63, 0xe9, 0xff]) }), END);
    expect(parse(t).entries[0]!.name).toBe('c\xe9\xff');
  });
});

describe('names, cleaned as the chrooted unpacker sees them', () => {
  it('drops ./ and leading / and trailing /, folds .. at the root, skips the root itself', () => {
    expect(cleanTarName('./a/b/')).toEqual({ name: 'a/b', escaped: false });
    expect(cleanTarName('/etc/x')).toEqual({ name: 'etc/x', escaped: true });
    expect(cleanTarName('../../x')).toEqual({ name: 'x', escaped: true });
    expect(cleanTarName('a//b/./c/../d')).toEqual({ name: 'a/b/d', escaped: false });
    expect(cleanTarName('./')).toEqual({ name: '', escaped: false });
    const p = parse(concat(header({ name: './', typeflag: '5' }), header({ name: '../../x' }), header({ name: 'l', typeflag: '1', linkname: '/x' }), END));
    expect(p.entries.map((e) => [e.name, e.linkname])).toEqual([['x', ''], ['l', 'x']]);
    expect(p.warnings).toHaveLength(2);
  });
});

describe('numeric fields', () => {
  it('reads octal with spaces and NULs trimmed, and empty fields as 0', () => {
    const b = new Uint8Array([0x20, 0x37, 0x35, 0x35, 0x20, 0, 0, 0]);
    expect(parseTarNumber(b, 0, 8, 'mode')).toBe(0o755);
    expect(parseTarNumber(new Uint8Array(8), 0, 8, 'mode')).toBe(0);
  });

  it('reads base-256 sizes, ids and negative times', () => {
    const t = concat(
      header({ name: 'big-uid', raw: [[108, base256(3000000n, 8)], [136, base256(-1n, 12)]] }),
      header({ name: 'sized', raw: [[124, base256(3n, 12)]] }),
      data('abc'),
      END,
    );
    const { entries } = parse(t);
    expect(entries[0]).toMatchObject({ uid: 3000000, mtime: -1 });
    expect(entries[1]).toMatchObject({ size: 3, dataOffset: 1024 });
  });

  it('refuses a base-256 size beyond 2^53 (OCI_TAR_SIZE) and a non-octal field (OCI_TAR_HEADER)', () => {
    expect(code(() => parse(concat(header({ raw: [[124, base256(1n << 60n, 12)]] }), END)))).toBe('OCI_TAR_SIZE');
    expect(code(() => parse(concat(header({ raw: [[100, new TextEncoder().encode('0009')]] }), END)))).toBe('OCI_TAR_HEADER');
  });

  it('refuses a negative size', () => {
    expect(code(() => parse(concat(header({ raw: [[124, base256(-5n, 12)]] }), END)))).toBe('OCI_TAR_SIZE');
  });
});

describe('header checksum', () => {
  it('refuses a wrong checksum (OCI_TAR_CHECKSUM), and a first block that is not a header as not a tar', () => {
    const good = file('a', 'x');
    const bad = concat(good, header({ name: 'b', checksum: 1 }), END);
    expect(code(() => parse(bad))).toBe('OCI_TAR_CHECKSUM');
    expect(code(() => parse(concat(header({ name: 'b', checksum: 1 }), END)))).toBe('OCI_LAYER_NOT_TAR');
    expect(code(() => parse(new TextEncoder().encode('{"not":"a tar"}'.padEnd(600, ' '))))).toBe('OCI_LAYER_NOT_TAR');
  });

  it('accepts the signed byte sum (old tars with high-bit name bytes)', () => {
    const h = header({ name: new Uint8Array([0xe9]) });
    let signed = 0;
    for (let i = 0; i < 512; i++) {
      const c = i >= 148 && i < 156 ? 0x20 : h[i]!;
      signed += c < 128 ? c : c - 256;
    }
    expect(parse(concat(header({ name: new Uint8Array([0xe9]), checksum: signed }), END)).entries).toHaveLength(1);
  });
});

describe('PAX', () => {
  it('applies path, linkpath, size, mtime, uid and gid of an x header to the next member only', () => {
    const long = 'd/'.repeat(80) + 'f';
    const t = concat(
      pax([['path', long], ['uid', '4000000'], ['gid', '7'], ['mtime', '1700000000.75'], ['size', '4'], ['SCHILY.xattr.user.x', 'y']]),
      header({ name: 'short', size: 99 }),
      data('data'),
      pax([['linkpath', 'T'.repeat(150)]]),
      header({ name: 'sym', typeflag: '2' }),
      header({ name: 'plain' }),
      END,
    );
    const { entries } = parse(t);
    expect(entries[0]).toMatchObject({ name: long, uid: 4000000, gid: 7, mtime: 1700000000, size: 4 });
    expect(entries[1]).toMatchObject({ name: 'sym', linkname: 'T'.repeat(150) });
    expect(entries[2]).toMatchObject({ name: 'plain', uid: 0, mtime: 1700000000 });
  });

  it('parses and ignores g (global) headers, as go-archive does', () => {
    const t = concat(pax([['path', 'ignored'], ['uid', '5']], 'g'), header({ name: 'a' }), END);
    expect(parse(t).entries).toMatchObject([{ name: 'a', uid: 0 }]);
  });

  it('floors fractional times (ModTime.Truncate(second) of the Unix time)', () => {
    expect(paxTime('5')).toBe(5);
    expect(paxTime('1.9')).toBe(1);
    expect(paxTime('-1.5')).toBe(-2);
    expect(paxTime('-0.5')).toBe(-1);
    expect(paxTime('-3.000')).toBe(-3);
    expect(code(() => paxTime('1e9'))).toBe('OCI_TAR_HEADER');
  });

  it('refuses malformed records, huge values and records over 1 MiB (before reading them)', () => {
    const bad = new TextEncoder().encode('99 path=x\n');
    expect(code(() => parse(concat(header({ name: 'p', typeflag: 'x', size: bad.length }), data(bad), header({}), END)))).toBe('OCI_TAR_HEADER');
    expect(code(() => parse(concat(pax([['size', '99999999999999999999']]), header({}), END)))).toBe('OCI_TAR_SIZE');
    expect(code(() => parse(concat(pax([['size', '-1']]), header({}), END)))).toBe('OCI_TAR_SIZE');
    expect(code(() => parse(concat(pax([['uid', 'abc']]), header({}), END)))).toBe('OCI_TAR_HEADER');
    // a header that declares 2 GiB of PAX data: refused at the header, nothing allocated
    const p = new TarStreamParser('t');
    expect(code(() => p.push(header({ name: 'p', typeflag: 'x', size: 2 ** 31 })))).toBe('OCI_TAR_META_TOO_LARGE');
    expect(code(() => parse(concat(header({ name: 'p', typeflag: 'L', size: MAX_TAR_META + 1 }))))).toBe('OCI_TAR_META_TOO_LARGE');
  });

  it('refuses GNU sparse PAX members', () => {
    expect(code(() => parse(concat(pax([['GNU.sparse.major', '1']]), header({}), END)))).toBe('OCI_TAR_ENTRY_TYPE');
  });
});

describe('GNU long names', () => {
  it('applies L (name) and K (link name) records, NUL-terminated', () => {
    const name = ('n'.repeat(99) + '/').repeat(3) + 'end';
    const link = 'k'.repeat(200);
    const t = concat(
      header({ name: '././@LongLink', typeflag: 'L', size: name.length + 1, magic: 'gnu' }),
      data(name + '\0'),
      header({ name: '././@LongLink', typeflag: 'K', size: link.length + 1, magic: 'gnu' }),
      data(link + '\0'),
      header({ name: 'nnn', typeflag: '1', linkname: 'kkk', magic: 'gnu' }),
      END,
    );
    expect(parse(t).entries[0]).toMatchObject({ name, linkname: link, type: 'hardlink' });
  });
});

describe('types Docker does not unpack', () => {
  it.each(['7', 'V', 'M', 'S', 'D', 'Z'])("refuses type '%s' (OCI_TAR_ENTRY_TYPE)", (t) => {
    expect(code(() => parse(concat(header({ typeflag: t }), END)))).toBe('OCI_TAR_ENTRY_TYPE');
  });
});

describe('end of archive and truncation', () => {
  const one = file('a', 'x'.repeat(700));

  it('accepts EOF at a member boundary without end blocks, one end block, and trailing bytes after two', () => {
    expect(parse(one).entries).toHaveLength(1);
    expect(parse(concat(one, new Uint8Array(512))).entries).toHaveLength(1);
    const p = parse(concat(one, END, new Uint8Array([1, 2, 3])));
    expect(p.entries).toHaveLength(1);
    expect(p.finished).toBe(true);
  });

  it('accepts a last member whose padding is missing', () => {
    expect(parse(one.subarray(0, 512 + 700)).entries).toHaveLength(1);
  });

  it('refuses a tar cut inside a header, inside data, inside a PAX record, or after a PAX record', () => {
    expect(code(() => parse(concat(one, header({}).subarray(0, 100))))).toBe('OCI_TAR_TRUNCATED');
    expect(code(() => parse(one.subarray(0, 512 + 699)))).toBe('OCI_TAR_TRUNCATED');
    const px = pax([['path', 'p'.repeat(1000)]]);
    expect(code(() => parse(px.subarray(0, 700)))).toBe('OCI_TAR_TRUNCATED');
    expect(code(() => parse(px))).toBe('OCI_TAR_TRUNCATED');
    expect(code(() => parse(concat(px, END)))).toBe('OCI_TAR_TRUNCATED');
  });

  it('refuses a declared size larger than the data (the next header is data)', () => {
    // size says 3000 but the stream holds 5 bytes of data and the end blocks: it ends inside the declared data
    const t = concat(header({ name: 'a', size: 3000 }), data('hello'), END);
    expect(code(() => parse(t))).toBe('OCI_TAR_TRUNCATED');
  });

  it('refuses a declared size smaller than the data (data read as a header fails its checksum)', () => {
    const t = concat(header({ name: 'a', size: 5 }), data('x'.repeat(600)), END);
    expect(code(() => parse(t))).toBe('OCI_TAR_CHECKSUM');
  });

  it('refuses a part of a block after one zero block (Go: unexpected EOF)', () => {
    expect(code(() => parse(concat(one, new Uint8Array(700))))).toBe('OCI_TAR_TRUNCATED');
  });

  it('refuses a zero block followed by a header (corrupt end)', () => {
    expect(code(() => parse(concat(one, new Uint8Array(512), header({ name: 'b' }))))).toBe('OCI_TAR_HEADER');
  });
});

describe('indexTarMembers (random access over the outer archive)', () => {
  it('maps cleaned member paths to data offset and size; the last duplicate wins; links are kept', async () => {
    const t = concat(
      file('./manifest.json', '[1]'),
      file('blobs/sha256/aa', 'first'),
      file('blobs/sha256/aa', 'second!'),
      header({ name: 'x/layer.tar', typeflag: '2', linkname: '../y/layer.tar' }),
      pax([['path', 'p'.repeat(200)]]),
      file('short', 'zz'),
      END,
    );
    const m = await indexTarMembers(bytesSource(t), 't');
    expect(m.get('manifest.json')).toEqual({ offset: 512, size: 3, type: 'file', linkname: '' });
    const aa = m.get('blobs/sha256/aa')!;
    expect(new TextDecoder().decode(t.subarray(aa.offset, aa.offset + aa.size))).toBe('second!');
    expect(m.get('x/layer.tar')).toMatchObject({ type: 'symlink', linkname: '../y/layer.tar' });
    expect(m.get('p'.repeat(200))).toMatchObject({ size: 2 });
  });

  it('refuses a member whose data runs past the end, a cut header and a bad checksum', async () => {
    expect(await codeAsync(() => indexTarMembers(bytesSource(header({ size: 5000 })), 't'))).toBe('OCI_TAR_TRUNCATED');
    expect(await codeAsync(() => indexTarMembers(bytesSource(concat(file('a', 'x'), new Uint8Array(100))), 't'))).toBe('OCI_TAR_TRUNCATED');
    expect(await codeAsync(() => indexTarMembers(bytesSource(concat(header({ checksum: 7 }), END)), 't'))).toBe('OCI_TAR_CHECKSUM');
  });
});

describe('against an independent writer (tar-stream)', () => {
  it('reads what tar-stream writes: long names (PAX), links, directories, uid/gid, mtime', async () => {
    const p = tarStreamPack();
    const long = 'very/' + 'long-directory-name/'.repeat(8) + 'file.txt';
    p.entry({ name: 'top/', type: 'directory', mode: 0o755, mtime: new Date(1600000000000) });
    p.entry({ name: long, mode: 0o640, uid: 12, gid: 34, mtime: new Date(1600000001000) }, 'contents');
    p.entry({ name: 'top/link', type: 'symlink', linkname: 'x/'.repeat(60) + 'target' });
    p.entry({ name: 'top/hard', type: 'link', linkname: long });
    p.finalize();
    const chunks: Buffer[] = [];
    for await (const c of Readable.from(p as unknown as AsyncIterable<Buffer>)) chunks.push(c as Buffer);
    const bytes = new Uint8Array(Buffer.concat(chunks));
    const { entries } = parse(bytes, 333);
    expect(entries.map((e) => [e.name, e.type, e.mode, e.uid, e.gid, e.mtime, e.size, e.linkname])).toEqual([
      ['top', 'dir', 0o755, 0, 0, 1600000000, 0, ''],
      [long, 'file', 0o640, 12, 34, 1600000001, 8, ''],
      ['top/link', 'symlink', 0o644, 0, 0, expect.any(Number), 0, 'x/'.repeat(60) + 'target'],
      ['top/hard', 'hardlink', 0o644, 0, 0, expect.any(Number), 0, long],
    ]);
    const f = entries[1]!;
    expect(new TextDecoder().decode(bytes.subarray(f.dataOffset, f.dataOffset + f.size))).toBe('contents');
  });
});

describe('duplicate names (docker load: "duplicates of file paths not supported")', () => {
  it("Go's filepath.Clean", () => {
    expect(['a', './a', 'a/', 'a//b/../c', '/a/../..', '../x', '', './', 'a/..'].map(goClean)).toEqual(['a', 'a', 'a', 'a/c', '/', '../x', '.', '.', '.']);
  });

  it('refuses a name repeated after cleaning (a, ./a; d/, d; two global headers of one name)', () => {
    expect(code(() => parse(concat(file('a', '1'), file('./a', '2'), END)))).toBe('OCI_TAR_DUPLICATE');
    expect(code(() => parse(concat(header({ name: 'd/', typeflag: '5' }), header({ name: 'd', typeflag: '5' }), END)))).toBe('OCI_TAR_DUPLICATE');
    expect(code(() => parse(concat(pax([['comment', 'x']], 'g'), pax([['comment', 'y']], 'g'), END)))).toBe('OCI_TAR_DUPLICATE');
    expect(code(() => parse(concat(pax([['path', 'same']]), header({ name: 'one' }), pax([['path', 'same']]), header({ name: 'two' }), END)))).toBe('OCI_TAR_DUPLICATE');
  });

  it('names the member in the message as text (UTF-8) or with \\xNN escapes', () => {
    const utf8 = new TextEncoder().encode('caf\u00e9');
    expect(() => parse(concat(header({ name: utf8 }), header({ name: utf8 }), END))).toThrow(/"café"/);
    const raw = new Uint8Array([0x61, 0xff]);
    expect(() => parse(concat(header({ name: raw }), header({ name: raw }), END))).toThrow(/"a\\\\xff"/);
  });

  it('accepts a and /a (different to tar-split; both land on /a, the later wins) and repeated PAX x headers', () => {
    const p = parse(concat(file('a', '1'), pax([['uid', '1']]), file('/a', '22'), pax([['uid', '2']]), file('b', '3'), END));
    expect(p.entries.map((e) => [e.name, e.size])).toEqual([['a', 1], ['a', 2], ['b', 1]]);
  });
});

describe('mtime as Docker applies it', () => {
  it('before the epoch or past 2^63 ns → 0, except symlinks (observed with Docker 20.10)', () => {
    expect(dockerAppliedMtime(-2, 'file')).toBe(0);
    expect(dockerAppliedMtime(-100, 'dir')).toBe(0);
    expect(dockerAppliedMtime(-7, 'symlink')).toBe(-7);
    expect(dockerAppliedMtime(9223372036, 'file')).toBe(9223372036);
    expect(dockerAppliedMtime(9223372037, 'file')).toBe(0);
    expect(dockerAppliedMtime(1700000000, 'hardlink')).toBe(1700000000);
  });
});

describe('name lengths Docker can unpack (observed with Docker 20.10)', () => {
  const longName = (n: number) => Array.from({ length: Math.ceil(n / 200) }, () => 'd'.repeat(199)).join('/').slice(0, n);
  it('names up to 4094 bytes and 255-byte components pass; longer ones are OCI_NAME_TOO_LONG', () => {
    expect(parse(concat(pax([['path', longName(4094)]]), header({}), END)).entries[0]!.name.length).toBe(4094);
    expect(code(() => parse(concat(pax([['path', longName(4095)]]), header({}), END)))).toBe('OCI_NAME_TOO_LONG');
    expect(parse(concat(pax([['path', 'c'.repeat(255)]]), header({}), END)).entries).toHaveLength(1);
    expect(code(() => parse(concat(pax([['path', 'c'.repeat(256)]]), header({}), END)))).toBe('OCI_NAME_TOO_LONG');
    expect(code(() => parse(concat(pax([['linkpath', 'c'.repeat(256)]]), header({ typeflag: '1' }), END)))).toBe('OCI_NAME_TOO_LONG');
  });

  it('symlink targets up to 4095 bytes', () => {
    expect(parse(concat(pax([['linkpath', 't'.repeat(4095)]]), header({ typeflag: '2' }), END)).entries[0]!.linkname.length).toBe(4095);
    expect(code(() => parse(concat(pax([['linkpath', 't'.repeat(4096)]]), header({ typeflag: '2' }), END)))).toBe('OCI_NAME_TOO_LONG');
  });

  it('the length limit applies to the cleaned name; long raw names stay bounded in memory', () => {
    const raw = '../'.repeat(100000) + 'x';
    const p = parse(concat(pax([['path', raw]]), header({}), pax([['path', '../' + raw]]), header({}), END));
    expect(p.entries.map((e) => e.name)).toEqual(['x', 'x']); // tar-split sees two different names; both land on /x
    expect(code(() => parse(concat(pax([['path', raw]]), header({}), pax([['path', raw]]), header({}), END)))).toBe('OCI_TAR_DUPLICATE');
  });
});
