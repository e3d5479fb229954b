/**
 * The signing flags shared by `eif build` and `eif sign` (eif-format.md §6.1, §6.5): `--signing-certificate`
 * with exactly one of `--private-key` (a PEM file, or a KMS key ARN) and `--signer-command`. Turns them into an
 * {@link EifSigner} — or a usage error (exit 2) for a wrong combination; never silently unsigned. Node only.
 */
import type { ErrorCode } from '../error-codes.js';
import { EifError, usageError } from '../errors.js';
import { createPemSigner, type EifSigner, type SignerOptions } from '../signing/signer.js';
import { createKmsSigner } from './kms.js';
import { createCommandSigner } from './signer-command.js';
import { readInputFile } from './file-source.js';

export interface SignerFlags {
  signingCertificate?: string;
  privateKey?: string;
  signerCommand?: string;
}

/** Certificate and key files are small; refuse to read anything huge by mistake. */
const MAX_PEM_FILE = 1 << 20;

function readSmallFile(path: string, what: string, code: ErrorCode): Uint8Array {
  // openInput's checks (a regular file, never waited on) and size limit, under the signing error code
  try {
    return readInputFile(path, what, { bytes: MAX_PEM_FILE, code });
  } catch (e) {
    if (e instanceof EifError && e.code === code) throw e;
    const message = e instanceof EifError ? e.message : `cannot read ${what} ${path}: ${(e as Error).message}`;
    throw new EifError(code, message, { cause: e });
  }
}

/** The files the flags name (certificate, and the key unless it is a KMS ARN): an output must never replace them. */
export function signingInputFiles(flags: SignerFlags): string[] {
  const files = flags.signingCertificate !== undefined ? [flags.signingCertificate] : [];
  if (flags.privateKey !== undefined && !flags.privateKey.startsWith('arn:')) files.push(flags.privateKey);
  return files;
}

/** Warnings go to stderr in the CLI's format unless the caller injects its own sink. */
export function stderrWarn(message: string): void {
  process.stderr.write(`eif: warning: ${message}\n`);
}

/**
 * The signer the flags ask for, or undefined when none of them is given. Usage errors (exit 2): a certificate
 * without a key source, a key source without a certificate, both `--private-key` and `--signer-command`,
 * a malformed KMS ARN.
 *
 * @example
 * import { signerFromFlags } from 'eifkit';
 * const signer = await signerFromFlags({ signingCertificate: 'cert.pem', privateKey: 'key.pem' }); // or a KMS key ARN
 * const none = await signerFromFlags({}); // undefined: build unsigned
 */
export async function signerFromFlags(flags: SignerFlags, options: SignerOptions = {}): Promise<EifSigner | undefined> {
  const { signingCertificate, privateKey, signerCommand } = flags;
  if (signingCertificate === undefined && privateKey === undefined && signerCommand === undefined) return undefined;
  if (privateKey !== undefined && signerCommand !== undefined) {
    throw usageError('give either --private-key or --signer-command, not both');
  }
  if (signingCertificate === undefined) {
    throw usageError(`${privateKey !== undefined ? '--private-key' : '--signer-command'} needs --signing-certificate`);
  }
  if (privateKey === undefined && signerCommand === undefined) {
    throw usageError('--signing-certificate needs --private-key (a PEM file or a KMS key ARN) or --signer-command');
  }
  const opts: SignerOptions = { warn: options.warn ?? stderrWarn, ...(options.now ? { now: options.now } : {}) };
  const certificatePem = readSmallFile(signingCertificate, 'signing certificate', 'SIG_CERT_UNREADABLE');
  if (signerCommand !== undefined) return createCommandSigner({ ...opts, certificatePem, command: signerCommand });
  if (privateKey!.startsWith('arn:')) return createKmsSigner({ ...opts, certificatePem, keyArn: privateKey! });
  const privateKeyPem = readSmallFile(privateKey!, 'private key', 'SIG_KEY_UNREADABLE');
  return createPemSigner({ ...opts, certificatePem, privateKeyPem });
}
