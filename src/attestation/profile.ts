/**
 * The strict X.509 profile of attestation chains (attestation.md §1.3 / §2.2 step 4; certificates are
 * `bstr .size (1..1024)`, §1.2), shared by the chain check (./chain.ts), the leaf cache (./leaf-cache.ts) and the
 * trust anchors (./input.ts). Browser-safe.
 */
import { parseCertificate as parseX509, type ParsedCertificate, type X509Profile } from '../pki/x509.js';

export const ATTESTATION_X509: X509Profile = { strict: true, code: 'ATT_CERT_MALFORMED', maxBytes: 1024 };

/** Parse one chain certificate (ATT_CERT_MALFORMED naming `label`, e.g. "cabundle[2]"). */
export function parseChainCertificate(der: Uint8Array, label: string): ParsedCertificate {
  return parseX509(der, label, ATTESTATION_X509);
}
