/**
 * The metadata section (type 5, EIF v4) — eif-format.md §5. Compact serde_json with this exact key order:
 * ImageName, ImageVersion, BuildMetadata{BuildTime, BuildTool, BuildToolVersion, OperatingSystem, KernelVersion},
 * DockerInfo, CustomMetadata. Never measured, but it is part of the file bytes and the CRC, so reproducible
 * builds pin every field (§5.3).
 */
import { EifError } from '../errors.js';
import { type JsonValue, parseSerdeJson, quoteString, stringifySerdeJson, toPlain } from './serde-json.js';

/** eif_build's limit on the `--metadata` file (§5.2). */
export const CUSTOM_METADATA_MAX_BYTES = 4096;

export interface EifMetadata {
  imageName: string;
  imageVersion: string;
  buildTime: string;
  buildTool: string;
  buildToolVersion: string;
  operatingSystem: string;
  kernelVersion: string;
  dockerInfo: JsonValue;
  customMetadata: JsonValue;
}

/**
 * Encode as the bytes eif_build / nitro-cli write (§5.1).
 *
 * @example
 * import { encodeMetadata } from 'eifkit/browser';
 * const bytes = encodeMetadata({
 *   imageName: 'app', imageVersion: '1.0', buildTime: '2026-01-01T00:00:00Z', buildTool: 'eifkit',
 *   buildToolVersion: '0.1.0', operatingSystem: 'OS', kernelVersion: 'kernel', dockerInfo: null, customMetadata: null,
 * });
 */
export function encodeMetadata(m: EifMetadata): Uint8Array {
  const text =
    '{"ImageName":' + quoteString(m.imageName) +
    ',"ImageVersion":' + quoteString(m.imageVersion) +
    ',"BuildMetadata":{"BuildTime":' + quoteString(m.buildTime) +
    ',"BuildTool":' + quoteString(m.buildTool) +
    ',"BuildToolVersion":' + quoteString(m.buildToolVersion) +
    ',"OperatingSystem":' + quoteString(m.operatingSystem) +
    ',"KernelVersion":' + quoteString(m.kernelVersion) +
    '},"DockerInfo":' + stringifySerdeJson(m.dockerInfo) +
    ',"CustomMetadata":' + stringifySerdeJson(m.customMetadata) + '}';
  return new TextEncoder().encode(text);
}

/** Validate and parse a `--metadata` file's bytes (≤ 4096 bytes, any JSON value). */
export function parseCustomMetadata(bytes: Uint8Array, source = 'metadata file'): JsonValue {
  if (bytes.length > CUSTOM_METADATA_MAX_BYTES) {
    throw new EifError('METADATA_TOO_LARGE', `${source} is ${bytes.length} bytes; the limit is ${CUSTOM_METADATA_MAX_BYTES} bytes`);
  }
  try {
    return parseSerdeJson(bytes);
  } catch (e) {
    throw new EifError('METADATA_NOT_JSON', `${source} is not valid JSON: ${(e as Error).message}`);
  }
}

/** The metadata as `describe` shows it (nitro-cli's MetadataDescribeInfo, §6.3). */
export interface DecodedMetadata {
  ImageName: string;
  ImageVersion: string;
  BuildMetadata: Record<string, unknown>;
  DockerInfo: unknown;
  CustomMetadata: unknown;
}

/**
 * Decode a metadata section (for describe). Throws EIF_BAD_METADATA when it is not the expected shape.
 *
 * @example
 * import { decodeMetadata } from 'eifkit/browser';
 * const m = decodeMetadata(metadataSectionBytes);
 * console.log(m.ImageName, m.ImageVersion, m.BuildMetadata);
 */
export function decodeMetadata(bytes: Uint8Array): DecodedMetadata {
  let v: unknown;
  try {
    v = toPlain(parseSerdeJson(bytes));
  } catch (e) {
    throw new EifError('EIF_BAD_METADATA', `metadata section is not valid JSON: ${(e as Error).message}`);
  }
  const o = v as Record<string, unknown>;
  if (o === null || typeof o !== 'object' || Array.isArray(o)) {
    throw new EifError('EIF_BAD_METADATA', 'metadata section is not a JSON object');
  }
  const bm = o.BuildMetadata as Record<string, unknown> | undefined;
  if (typeof o.ImageName !== 'string' || typeof o.ImageVersion !== 'string' || !bm || typeof bm !== 'object' || Array.isArray(bm)) {
    throw new EifError('EIF_BAD_METADATA', 'metadata section lacks ImageName, ImageVersion or BuildMetadata');
  }
  return {
    ImageName: o.ImageName,
    ImageVersion: o.ImageVersion,
    BuildMetadata: bm,
    DockerInfo: o.DockerInfo ?? null,
    CustomMetadata: o.CustomMetadata ?? null,
  };
}

/**
 * chrono's `to_rfc3339()` for a UTC instant: `YYYY-MM-DDTHH:MM:SS[.fff]+00:00` (fraction digits 0 or 3 here,
 * since JS time has millisecond resolution). Used for SOURCE_DATE_EPOCH and "now".
 */
export function rfc3339(date: Date): string {
  const iso = date.toISOString(); // 2024-01-02T03:04:05.678Z
  const ms = date.getUTCMilliseconds();
  return (ms === 0 ? iso.slice(0, 19) : iso.slice(0, 23)) + '+00:00';
}

/**
 * OperatingSystem and KernelVersion from a kernel config (`--kernel_config`), the way nitro-cli reads its blobs'
 * `bzImage.config` (eif-format.md §5.2): line 3, split on space, '/' and '-', words 1 and 3
 * (`# Linux/x86_64 4.14.256-209… Kernel Configuration` → Linux, 4.14.256); `Unknown` when absent.
 *
 * @example
 * import { kernelConfigInfo } from 'eifkit/browser';
 * kernelConfigInfo(new TextEncoder().encode('#\n#\n# Linux/x86_64 4.14.256-209.484.amzn2 Kernel Configuration\n'));
 * // { os: 'Linux', kernel: '4.14.256' }
 */
export function kernelConfigInfo(config: Uint8Array): { os: string; kernel: string } {
  const line = new TextDecoder().decode(config).split('\n')[2] ?? '';
  const words = line.split(/[ /-]/);
  return { os: words[1] || 'Unknown', kernel: words[3] || 'Unknown' };
}
