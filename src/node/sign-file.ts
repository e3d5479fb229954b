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
import { CRC_OFFSET, EIF_HEADER_SIZE, MAX_NUM_SECTIONS, SectionType } from '../eif/header.js';
import { sealHeader } from '../eif/builder.js';
import { readLayout } from '../eif/layout.js';
import { measurementsFromInner } from '../eif/measure.js';
import { measuredSize } from '../eif/roles.js';
import { type SectionInput, type SectionSink, layoutSections, sectionLength, walkSections } from '../eif/walk.js';
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

/**
 * Sign an EIF file (see the module comment). Throws EifError; the output is complete or absent.
 *
 * @example
 * import { readFileSync } from 'node:fs';
 * import { createPemSigner, signEifFile } from 'eifkit';
 * const signer = await createPemSigner({ certificatePem: readFileSync('cert.pem'), privateKeyPem: readFileSync('key.pem') });
 * const r = await signEifFile({ eifPath: 'app.eif', output: 'app-signed.eif', signer });
 * console.log(r.measurements.PCR8, r.replaced);
 */
export async function signEifFile(o: SignEifFileOptions): Promise<SignEifFileResult> {
  await initCore();
  const target = o.output ?? o.eifPath;
  const input = openInput(o.eifPath, 'EIF file');
  let out: ReturnType<typeof openAtomic> | undefined;
  let pipeline: HashPipeline | undefined;
  try {
    const src = fileSource(input.fd, input.size);
    const layout = await readLayout(src);
    const kept = layout.sections.filter((s) => s.type !== SectionType.Signature);
    const replaced = kept.length !== layout.sections.length;
    if (kept.length + 1 > MAX_NUM_SECTIONS) {
      throw new EifError('TOO_MANY_SECTIONS', `the image has ${kept.length} sections; adding a signature would exceed the EIF limit of ${MAX_NUM_SECTIONS}`);
    }
    const measured = measuredSize(kept);

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
    // damaged input would otherwise come out with a valid CRC that hides the damage. The walk covers every input
    // section: a kept section goes to the pipeline (copied, CRC'd, hashed) and its share of the input CRC is the
    // change in the pipeline's running CRC; an old signature section (≤ 32 KiB, read whole) is CRC'd here only.
    let inputCrc = crc32(layout.headerBytes.subarray(0, CRC_OFFSET));
    let copying = true;
    let before = 0;
    const p = pipeline;
    const copy: SectionSink = {
      beginSection: (s: SectionInput) => {
        copying = s.type !== SectionType.Signature;
        before = p.crc;
        if (!copying) return;
        offsets.push(pos);
        sizes.push(s.size);
        pos += sectionLength(s);
      },
      push: (bytes, roles) => {
        if (copying) p.push(bytes, roles);
        else inputCrc = crc32(bytes, inputCrc);
      },
      pushRange: (source, offset, size, roles, what) => p.pushRange(source, offset, size, roles, what),
      endSection: (s: SectionInput) => {
        if (!copying) return;
        const len = sectionLength(s);
        inputCrc = crc32Combine(inputCrc, (p.crc ^ crc32Combine(before, 0, len)) >>> 0, len);
      },
    };
    await walkSections(layoutSections(layout, src, o.eifPath), copy);
    if (inputCrc !== layout.header.crc32) {
      throw new EifError('EIF_CRC_MISMATCH', `${o.eifPath}: the stored CRC does not match the image's contents (damaged?); refusing to sign it`);
    }
    const inner = await pipeline.finishHashing();
    const unsigned = measurementsFromInner(inner.a, inner.fork, inner.b);

    const sig = await o.signer.signatureSection(fromHex(unsigned.PCR0));
    offsets.push(pos);
    sizes.push(sig.data.length);
    const signature: SectionInput = { type: SectionType.Signature, size: sig.data.length, data: sig.data, what: 'the new signature' };
    pos += sectionLength(signature);
    await walkSections([signature], pipeline);

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

