/**
 * eifkit — browser-safe entry point: bytes and streams in, no `fs`, clock and trust anchors injected.
 * Also re-exported by the Node entry (./index.ts), unchanged: a name means the same function in both entries.
 * Naming: functions over bytes / Blobs end in `Bytes` (`measureEifBytes`), the Node entry's over paths in `File`
 * (`measureEifFile`); the same verb returns the same shape in both (describe → nitro-cli JSON, measure → PCRs).
 */
export { EifError, ERROR_CODES, isErrorCode, type ErrorCode } from './errors.js';
// --- browser-safe core (each area adds its exports below) ---
// EIF format (eif-format.md): build and inspect images held as bytes / Blobs.
export {
  buildEifBytes,
  type BuildBytesInput,
  type BuildResult,
  type EifSigner,
  type MetadataOptions,
  type Arch,
} from './eif/builder.js';
export {
  inspectEifBytes,
  describeEifBytes,
  measureEifBytes,
  blobSource,
  type EifInspection,
} from './inspect/eif.js';
export { readLayout, bytesSource, type ByteSource, type EifLayout, type Section } from './eif/layout.js';
export { SectionType, EIF_HEADER_SIZE, decodeEifHeader, encodeEifHeader, type EifHeader } from './eif/header.js';
export { pcrExtend, pcrOfBytes, pcr3FromRoleArn, pcr4FromInstanceId, type Measurements } from './eif/pcr.js';
export { encodeMetadata, decodeMetadata, type EifMetadata } from './eif/metadata.js';
export { writeCpio, readCpio, type CpioEntry } from './eif/cpio.js';
// Container images, read side (oci-build.md §7 steps 1–3): tar reading, image selection, layer pass 1.
export { indexTarMembers, TarStreamParser, dockerAppliedMtime, type TarMember } from './oci/tar.js';
export { openTarArchive } from './oci/archive-store.js';
export { selectImage, normalizeImageRef, layerCompression, sniffCompression, type SelectImageOptions } from './oci/image.js';
export {
  indexLayer,
  nobleSha256,
  defaultInflate,
  memorySpill,
  type IndexLayerOptions,
  type StreamHasher,
  type HasherFactory,
  type Inflate,
  type Spill,
} from './oci/layer.js';
export type { BlobStore, ImageSelection, LayerRef, LayerIndex, TarEntry, EntryHeader, EntryType, Compression } from './oci/types.js';
export { openOpfsSpillDir, memorySpillBudget, type OpfsSpillDir } from './oci/opfs-spill.js';
export { planCpio, cpioPlanSource, materializeCpioPlan, planEntry, type CpioPlanEntry, type CpioPlan, type CpioPlanSource, type CpioData } from './eif/cpio-plan.js';
// Container images → ramdisks (shared oci-build.md §1.3): docker export emulation, linuxkit rules, gocpio.
export * from './oci/index.js';
// Container image → EIF, the CLI side (docs/oci.md): nitro-cli metadata, stand-in blobs, streaming ramdisk listing/diff.
export { nitroImageName, nitroImageVersion, synthesizeDockerInfo, imageMetadataFields, imageContentSize, type ImageOrigin, type ImageMetadataFields } from './oci/nitro-metadata.js';
export { standinBlobs, KERNEL_FILE, type BlobArch } from './oci/standin-blobs.js';
export { readCpioEntries, diffCpio, modeString, cpioEntryType, type CpioListing, type CpioEnd, type CpioDifference, type CpioEntryType } from './eif/cpio-reader.js';
export { kernelConfigInfo } from './eif/metadata.js';
export * from './core/index.js';
export * from './attestation/index.js';
export * from './signing/index.js';
// The split measurement for Web Workers (one share per thread; src/inspect/parts.ts).
export {
  measureEifPart,
  inspectEifParts,
  measureImageInputs,
  PART_CHUNK_SIZE,
  PART_CRC_STRIPE,
  type ImageInputs,
  type EifMeasureShare,
  type EifMeasurePart,
  type EifCrcSlice,
  type EifCrcStripes,
} from './inspect/parts.js';
// One read of the file shared by the measuring workers: pieces relayed over a MessagePort (src/inspect/relay.ts).
export { relaySender, relayReceiver, RELAY_BUFFERS, type RelayPort, type RelayEnd, type RelaySender, type RelayReceiver } from './inspect/relay.js';
