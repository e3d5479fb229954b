/**
 * Signing with a key that never leaves AWS KMS — `--private-key arn:aws:kms:…` (eif-format.md §4.2 key sources).
 *
 * The COSE Sig_structure is hashed locally and KMS `Sign` signs the digest (`MessageType: DIGEST`, ECDSA_SHA_384
 * for a P-384 key; P-256 / P-521 keys use ECDSA_SHA_256 / ECDSA_SHA_512); its DER signature becomes COSE r‖s.
 * `GetPublicKey` is asked first so a key that does not match the certificate fails before anything is signed;
 * every signature is verified with the certificate anyway (src/signing/signer.ts). Uses the official AWS SDK for
 * JavaScript (@aws-sdk/client-kms: an optional peer dependency, installed by the user only for KMS signing), loaded
 * lazily; credentials, region and endpoint follow the SDK's usual chain (AWS_PROFILE, AWS_ENDPOINT_URL_KMS, …).
 * Node only.
 */
import { EifError, usageError } from '../errors.js';
import { bytesEqual } from '../util/hex.js';
import { createEifSigner, prepareCertificate, type EifSigner, type SignerOptions } from '../signing/signer.js';

/** `arn:(aws|aws-cn|aws-us-gov):kms:<region>:<12 digits>:key[/:]<id>` (what image-format accepts). */
const KMS_KEY_ARN = /^arn:(aws|aws-cn|aws-us-gov):kms:([a-z0-9-]+):(\d{12}):key[/:]([A-Za-z0-9-]{1,128})$/;

/**
 * Whether `value` is a KMS key ARN, i.e. a `--private-key` that names a KMS key rather than a PEM file
 * (eif-format.md §4.2 key sources).
 *
 * @example
 * import { isKmsKeyArn } from 'eifkit';
 * isKmsKeyArn('arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab'); // true
 * isKmsKeyArn('key.pem'); // false: a PEM key file
 */
export function isKmsKeyArn(value: string): boolean {
  return KMS_KEY_ARN.test(value);
}

/** The region named in a KMS key ARN; SIG_KMS_BAD_ARN (exit 2) when it is not one. */
export function kmsArnRegion(arn: string): string {
  const m = KMS_KEY_ARN.exec(arn);
  if (!m) {
    throw usageError(`not a KMS key ARN: ${arn} (expected arn:aws:kms:<region>:<account>:key/<key-id>)`, 'SIG_KMS_BAD_ARN');
  }
  return m[2]!;
}

export interface KmsSignerOptions extends SignerOptions {
  certificatePem: Uint8Array;
  /** Full key ARN (the region is taken from it). */
  keyArn: string;
  /** Override the KMS endpoint (default: the SDK's, which honours AWS_ENDPOINT_URL_KMS). */
  endpoint?: string;
}

/** The slice of the SDK this module uses, typed here so that eifkit compiles without the optional package. */
interface KmsSdk {
  KMSClient: new (config: Record<string, unknown>) => { send(command: unknown): Promise<Record<string, unknown>>; destroy(): void };
  SignCommand: new (input: Record<string, unknown>) => unknown;
  GetPublicKeyCommand: new (input: Record<string, unknown>) => unknown;
}

const SDK_PACKAGE = '@aws-sdk/client-kms';

async function loadSdk(): Promise<KmsSdk> {
  try {
    // The SDK prints a 9-line notice about its own future Node support on stderr when it loads on Node < 22;
    // it says nothing about this command, so it is off unless the user set the SDK's switch themselves.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    return (await import(SDK_PACKAGE)) as KmsSdk;
  } catch (e) {
    throw new EifError(
      'SIG_KMS_SDK_MISSING',
      `KMS signing needs the AWS SDK for JavaScript: npm install ${SDK_PACKAGE} (an optional peer dependency of eifkit, not installed with it) — ${(e as Error).message}`,
      { cause: e },
    );
  }
}

function kmsError(action: string, arn: string, e: unknown): EifError {
  const err = e as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const status = err.$metadata?.httpStatusCode ? ` (HTTP ${err.$metadata.httpStatusCode})` : '';
  return new EifError('SIG_KMS_FAILED', `KMS ${action} for ${arn} failed: ${err.name ?? 'Error'}: ${err.message ?? String(e)}${status}`, { cause: e });
}

/**
 * A signer backed by a KMS asymmetric key (SIGN_VERIFY, ECC_NIST_P256 / P384 / P521) whose public key is the
 * certificate's. Codes: SIG_KMS_BAD_ARN, SIG_KMS_SDK_MISSING, SIG_KMS_FAILED, SIG_KEY_CERT_MISMATCH, plus the
 * certificate codes of `prepareCertificate`.
 *
 * @example
 * import { readFileSync } from 'node:fs';
 * import { createKmsSigner, buildEifFile } from 'eifkit';
 * const keyArn = 'arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab';
 * const signer = await createKmsSigner({ certificatePem: readFileSync('cert.pem'), keyArn });
 * await buildEifFile({ kernel: 'bzImage', cmdline: 'console=ttyS0', ramdisks: ['init.cpio'], output: 'app.eif', signer });
 */
export async function createKmsSigner(options: KmsSignerOptions): Promise<EifSigner> {
  const arn = options.keyArn;
  const region = kmsArnRegion(arn);
  const cert = await prepareCertificate(options.certificatePem, options);
  const sdk = await loadSdk();
  const withClient = async <T>(fn: (client: InstanceType<KmsSdk['KMSClient']>) => Promise<T>): Promise<T> => {
    const client = new sdk.KMSClient({
      region,
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
      maxAttempts: 3,
      requestHandler: { connectionTimeout: 10_000, requestTimeout: 60_000, throwOnRequestTimeout: true },
    });
    try {
      return await fn(client);
    } finally {
      client.destroy();
    }
  };

  await withClient(async (client) => {
    let out: Record<string, unknown>;
    try {
      out = await client.send(new sdk.GetPublicKeyCommand({ KeyId: arn }));
    } catch (e) {
      if ((e as { name?: string }).name === 'AccessDeniedException') {
        options.warn?.(`cannot read the public key of ${arn} (kms:GetPublicKey denied); relying on the check of the signature itself`);
        return;
      }
      throw kmsError('GetPublicKey', arn, e);
    }
    const spec = String(out.KeySpec ?? out.CustomerMasterKeySpec ?? '');
    if (spec !== cert.algorithm.kmsKeySpec) {
      throw new EifError('SIG_KEY_CERT_MISMATCH', `KMS key ${arn} is ${spec || 'of unknown type'}, but the certificate's key is ${cert.algorithm.kmsKeySpec}`);
    }
    const pub = out.PublicKey;
    if (!(pub instanceof Uint8Array) || !bytesEqual(pub, cert.parsed.spki)) {
      throw new EifError('SIG_KEY_CERT_MISMATCH', `the public key of KMS key ${arn} is not the signing certificate's public key`);
    }
  });

  return createEifSigner(
    cert,
    (req) =>
      withClient(async (client) => {
        let out: Record<string, unknown>;
        try {
          out = await client.send(
            new sdk.SignCommand({ KeyId: arn, Message: req.digest, MessageType: 'DIGEST', SigningAlgorithm: req.algorithm.kmsSigningAlgorithm }),
          );
        } catch (e) {
          throw kmsError('Sign', arn, e);
        }
        if (!(out.Signature instanceof Uint8Array)) throw new EifError('SIG_KMS_FAILED', `KMS Sign for ${arn} returned no signature`);
        return out.Signature;
      }),
    `KMS key ${arn}`,
  );
}
