/**
 * Local signing keys for `--private-key key.pem` — eif-format.md §4.2: an EC private key in SEC1
 * (`EC PRIVATE KEY`, as `openssl ecparam -genkey` writes it) or PKCS#8 (`PRIVATE KEY`) PEM, on P-256, P-384 or
 * P-521. Anything else is refused with a stable code (fail closed, nitro-cli #756): RSA, Ed25519, other curves,
 * encrypted keys. Imported into WebCrypto as a non-extractable ECDSA key. Browser-safe.
 */
import { EifError } from '../errors.js';
import { CURVE_NAMES, KEY_ALGORITHM_NAMES, OID_EC_PUBLIC_KEY, algorithmForCurveOid, type EcdsaAlgorithm } from '../pki/algorithms.js';
import { DerReader, TAG_INTEGER, TAG_OCTET_STRING, TAG_OID, TAG_SEQUENCE, derOid, derTlv, type Tlv } from '../pki/der.js';
import { pemBlocks } from '../pki/pem.js';
import { importEcdsaPrivateKey } from '../pki/ecdsa.js';

export interface ImportedPrivateKey {
  readonly algorithm: EcdsaAlgorithm;
  readonly key: CryptoKey;
}

const KEY_LABELS = new Set([
  'EC PRIVATE KEY',
  'PRIVATE KEY',
  'ENCRYPTED PRIVATE KEY',
  'RSA PRIVATE KEY',
  'DSA PRIVATE KEY',
  'OPENSSH PRIVATE KEY',
]);

/**
 * Read the first private key of a PEM file. `fallback` is the algorithm to assume for a SEC1 key that omits its
 * curve (the certificate's). Codes: SIG_KEY_UNREADABLE, SIG_KEY_ENCRYPTED, SIG_UNSUPPORTED_KEY.
 */
export async function importPrivateKeyPem(pem: Uint8Array | string, fallback?: EcdsaAlgorithm): Promise<ImportedPrivateKey> {
  const block = pemBlocks(pem).find((b) => KEY_LABELS.has(b.label));
  if (!block) throw new EifError('SIG_KEY_UNREADABLE', 'private key is not PEM: no "-----BEGIN EC PRIVATE KEY-----" or "-----BEGIN PRIVATE KEY-----" block found');
  if (block.label === 'ENCRYPTED PRIVATE KEY' || /ENCRYPTED/.test(block.headers['Proc-Type'] ?? '')) {
    throw new EifError('SIG_KEY_ENCRYPTED', 'private key is encrypted; decrypt it first (openssl pkey -in key.pem -out plain.pem) or keep it in KMS / an HSM (--signer-command)');
  }
  if (block.label === 'RSA PRIVATE KEY' || block.label === 'DSA PRIVATE KEY') {
    throw new EifError('SIG_UNSUPPORTED_KEY', `${block.label.split(' ')[0]} keys cannot sign EIFs; use an ECDSA key on P-256, P-384 or P-521`);
  }
  if (block.label === 'OPENSSH PRIVATE KEY') {
    throw new EifError('SIG_KEY_UNREADABLE', 'OpenSSH private keys are not read; convert to PEM (ssh-keygen -p -m PEM) or use openssl');
  }
  if (!block.der) throw new EifError('SIG_KEY_UNREADABLE', `private key PEM block "${block.label}" is damaged (bad base64 or missing END line)`);

  const { pkcs8, curveOid } = block.label === 'EC PRIVATE KEY' ? fromSec1(block.der, fallback) : fromPkcs8(block.der);
  const algorithm = algorithmForCurveOid(curveOid);
  if (!algorithm) {
    throw new EifError('SIG_UNSUPPORTED_KEY', `private key is on curve ${CURVE_NAMES[curveOid] ?? curveOid}; only P-256, P-384 and P-521 are supported`);
  }
  try {
    const key = await importEcdsaPrivateKey(pkcs8, algorithm);
    return { algorithm, key };
  } catch (e) {
    throw new EifError('SIG_KEY_UNREADABLE', `private key cannot be imported as an ECDSA ${algorithm.curve} key: ${(e as Error).message}`, { cause: e });
  }
}

