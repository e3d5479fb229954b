/**
 * Turning what users have into what the verifier takes: an attestation document as raw CBOR, base64 (standard
 * or URL-safe, whitespace allowed) or hex (attestation.md §7.1 last item), and trust anchors as PEM or DER.
 * The embedded AWS root is checked against its pinned SHA-256 before first use (attestation.md §3).
 * Browser-safe.
 */
import { pemBlocks } from '../pki/pem.js';
import { fromHex } from '../util/hex.js';
import { AWS_NITRO_ROOT_PEM, AWS_NITRO_ROOT_SHA256 } from './aws-root.js';
import { sha256Hex, type TrustAnchor } from './chain.js';
import { MAX_DOCUMENT_BYTES } from './document.js';
import { AttestationFailure } from './errors.js';
import { parseCertificate } from '../pki/x509.js';
import { ATTESTATION_X509 } from './chain.js';

const latin1 = new TextDecoder('latin1');

/** Is every byte printable ASCII or whitespace (so the input may be base64 or hex text)? */
function isText(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b > 0x7e || (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d)) return false;
  }
  return true;
}

/** Not an attestation document: what every input that is not a COSE_Sign1 in CBOR, base64 or hex gets. */
const NOT_DOCUMENT = 'not an attestation document (expected CBOR, base64 or hex)';

const head = (b: Uint8Array): string => Array.from(b.subarray(0, 4), (x) => x.toString(16).padStart(2, '0')).join(' ');

/**
 * Does `bytes` begin like a COSE_Sign1 (attestation.md §2.1): a 4-element array (0x84), or tag 18 (0xd2) before
 * it? Anything else (a gzip, a PNG, a PEM, the bytes base64 of random text decodes to) is not a document, and
 * saying so beats the CBOR decoder's complaint about a length it read from the first byte.
 */
function startsLikeCoseSign1(bytes: Uint8Array): boolean {
  return bytes[0] === 0x84 || (bytes[0] === 0xd2 && bytes[1] === 0x84);
}

function checkStart(bytes: Uint8Array, encoding: DocumentEncoding): { bytes: Uint8Array; encoding: DocumentEncoding } {
  if (startsLikeCoseSign1(bytes)) return { bytes, encoding };
  const from = encoding === 'cbor' ? 'it starts with bytes' : `its ${encoding} decodes to bytes starting`;
  throw new AttestationFailure('ATT_INPUT_NOT_DOCUMENT', `${NOT_DOCUMENT}: ${from} ${head(bytes)}, not a COSE_Sign1 array`);
}

/** The encoding {@link decodeAttestationInput} detected. */
export type DocumentEncoding = 'cbor' | 'base64' | 'hex';

/**
 * Raw CBOR, base64 or hex → document bytes. Raw CBOR is recognized by any byte that is not printable text (a
 * COSE_Sign1 starts with 0x84 or 0xd2); text is tried as hex, then base64. Throws ATT_INPUT (not bytes or a
 * string, empty), ATT_INPUT_TOO_LARGE, and ATT_INPUT_NOT_DOCUMENT when the bytes (raw or decoded) do not begin
 * like a COSE_Sign1 or the text is neither hex nor base64.
 *
 * @example
 * import { decodeAttestationInput } from 'eifkit/browser';
 * const { bytes, encoding } = decodeAttestationInput(text); // encoding: 'cbor' | 'base64' | 'hex'
 */
export function decodeAttestationInput(input: Uint8Array | string): { bytes: Uint8Array; encoding: DocumentEncoding } {
  if (typeof input !== 'string' && !(input instanceof Uint8Array)) {
    throw new AttestationFailure('ATT_INPUT', 'the document must be bytes (Uint8Array) or a base64/hex string');
  }
  if (input.length > 4 * MAX_DOCUMENT_BYTES) {
    throw new AttestationFailure('ATT_INPUT_TOO_LARGE', `the input is ${input.length} bytes/characters (limit ${4 * MAX_DOCUMENT_BYTES})`);
  }
  if (typeof input !== 'string') {
    if (!isText(input)) return checkStart(input, 'cbor');
    input = latin1.decode(input);
  }
  const pem = /-----BEGIN ([A-Z0-9 ]+)-----/.exec(input);
  if (pem) throw new AttestationFailure('ATT_INPUT_NOT_DOCUMENT', `${NOT_DOCUMENT}: a PEM file (${pem[1]})`);
  const t = input.replace(/\s+/g, '');
  if (t.length === 0) throw new AttestationFailure('ATT_INPUT', 'the document is empty');
  if (t.length % 2 === 0 && /^[0-9a-fA-F]+$/.test(t)) return checkStart(fromHex(t), 'hex');
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(t)) {
    const std = t.replace(/=+$/, '').replace(/-/g, '+').replace(/_/g, '/');
    if (std.length % 4 !== 1 && !(/[+/]/.test(t) && /[-_]/.test(t))) {
      let bin: string | undefined;
      try {
        bin = atob(std + '='.repeat((4 - (std.length % 4)) % 4));
      } catch {
        // not base64 after all: fall through
      }
      if (bin !== undefined) {
        const out = new Uint8Array(bin.length);
        for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
        return checkStart(out, 'base64');
      }
    }
  }
  throw new AttestationFailure('ATT_INPUT_NOT_DOCUMENT', `${NOT_DOCUMENT}: text that is neither hex nor base64`);
}

/**
 * Trust anchors from PEM text (any number of CERTIFICATE blocks) or DER bytes. Each must parse as a
 * certificate. Throws ATT_ROOTS_INVALID.
 *
 * @example
 * import { parseTrustAnchors, inspectAttestation } from 'eifkit/browser';
 * const [anchor] = parseTrustAnchors([rootPem]); // { der, sha256 }; throws ATT_ROOTS_INVALID early
 * const r = await inspectAttestation(doc, { roots: [rootPem] });
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
        parseCertificate(der, `root ${i}`, ATTESTATION_X509);
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
