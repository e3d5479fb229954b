/**
 * The one walk over an EIF's sections — eif-format.md §1.1, §2, §3.2. Every reader and writer of an image's body
 * (the browser measurer, the Node reader, `eif sign`, both builders) sends it through here: for each section in
 * table order, its 12-byte section header (role 0: CRC only), then its data with the section's PCR roles
 * (./roles.ts). A {@link SectionSink} receives the bytes: it CRCs them, hashes them by their roles, and writes them
 * if it writes a file. Small sections that describe needs (metadata, signature) are read whole and returned.
 */
import { SECTION_HEADER_SIZE, SectionType, encodeSectionHeader } from './header.js';
import type { ByteSource, EifLayout } from './layout.js';
import { pieceRoles, sectionRoles } from './roles.js';

/** The data of one section to walk: bytes in memory, or `size` bytes at `offset` of `source`. */
export interface SectionInput {
  type: SectionType;
  size: number;
  data: Uint8Array | { source: ByteSource; offset: number };
  /** Names the data in messages ("section 3 of app.eif", "kernel bzImage"). */
  what: string;
}

/** Where the walk sends an image body's bytes, in order. */
export interface SectionSink {
  /** Bytes in memory, with their PCR role bits (./roles.ts); the fork bit applies after the last byte. */
  push(bytes: Uint8Array, roles: number): void;
  /**
   * Stream `size` bytes at `offset` of `source` itself (the Node pipeline reads files straight into its ring).
   * Without it, the walker reads pieces of {@link CHUNK_SIZE} and pushes them.
   */
  pushRange?(source: ByteSource, offset: number, size: number, roles: number, what: string): Promise<void>;
  /** Called before a section's header is pushed, and after its last data byte. */
  beginSection?(s: SectionInput, index: number): void;
  endSection?(s: SectionInput, index: number): void;
}

/** Sections read whole for describe: the metadata (when ≤ {@link KEEP_LIMIT}) and the signature. */
export interface WalkResult {
  metadata?: Uint8Array;
  signature?: Uint8Array;
}

/** Size of the pieces the walker reads from a source for a sink without `pushRange`. */
export const CHUNK_SIZE = 1 << 20;

/**
 * Largest metadata section read whole for describe (AWS tools write a few hundred bytes to a few KiB of docker
 * inspect JSON). The signature section is bounded by the layout check (≤ 32 KiB, §1.3).
 */
export const KEEP_LIMIT = 1 << 20;

/** The sections of a checked layout, as walk inputs over `src` (in table order). `name` labels messages. */
export function layoutSections(layout: EifLayout, src: ByteSource, name?: string): SectionInput[] {
  return layout.sections.map((s) => ({
    type: s.type,
    size: s.size,
    data: { source: src, offset: s.dataOffset },
    what: name === undefined ? `section ${s.index}` : `section ${s.index} of ${name}`,
  }));
}

function kept(s: SectionInput): boolean {
  return s.type === SectionType.Signature || (s.type === SectionType.Metadata && s.size <= KEEP_LIMIT);
}

/**
 * Walk `sections` in order into `sink` (see the module comment). `onProgress` gets the data bytes done by the
 * walker's own reads (a sink with `pushRange` reports its own progress).
 */
export async function walkSections(
  sections: readonly SectionInput[],
  sink: SectionSink,
  onProgress?: (done: number) => void,
): Promise<WalkResult> {
  const roles = sectionRoles(sections.map((s) => s.type));
  const out: WalkResult = {};
  let done = 0;
  for (const [i, s] of sections.entries()) {
    sink.beginSection?.(s, i);
    sink.push(encodeSectionHeader(s.type, s.size), 0);
    const r = roles[i]!;
    let whole: Uint8Array | undefined = s.data instanceof Uint8Array ? s.data : undefined;
    if (whole === undefined && kept(s)) whole = await readRange(s, 0, s.size);
    if (whole !== undefined) {
      sink.push(whole, r);
      done += s.size;
      onProgress?.(done);
      if (s.type === SectionType.Metadata && s.size <= KEEP_LIMIT) out.metadata = whole;
      if (s.type === SectionType.Signature) out.signature = whole;
    } else if (sink.pushRange) {
      const { source, offset } = s.data as { source: ByteSource; offset: number };
      await sink.pushRange(source, offset, s.size, r, s.what);
      done += s.size;
      onProgress?.(done);
    } else {
      for (let off = 0; off < s.size; off += CHUNK_SIZE) {
        const len = Math.min(CHUNK_SIZE, s.size - off);
        sink.push(await readRange(s, off, len), pieceRoles(r, off + len === s.size));
        done += len;
        onProgress?.(done);
      }
      if (s.size === 0) sink.push(new Uint8Array(0), r);
    }
    sink.endSection?.(s, i);
  }
  return out;
}

async function readRange(s: SectionInput, off: number, len: number): Promise<Uint8Array> {
  const { source, offset } = s.data as { source: ByteSource; offset: number };
  return source.read(offset + off, len);
}

/** Bytes of a section on disk: its 12-byte header and its data (for CRC bookkeeping). */
export const sectionLength = (s: { size: number }): number => SECTION_HEADER_SIZE + s.size;
