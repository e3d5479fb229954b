/**
 * Signers: what turns an image's PCR0 into its signature section — the sign flow of eif-format.md §4.5.
 *
 * Every signer shares one core (`createEifSigner`): check the certificate (EC key on P-256/384/521, inside its
 * validity window, warn 30 days before it ends), build the payload and Sig_structure (§4.2, §4.3), ask the key
 * holder for an ECDSA signature, normalise it to r‖s, VERIFY it with the certificate's public key, and only then
 * wrap it (§4.1). Every failure is an EifError with a stable code — never an unsigned or unverifiable image
 * (fail closed, nitro-cli #756). Key holders: a local PEM key via WebCrypto (here), AWS KMS (src/node/kms.ts),
 * an external command / HSM (src/node/signer-command.ts). Browser-safe.
 */
import { EifError } from '../errors.js';
import { initCore } from '../core/index.js';
import { pcrOfBytes } from '../eif/pcr.js';
import { toHex } from '../util/hex.js';
import { encodeCoseSign1, encodeProtectedHeader, sigStructure1 } from '../cose/sign1-encode.js';
import type { EcdsaAlgorithm } from '../pki/algorithms.js';
import { certificateAlgorithm, certificatePublicKey, parseCertificatePem, type ParsedCertificate } from './certificate.js';
import { ecdsaDerToRaw } from '../pki/der.js';
import { opensslTimeText } from '../pki/x509-time.js';
import { importPrivateKeyPem } from './private-key.js';
import { digest, ecdsaSign, ecdsaVerify } from '../pki/ecdsa.js';
import { SIGNATURE_SECTION_MAX_SIZE, encodePcrPayload, encodeSignatureSection } from './section.js';

/** The builder's (and `eif sign`'s) view of a signer, declared by the builder (src/eif/builder.ts). */
import type { EifSigner } from '../eif/builder.js';
export type { EifSigner };

/** Options every signer factory takes. */
export interface SignerOptions {
  /** The clock for the certificate validity check (default: now). */
  now?: Date;
  /** Receives non-fatal warnings (certificate ends within 30 days). Default: none. */
  warn?: (message: string) => void;
}

/** What a key holder is asked to sign. */
export interface SignRequest {
  readonly algorithm: EcdsaAlgorithm;
  /** The COSE Sig_structure (the message; WebCrypto hashes it itself). */
  readonly toBeSigned: Uint8Array;
  /** Its digest with the algorithm's hash (what KMS / HSMs sign). */
  readonly digest: Uint8Array;
}

/** A key holder: returns an ECDSA signature over the request, as r‖s or DER (both are accepted). */
export type SignFunction = (request: SignRequest) => Promise<Uint8Array>;

/** A certificate checked for signing (see `prepareCertificate`). */
export interface SigningCertificate {
  readonly pem: Uint8Array;
  readonly parsed: ParsedCertificate;
  readonly algorithm: EcdsaAlgorithm;
  readonly publicKey: CryptoKey;
  readonly pcr8: string;
}

const DAY_MS = 86_400_000;
/** Warn when the certificate ends within this many days. */
export const EXPIRY_WARNING_DAYS = 30;

/**
 * Parse and check the signing certificate: EC key on a supported curve (SIG_UNSUPPORTED_KEY), valid at `now`
 * (SIG_CERT_EXPIRED, SIG_CERT_NOT_YET_VALID), a warning within 30 days of its end.
 *
 * @example
 * import { prepareCertificate } from 'eifkit/browser';
 * const cert = await prepareCertificate(certificatePem, { warn: (m) => console.warn(m) });
 * console.log(cert.pcr8); // the PCR8 of images signed with it
 */
export async function prepareCertificate(certificatePem: Uint8Array, options: SignerOptions = {}): Promise<SigningCertificate> {
  const parsed = parseCertificatePem(certificatePem);
  const algorithm = certificateAlgorithm(parsed);
  const now = options.now ?? new Date();
  if (now.getTime() > parsed.notAfter) {
    throw new EifError('SIG_CERT_EXPIRED', `signing certificate expired on ${opensslTimeText(parsed.notAfterTime)}; an enclave signed with it would not launch`);
  }
  if (now.getTime() < parsed.notBefore) {
    throw new EifError('SIG_CERT_NOT_YET_VALID', `signing certificate is not valid before ${opensslTimeText(parsed.notBeforeTime)}`);
  }
  const daysLeft = (parsed.notAfter - now.getTime()) / DAY_MS;
  if (daysLeft <= EXPIRY_WARNING_DAYS) {
    options.warn?.(`signing certificate expires in ${Math.max(0, Math.floor(daysLeft))} days (${opensslTimeText(parsed.notAfterTime)}); enclaves signed with it stop launching then`);
  }
  const publicKey = await certificatePublicKey(parsed, algorithm);
  await initCore();
  return { pem: certificatePem.slice(), parsed, algorithm, publicKey, pcr8: toHex(pcrOfBytes(parsed.der)) };
}

