/**
 * Turning what users have into what the verifier takes: an attestation document as raw CBOR, base64 (standard
 * or URL-safe, whitespace allowed) or hex (attestation.md §7.1 last item), and trust anchors as PEM or DER.
 * The embedded AWS root is checked against its pinned SHA-256 before first use (attestation.md §3).
 * Browser-safe.
 */
import { pemBlocks } from '../signing/pem.js';
import { fromHex } from '../util/hex.js';
import { AWS_NITRO_ROOT_PEM, AWS_NITRO_ROOT_SHA256 } from './aws-root.js';
import { sha256Hex, type TrustAnchor } from './chain.js';
import { MAX_DOCUMENT_BYTES } from './document.js';
import { AttestationFailure } from './errors.js';
import { parseCertificate } from './x509.js';

const latin1 = new TextDecoder('latin1');

/** Is every byte printable ASCII or whitespace (so the input may be base64 or hex text)? */
function isText(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b > 0x7e || (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d)) return false;
  }
  return true;
}

/** The encoding {@link decodeAttestationInput} detected. */
export type DocumentEncoding = 'cbor' | 'base64' | 'hex';

/**
 * Raw CBOR, base64 or hex → document bytes. Raw CBOR is recognized by any byte that is not printable text (a
 * COSE_Sign1 starts with 0x84 or 0xd2); text is tried as hex, then base64. Throws ATT_INPUT /
 * ATT_INPUT_TOO_LARGE.
 */
export function decodeAttestationInput(input: Uint8Array | string): { bytes: Uint8Array; encoding: DocumentEncoding } {
  if (typeof input !== 'string' && !(input instanceof Uint8Array)) {
    throw new AttestationFailure('ATT_INPUT', 'the document must be bytes (Uint8Array) or a base64/hex string');
  }
  if (input.length > 4 * MAX_DOCUMENT_BYTES) {
    throw new AttestationFailure('ATT_INPUT_TOO_LARGE', `the input is ${input.length} bytes/characters (limit ${4 * MAX_DOCUMENT_BYTES})`);
  }
  if (typeof input !== 'string') {
    if (!isText(input)) return { bytes: input, encoding: 'cbor' };
    input = latin1.decode(input);
  }
  const t = input.replace(/\s+/g, '');
  if (t.length === 0) throw new AttestationFailure('ATT_INPUT', 'the document is empty');
  if (t.length % 2 === 0 && /^[0-9a-fA-F]+$/.test(t)) return { bytes: fromHex(t), encoding: 'hex' };
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(t)) {
    const std = t.replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/');
    if (std.length % 4 !== 1 && !(/[+/]/.test(t) && /[-_]/.test(t))) {
      try {
        const bin = atob(std + '='.repeat((4 - (std.length % 4)) % 4));
        const out = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
        return { bytes: out, encoding: 'base64' };
      } catch {
        // fall through
      }
    }
  }
  throw new AttestationFailure('ATT_INPUT', 'the document is text but neither hex nor base64');
}

/**
 * Trust anchors from PEM text (any number of CERTIFICATE blocks) or DER bytes. Each must parse as a
 * certificate. Throws ATT_ROOTS_INVALID.
 */
export function parseTrustAnchors(roots: readonly (Uint8Array | string)[]): TrustAnchor[] {
  if (!Array.isArray(roots) || roots.length === 0) throw new AttestationFailure('ATT_ROOTS_INVALID', 'no trust anchors given');
  const out: TrustAnchor[] = [];
  roots.forEach((r, i) => {
    let ders: Uint8Array[];
    if (r instanceof Uint8Array && r[0] === 0x30) ders = [r];
    else if (r instanceof Uint8Array || typeof r === 'string') {
      const blocks = pemBlocks(r).filter((b) => b.label === 'CERTIFICATE' || b.label === 'X509 CERTIFICATE');
      if (blocks.length === 0) {
        throw new AttestationFailure('ATT_ROOTS_INVALID', `root ${i}: not a DER certificate nor PEM with CERTIFICATE blocks`);
      }
      ders = blocks.map((b) => {
        if (!b.der) throw new AttestationFailure('ATT_ROOTS_INVALID', `root ${i}: damaged PEM block`);
        return b.der;
      });
    } else {
      throw new AttestationFailure('ATT_ROOTS_INVALID', `root ${i}: must be PEM text or DER bytes`);
    }
    for (const der of ders) {
      try {
        parseCertificate(der, `root ${i}`);
      } catch (e) {
        throw new AttestationFailure('ATT_ROOTS_INVALID', e instanceof Error ? e.message : String(e));
      }
      out.push({ der, sha256: sha256Hex(der) });
    }
  });
  return out;
}

let awsAnchors: TrustAnchor[] | undefined;

/** The embedded AWS Nitro root, after checking its fingerprint (ATT_ROOTS_INVALID if it was altered). */
export function awsNitroAnchors(): TrustAnchor[] {
  if (!awsAnchors) {
    const anchors = parseTrustAnchors([AWS_NITRO_ROOT_PEM]);
    if (anchors.length !== 1 || anchors[0]!.sha256 !== AWS_NITRO_ROOT_SHA256) {
      throw new AttestationFailure('ATT_ROOTS_INVALID', 'the embedded AWS Nitro root does not match its pinned SHA-256');
    }
    awsAnchors = anchors;
  }
  return awsAnchors;
}
