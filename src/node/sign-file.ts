/**
 * `eif sign`: add a signature to an EIF file, or replace the one it has — eif-format.md §1.4 ("sign-eif"), §4.5,
 * §6.5. One streaming pass: the sections are copied (in table order, contiguous) into a temp file next to the
 * output while the same pass computes the CRC and PCR0/1/2 (./hash-pipeline.ts); the signer signs that PCR0; the
 * new signature section is appended as the last section; the header (updated table, CRC combined with
 * crc32Combine, §2) is written last; then the temp file is renamed over the output. Signing in place is the
 * same with output = input, so a failure at any point leaves the input untouched and no partial output.
 *
 * Since the signed PCR0 is computed from exactly the bytes written, the output is consistent even if the input
 * changed meanwhile. A signature section that was not the last one (no AWS tool writes that) moves to the end;
 * PCRs do not depend on section positions. Node only.
 */
import { closeSync, existsSync, fchmodSync, statSync, writeSync } from 'node:fs';
import { crc32, crc32Combine, initCore } from '../core/index.js';
import { EifError } from '../errors.js';
import { CRC_OFFSET, EIF_HEADER_SIZE, MAX_NUM_SECTIONS, SECTION_HEADER_SIZE, SectionType, encodeSectionHeader } from '../eif/header.js';
import { sealHeader } from '../eif/builder.js';
import { readLayout } from '../eif/layout.js';
import { measurementsFromInner, sectionRoles } from '../eif/measure.js';
import type { Measurements } from '../eif/pcr.js';
import { fromHex } from '../util/hex.js';
import type { EifSigner } from '../signing/signer.js';
import { checkOutputPath, openAtomic } from './atomic.js';
import { fileSource, openInput } from './file-source.js';
import { HashPipeline, PARALLEL_THRESHOLD } from './hash-pipeline.js';

export interface SignEifFileOptions {
  /** The EIF to sign. */
  eifPath: string;
  /** Where to write the signed EIF (default: replace `eifPath`, atomically). */
  output?: string;
  signer: EifSigner;
  /** Force (true) or forbid (false) the two-thread hashing; default: by size. */
  parallel?: boolean;
}

export interface SignEifFileResult {
  output: string;
  /** PCR0/1/2 (unchanged by signing) and the new PCR8. */
  measurements: Measurements;
  /** True when the input already had a signature, which was replaced. */
  replaced: boolean;
  size: number;
}

/** Sign an EIF file (see the module comment). Throws EifError; the output is complete or absent. */
export async function signEifFile(o: SignEifFileOptions): Promise<SignEifFileResult> {
  await initCore();
  const target = o.output ?? o.eifPath;
  const input = openInput(o.eifPath, 'EIF file');
  let out: ReturnType<typeof openAtomic> | undefined;
  let pipeline: HashPipeline | undefined;
  try {
    const layout = await readLayout(fileSource(input.fd, input.size));
    const kept = layout.sections.filter((s) => s.type !== SectionType.Signature);
    const replaced = kept.length !== layout.sections.length;
    if (kept.length + 1 > MAX_NUM_SECTIONS) {
      throw new EifError('TOO_MANY_SECTIONS', `the image has ${kept.length} sections; adding a signature would exceed the EIF limit of ${MAX_NUM_SECTIONS}`);
    }
    const roles = sectionRoles(kept);
    const measured = kept.reduce((n, s, i) => n + (roles[i] ? s.size : 0), 0);

    checkOutputPath(target, []);
    const keepMode = existsSync(target) ? statSync(target).mode & 0o7777 : undefined;
    out = openAtomic(target);
    if (keepMode !== undefined) fchmodSync(out.fd, keepMode); // re-signing in place keeps the file's permissions
    writeSync(out.fd, new Uint8Array(EIF_HEADER_SIZE), 0, EIF_HEADER_SIZE, 0); // placeholder; real header last
    pipeline = new HashPipeline({ parallel: o.parallel ?? measured >= PARALLEL_THRESHOLD, outFd: out.fd, outPosition: EIF_HEADER_SIZE });
    const offsets: number[] = [];
    const sizes: number[] = [];
    let pos = EIF_HEADER_SIZE;
    // The input's own CRC (eif-format.md §2) is checked on the way: the output gets a new header and CRC, so a
    // damaged input would otherwise come out with a valid CRC that hides the damage. A kept section's share is
    // the change in the pipeline's running CRC; an old signature section (≤ 32 KiB) is read and CRC'd here.
    const src = fileSource(input.fd, input.size);
    let inputCrc = crc32(layout.headerBytes.subarray(0, CRC_OFFSET));
    let k = 0;
    for (const s of layout.sections) {
      const len = SECTION_HEADER_SIZE + s.size;
      if (s.type === SectionType.Signature) {
        inputCrc = crc32(src.read(s.dataOffset, s.size) as Uint8Array, crc32(src.read(s.offset, SECTION_HEADER_SIZE) as Uint8Array, inputCrc));
        continue;
      }
      const before = pipeline.crc;
      offsets.push(pos);
      sizes.push(s.size);
      pos += len;
      pipeline.push(encodeSectionHeader(s.type, s.size), 0);
      await pipeline.pushFile(input.fd, s.dataOffset, s.size, roles[k++]!, `section ${s.index} of ${o.eifPath}`);
      inputCrc = crc32Combine(inputCrc, (pipeline.crc ^ crc32Combine(before, 0, len)) >>> 0, len);
    }
    if (inputCrc !== layout.header.crc32) {
      throw new EifError('EIF_CRC_MISMATCH', `${o.eifPath}: the stored CRC does not match the image's contents (damaged?); refusing to sign it`);
    }
    const inner = await pipeline.finishHashing();
    const unsigned = measurementsFromInner(inner.a, inner.fork, inner.b);

    const sig = await o.signer.signatureSection(fromHex(unsigned.PCR0));
    offsets.push(pos);
    sizes.push(sig.data.length);
    pos += SECTION_HEADER_SIZE + sig.data.length;
    pipeline.push(encodeSectionHeader(SectionType.Signature, sig.data.length), 0);
    pipeline.push(sig.data, 0);

    const header = sealHeader(
      { ...layout.header, numSections: offsets.length, sectionOffsets: offsets.map(BigInt), sectionSizes: sizes.map(BigInt) },
      pipeline.crc,
      pos - EIF_HEADER_SIZE,
    );
    writeSync(out.fd, header, 0, header.length, 0);
    out.commit();
    return { output: target, measurements: { ...unsigned, PCR8: sig.pcr8 }, replaced, size: pos };
  } catch (e) {
    throw out ? out.fail(e) : e; // removes the temp file; a failed write names the output (IO_<ERRNO>)
  } finally {
    pipeline?.close();
    closeSync(input.fd);
  }
}