/**
 * The shared signing core around a key holder. `source` names it in error messages ("KMS key arn:…").
 *
 * @example
 * import { createEifSigner, prepareCertificate } from 'eifkit/browser';
 * const cert = await prepareCertificate(certificatePem);
 * const signer = createEifSigner(cert, async ({ digest }) => myHsm.sign(digest), 'my HSM'); // DER or r‖s
 */
export function createEifSigner(cert: SigningCertificate, sign: SignFunction, source: string): EifSigner {
  const alg = cert.algorithm;
  return {
    async signatureSection(pcr0: Uint8Array) {
      if (!(pcr0 instanceof Uint8Array) || pcr0.length !== 48) {
        throw new EifError('SIG_BAD_PCR0', `PCR0 must be 48 bytes (SHA-384), got ${pcr0 instanceof Uint8Array ? pcr0.length : typeof pcr0}`);
      }
      const payload = encodePcrPayload(pcr0);
      const protectedHeader = encodeProtectedHeader(alg.coseAlg);
      const toBeSigned = sigStructure1(protectedHeader, payload);
      const produced = await sign({ algorithm: alg, toBeSigned, digest: await digest(alg, toBeSigned) });
      const signature = await verifiedRawSignature(cert, produced, toBeSigned, source);
      const data = encodeSignatureSection(cert.pem, encodeCoseSign1(protectedHeader, payload, signature));
      if (data.length > SIGNATURE_SECTION_MAX_SIZE) {
        throw new EifError('SIG_SECTION_TOO_LARGE', `signature section would be ${data.length} bytes (limit ${SIGNATURE_SECTION_MAX_SIZE}); use a smaller certificate file (only its first certificate counts)`);
      }
      return { data, pcr8: cert.pcr8 };
    },
  };
}

/**
 * Accept r‖s or DER from a key holder and return the r‖s form that verifies with the certificate's key.
 * SIG_SIGNER_BAD_OUTPUT when it is neither form; SIG_KEY_CERT_MISMATCH when it does not verify.
 */
async function verifiedRawSignature(cert: SigningCertificate, produced: Uint8Array, toBeSigned: Uint8Array, source: string): Promise<Uint8Array> {
  const alg = cert.algorithm;
  const candidates: Uint8Array[] = [];
  if (produced.length === 2 * alg.size) candidates.push(produced);
  if (produced[0] === 0x30) {
    try {
      candidates.push(ecdsaDerToRaw(produced, alg.size, 'SIG_SIGNER_BAD_OUTPUT'));
    } catch {
      /* not DER */
    }
  }
  if (candidates.length === 0) {
    throw new EifError(
      'SIG_SIGNER_BAD_OUTPUT',
      `${source} returned ${produced.length} bytes, which is neither a DER ECDSA signature nor a ${2 * alg.size}-byte ${alg.name} r‖s signature`,
    );
  }
  for (const raw of candidates) {
    if (await ecdsaVerify(cert.publicKey, alg, raw, toBeSigned)) return raw;
  }
  throw new EifError(
    'SIG_KEY_CERT_MISMATCH',
    `the signature made by ${source} does not verify with the signing certificate's public key: key and certificate do not match`,
  );
}

/**
 * A signer for a local PEM private key (SEC1 or PKCS#8) and its certificate, using WebCrypto.
 * Checks up front that key and certificate belong together (SIG_KEY_CERT_MISMATCH).
 *
 * @example
 * import { createPemSigner, buildEifBytes } from 'eifkit/browser';
 * const signer = await createPemSigner({ certificatePem, privateKeyPem }); // the PEM files' bytes
 * const { eif, measurements } = await buildEifBytes({ kernel, cmdline: 'console=ttyS0', ramdisks: [initrd], signer });
 */
export async function createPemSigner(options: { certificatePem: Uint8Array; privateKeyPem: Uint8Array } & SignerOptions): Promise<EifSigner> {
  const cert = await prepareCertificate(options.certificatePem, options);
  const { algorithm, key } = await importPrivateKeyPem(options.privateKeyPem, cert.algorithm);
  if (algorithm !== cert.algorithm) {
    throw new EifError('SIG_KEY_CERT_MISMATCH', `private key is on ${algorithm.curve} but the certificate's key is on ${cert.algorithm.curve}`);
  }
  const sign: SignFunction = (req) => ecdsaSign(req.algorithm, key, req.toBeSigned);
  const signer = createEifSigner(cert, sign, 'the private key');
  // Fail before any image work if the key does not belong to the certificate.
  await signer.signatureSection(new Uint8Array(48));
  return signer;
}
