/**
 * `eif build` for files: streams kernel and ramdisks in 1 MiB chunks (never whole), computes the CRC and the PCRs
 * in the same pass that writes the output (./hash-pipeline.ts; PCR0 and PCR2 streams on two worker threads for
 * large images), then writes the header with the final CRC. The output goes to a temp file in the target folder
 * that is renamed at the end, so a failure or Ctrl-C leaves no partial file and never touches an input.
 * Byte-identical to src/eif/builder.ts's in-memory builder and to AWS eif_build (eif-format.md Appendix A).
 */
import { basename } from 'node:path';
import { closeSync, writeSync } from 'node:fs';
import { EifError } from '../errors.js';
import { EIF_HEADER_SIZE, SectionType } from '../eif/header.js';
import { initCore } from '../core/index.js';
import {
  type Arch,
  type BuildResult,
  type EifSigner,
  type MetadataOptions,
  checkSignatureSize,
  cmdlineBytes,
  finalHeaderBytes,
  planSections,
  resolveMetadata,
} from '../eif/builder.js';
import { encodeMetadata, parseCustomMetadata, CUSTOM_METADATA_MAX_BYTES } from '../eif/metadata.js';
import { measurementsFromInner } from '../eif/measure.js';
import { measuredSize } from '../eif/roles.js';
import { type SectionInput, walkSections } from '../eif/walk.js';
import { fromHex } from '../util/hex.js';
import { HashPipeline, PARALLEL_THRESHOLD } from './hash-pipeline.js';
import { checkOutputPath, openAtomic } from './atomic.js';
import { fileSource, openInput, readInputFile } from './file-source.js';
import type { ByteSource } from '../eif/layout.js';

/**
 * A ramdisk given as bytes rather than a path: any ByteSource whose size is known before its bytes are read (a
 * container image's ramdisks, `RamdiskSource` of src/oci/types.ts, are generated while they are written). It is
 * read once, front to back, in the same walk as the files. `label` names it in messages and progress.
 */
export interface RamdiskInput {
  source: ByteSource;
  label: string;
}

export interface BuildEifOptions extends MetadataOptions {
  kernel: string;
  /** The kernel command line; bytes are taken as they are (nitro-cli's trimmed `cmdline` blob). */
  cmdline: string | Uint8Array;
  /** Paths of ramdisk files, or sources streamed through the same walk (bootstrap ramdisk first). */
  ramdisks: (string | RamdiskInput)[];
  output: string;
  arch?: Arch;
  /** Path of a `--metadata` JSON file (≤ 4096 bytes). */
  metadataFile?: string;
  signer?: EifSigner;
  /** Defaults to process.env.SOURCE_DATE_EPOCH. */
  sourceDateEpoch?: string;
  now?: () => Date;
  /** Force (true) or forbid (false) worker threads; default: by size. */
  parallel?: boolean;
  /** Other files the caller read for this build (signing certificate, key file): the output must not replace them. */
  extraInputs?: string[];
  onProgress?: (done: number, total: number) => void;
}

export interface BuildFileResult extends BuildResult {
  output: string;
}


/**
 * Build an EIF file from a kernel, a command line and ramdisks, streamed (see the module comment), byte-identical
 * to eif_build (eif-format.md Appendix A). Throws EifError; the output file is complete or absent.
 *
 * @example
 * import { buildEifFile } from 'eifkit';
 * const r = await buildEifFile({ kernel: 'bzImage', cmdline: 'console=ttyS0', ramdisks: ['init.cpio'], output: 'app.eif' });
 * console.log(r.output, r.size, r.measurements.PCR0);
 */
