/**
 * nitro-cli `describe-eif` output (eif-format.md §6.3): field names and order as nitro-cli's serde structs write
 * them, so scripts doing `jq .Measurements.PCR0` keep working. Browser-safe: takes the results of a read.
 */
import type { Measurements } from './pcr.js';
import type { DecodedMetadata } from './metadata.js';

export interface SigningCertificateInfo {
  IssuerName: Record<string, string>;
  Algorithm: string;
  NotBefore: string;
  NotAfter: string;
  Signature: string;
}

export interface DescribeInput {
  version: number;
  measurements: Measurements;
  checkCrc: boolean;
  signature?: { certificate: SigningCertificateInfo; signatureCheck: boolean };
  metadata?: DecodedMetadata;
}

/** Build the describe object with nitro-cli's key order. */
export function describeObject(d: DescribeInput): Record<string, unknown> {
  const out: Record<string, unknown> = {
    EifVersion: d.version,
    Measurements: d.measurements,
    IsSigned: d.signature !== undefined,
  };
  if (d.signature) out.SigningCertificate = d.signature.certificate;
  out.CheckCRC = d.checkCrc;
  if (d.signature) out.SignatureCheck = d.signature.signatureCheck;
  if (d.metadata) {
    out.ImageName = d.metadata.ImageName;
    out.ImageVersion = d.metadata.ImageVersion;
    const meta: Record<string, unknown> = {};
    for (const k of ['BuildTime', 'BuildTool', 'BuildToolVersion', 'OperatingSystem', 'KernelVersion']) {
      if (k in d.metadata.BuildMetadata) meta[k] = d.metadata.BuildMetadata[k];
    }
    meta.DockerInfo = d.metadata.DockerInfo;
    const custom = d.metadata.CustomMetadata;
    if (custom !== null && typeof custom === 'object' && !Array.isArray(custom)) Object.assign(meta, custom);
    out.Metadata = meta;
  }
  return out;
}
