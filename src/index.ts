/**
 * eifkit — Node entry point. Re-exports the browser-safe core (./browser.ts) and adds the Node I/O layer
 * (files, worker threads, the CLI's building blocks). Importing it compiles nothing (the WASM core is compiled on
 * first use, src/core/wasm.ts) and does one thing: it registers node:crypto's synchronous P-384 verify for
 * the attestation verifier's warm path (src/node/p384-verify.ts) — hence package.json's `sideEffects` names this file.
 */
export * from './browser.js';
// --- Node I/O layer (each area adds its exports below) ---
// EIF files: these take paths and stream on two cores (…File; the browser entry's …Bytes take bytes / Blobs).
export { buildEifFile, type BuildEifOptions, type BuildFileResult } from './node/builder.js';
export { describeEifFile, measureEifFile } from './node/describe.js';
export { inspectEifFile, readEifLayout, type EifFileInspection } from './node/reader.js';
export { verifyEifFile, type VerifyEifOptions, type VerifyEifResult, type VerifyCheck } from './node/verify.js';
export * from './launcher/index.js';
// Container images (oci-build.md §7): docker archives, OCI archives and layouts read in place; temp-file spills.
export { openDockerArchive, openOciArchive, openOciLayout, type NodeBlobStore } from './node/oci/stores.js';
export { openImageSource, type ImageSource, type ImageSourceKind, type OpenImageSourceOptions } from './node/oci/image-source.js';
export { buildEifFileFromImage, writeSourceFile, RAMDISK_ARTIFACTS, type BuildImageEifOptions, type BuildImageEifResult, type ImageStages, type ImageInputKind } from './node/oci/build-image.js';
export { resolveBlobs, trimCmdline, hostBlobArch, DEFAULT_BLOBS_DIR, type Blobs, type ResolveBlobsOptions } from './node/oci/blobs.js';
export { type RamdiskInput } from './node/builder.js';
// Signing with keys outside the process (eif-format.md §4.2): KMS, external commands; `eif sign` on files.
export { createKmsSigner, isKmsKeyArn, type KmsSignerOptions } from './node/kms.js';
export { createCommandSigner, type CommandSignerOptions } from './node/signer-command.js';
export { signerFromFlags, type SignerFlags } from './node/signer-flags.js';
export { signEifFile, type SignEifFileOptions, type SignEifFileResult } from './node/sign-file.js';
// Container images from registries (issue 12): references, credentials, the blob cache, pullImage → a BlobStore.
export {
  pullImage,
  pullFromFlags,
  parseReference,
  formatReference,
  findCredentials,
  layerProgress,
  defaultCacheDir,
  type PulledImage,
  type PullOptions,
  type PullProgress,
  type ImageReference,
  type RegistryFlags,
} from './node/registry/index.js';
export { openRegistryImage, type RegistryImageSource } from './node/registry/source.js';
// Attestation: in Node a warm document's one ECDSA check runs on node:crypto, synchronously (src/node/p384-verify.ts);
// services get verifier threads, each with its own certificate caches (src/node/attestation-pool.ts).
import { installNodeP384Verifier } from './node/p384-verify.js';
installNodeP384Verifier();
export {
  createAttestationVerifierPool,
  type AttestationVerifierPool,
  type AttestationVerifierPoolOptions,
} from './node/attestation-pool.js';