export async function buildEifFile(o: BuildEifOptions): Promise<BuildFileResult> {
  await initCore();
  if (o.ramdisks.length === 0) throw new EifError('NO_RAMDISK', 'at least one --ramdisk is required');
  const cmd = cmdlineBytes(o.cmdline);
  let customMetadata = o.customMetadata;
  if (o.metadataFile !== undefined) customMetadata = parseCustomMetadata(
      readInputFile(o.metadataFile, 'metadata file', { bytes: CUSTOM_METADATA_MAX_BYTES, code: 'METADATA_TOO_LARGE' }),
      `metadata file ${o.metadataFile}`,
    );
  const metadata = resolveMetadata(
    { ...o, customMetadata },
    { kernelFileName: basename(o.kernel), sourceDateEpoch: o.sourceDateEpoch ?? process.env.SOURCE_DATE_EPOCH, now: o.now },
  );
  const meta = encodeMetadata(metadata);
  const ramdiskPaths = o.ramdisks.filter((r): r is string => typeof r === 'string');
  const inputPaths = [o.kernel, ...ramdiskPaths, ...(o.metadataFile ? [o.metadataFile] : []), ...(o.extraInputs ?? [])];
  checkOutputPath(o.output, inputPaths);

  const opened: { fd: number; size: number }[] = [];
  let out: ReturnType<typeof openAtomic> | undefined;
  let pipeline: HashPipeline | undefined;
  try {
    const kernel = openInput(o.kernel, 'kernel');
    opened.push(kernel);
    const ramdisks = o.ramdisks.map((r, i): { source: ByteSource; what: string } => {
      if (typeof r !== 'string') return { source: r.source, what: r.label };
      const f = openInput(r, `ramdisk ${i}`);
      opened.push(f);
      return { source: fileSource(f.fd, f.size), what: `ramdisk ${r}` };
    });
    const sizes = { kernel: kernel.size, cmdline: cmd.length, metadata: meta.length, ramdisks: ramdisks.map((r) => r.source.size) };
    const plan = planSections(sizes);
    if (o.signer) planSections({ ...sizes, signature: 0 }); // room for the signature section: fail before hashing
    const measured = measuredSize(plan);
    const total = measured + meta.length;

    out = openAtomic(o.output);
    pipeline = new HashPipeline({
      parallel: o.parallel ?? measured >= PARALLEL_THRESHOLD,
      outFd: out.fd,
      outPosition: EIF_HEADER_SIZE,
      onProgress: o.onProgress && ((done) => o.onProgress!(done, total)),
    });
    // Placeholder header; the real one (with the CRC) is written last.
    writeSync(out.fd, new Uint8Array(EIF_HEADER_SIZE), 0, EIF_HEADER_SIZE, 0);
    // The body, in plan order, through the section walk (src/eif/walk.ts) into the pipeline.
    const data: SectionInput['data'][] = [{ source: fileSource(kernel.fd, kernel.size), offset: 0 }, cmd, meta, ...ramdisks.map((r) => ({ source: r.source, offset: 0 }))];
    const what = [`kernel ${o.kernel}`, 'cmdline', 'metadata', ...ramdisks.map((r) => r.what)];
    await walkSections(plan.map((s, i): SectionInput => ({ type: s.type, size: s.size, data: data[i]!, what: what[i]! })), pipeline);
    const inner = await pipeline.finishHashing();
    let measurements = measurementsFromInner(inner.a, inner.fork, inner.b);
    let sections = plan;
    if (o.signer) {
      const sig = await o.signer.signatureSection(fromHex(measurements.PCR0));
      checkSignatureSize(sig.data);
      sections = planSections({ ...sizes, signature: sig.data.length });
      await walkSections([{ type: SectionType.Signature, size: sig.data.length, data: sig.data, what: 'the signature' }], pipeline);
      measurements = measurementsFromInner(inner.a, inner.fork, inner.b, sig.pcr8);
    }
    const last = sections[sections.length - 1]!;
    const size = last.dataOffset + last.size;
    const header = finalHeaderBytes(sections, o.arch ?? 'x86_64', pipeline.crc, size - EIF_HEADER_SIZE);
    writeSync(out.fd, header, 0, header.length, 0);
    out.commit();
    return { output: o.output, size, metadata, measurements };
  } catch (e) {
    throw out ? out.fail(e) : e; // removes the temp file; a failed write names the output (IO_<ERRNO>)
  } finally {
    pipeline?.close();
    for (const f of opened) closeSync(f.fd);
  }
}