/** PKCS#8 PrivateKeyInfo (RFC 5958): must be id-ecPublicKey with a named curve. */
function fromPkcs8(der: Uint8Array): { pkcs8: Uint8Array; curveOid: string } {
  const r = new DerReader(der, 'SIG_KEY_UNREADABLE', 'PKCS#8 private key');
  const top = r.expect(0, TAG_SEQUENCE, der.length, 'PrivateKeyInfo');
  if (top.end !== der.length) r.fail('trailing bytes after the key');
  const [version, alg, keyOctets] = r.children(top);
  if (!version || !alg || !keyOctets || version.tag !== TAG_INTEGER || alg.tag !== TAG_SEQUENCE || keyOctets.tag !== TAG_OCTET_STRING) {
    r.fail('PrivateKeyInfo fields');
  }
  const [oid, params] = r.children(alg);
  if (!oid) r.fail('AlgorithmIdentifier');
  const algOid = r.oid(oid);
  if (algOid !== OID_EC_PUBLIC_KEY) {
    const name = KEY_ALGORITHM_NAMES[algOid] ?? `algorithm ${algOid}`;
    throw new EifError('SIG_UNSUPPORTED_KEY', `${name} keys cannot sign EIFs; use an ECDSA key on P-256, P-384 or P-521`);
  }
  if (!params || params.tag !== TAG_OID) throw new EifError('SIG_UNSUPPORTED_KEY', 'EC key without a named curve (explicit parameters are not supported)');
  // The inner ECPrivateKey must at least be well-formed.
  ecPrivateKeyCurve(new DerReader(r.content(keyOctets), 'SIG_KEY_UNREADABLE', 'EC private key'));
  return { pkcs8: der, curveOid: r.oid(params) };
}

/** SEC1 ECPrivateKey (RFC 5915), wrapped into PKCS#8 for WebCrypto. */
function fromSec1(der: Uint8Array, fallback: EcdsaAlgorithm | undefined): { pkcs8: Uint8Array; curveOid: string } {
  const r = new DerReader(der, 'SIG_KEY_UNREADABLE', 'EC private key');
  const curveOid = ecPrivateKeyCurve(r) ?? fallback?.curveOid;
  if (!curveOid) throw new EifError('SIG_KEY_UNREADABLE', 'EC private key does not name its curve');
  const pkcs8 = derTlv(
    TAG_SEQUENCE,
    derTlv(TAG_INTEGER, new Uint8Array([0])),
    derTlv(TAG_SEQUENCE, derOid(OID_EC_PUBLIC_KEY), derOid(curveOid)),
    derTlv(TAG_OCTET_STRING, der),
  );
  return { pkcs8, curveOid };
}

/** Validate `ECPrivateKey ::= SEQUENCE { 1, privateKey OCTET STRING, [0] curve OPTIONAL, [1] publicKey OPTIONAL }`. */
function ecPrivateKeyCurve(r: DerReader): string | undefined {
  const top = r.expect(0, TAG_SEQUENCE, r.bytes.length, 'ECPrivateKey');
  if (top.end !== r.bytes.length) r.fail('trailing bytes after the key');
  const fields = r.children(top);
  const [version, d] = fields as [Tlv | undefined, Tlv | undefined];
  if (!version || !d || version.tag !== TAG_INTEGER || d.tag !== TAG_OCTET_STRING) r.fail('ECPrivateKey fields');
  const v = r.content(version);
  if (v.length !== 1 || v[0] !== 1) r.fail('ECPrivateKey version must be 1');
  const params = fields.find((f) => f.tag === 0xa0);
  if (!params) return undefined;
  const inner = r.read(params.contentStart, params.end);
  if (inner.tag !== TAG_OID) throw new EifError('SIG_UNSUPPORTED_KEY', 'EC key without a named curve (explicit parameters are not supported)');
  return r.oid(inner);
}
