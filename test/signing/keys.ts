/**
 * Test keys and certificates for the signing tests, made at test time with the `openssl` CLI (so nothing secret
 * or expiring is committed, and so the certificates come from an independent X.509 implementation).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const HAVE_OPENSSL = spawnSync('openssl', ['version'], { encoding: 'utf8' }).status === 0;

export type Curve = 'P-256' | 'P-384' | 'P-521';
export const CURVES: Curve[] = ['P-256', 'P-384', 'P-521'];
const OPENSSL_CURVE: Record<Curve, string> = { 'P-256': 'prime256v1', 'P-384': 'secp384r1', 'P-521': 'secp521r1' };
const HASH: Record<Curve, string> = { 'P-256': 'sha256', 'P-384': 'sha384', 'P-521': 'sha512' };
export const COSE_ALG_NAME: Record<Curve, string> = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' };

export function openssl(args: string[], input?: Uint8Array | string): Buffer {
  return execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] });
}

export interface TestKey {
  name: string;
  /** SEC1 `EC PRIVATE KEY` (or the native form for non-EC keys). */
  keyPath: string;
  /** PKCS#8 `PRIVATE KEY`. */
  pkcs8Path: string;
  certPath: string;
  pubPath: string;
  keyPem: Uint8Array;
  pkcs8Pem: Uint8Array;
  certPem: Uint8Array;
}

function finish(dir: string, name: string, keyPath: string, subject: string, days: number, digest: string[]): TestKey {
  const pkcs8Path = join(dir, `${name}.pk8.pem`);
  const certPath = join(dir, `${name}.cert.pem`);
  const pubPath = join(dir, `${name}.pub.pem`);
  openssl(['pkey', '-in', keyPath, '-out', pkcs8Path]);
  openssl(['pkey', '-in', keyPath, '-pubout', '-out', pubPath]);
  openssl(['req', '-x509', '-new', '-key', keyPath, '-subj', subject, '-days', String(days), ...digest, '-out', certPath]);
  const read = (p: string) => new Uint8Array(readFileSync(p));
  return { name, keyPath, pkcs8Path, certPath, pubPath, keyPem: read(keyPath), pkcs8Pem: read(pkcs8Path), certPem: read(certPath) };
}

/** An EC key on `curve` (SEC1 and PKCS#8 files) and a self-signed certificate for it. */
export function makeEcKey(dir: string, name: string, curve: Curve, opts: { subject?: string; days?: number } = {}): TestKey {
  const keyPath = join(dir, `${name}.key.pem`);
  openssl(['ecparam', '-name', OPENSSL_CURVE[curve], '-genkey', '-noout', '-out', keyPath]);
  return finish(dir, name, keyPath, opts.subject ?? `/C=US/O=eifkit tests/CN=${name}`, opts.days ?? 3650, [`-${HASH[curve]}`]);
}

/** Keys EIF signing must refuse: RSA, Ed25519, secp256k1. */
export function makeOtherKey(dir: string, name: string, kind: 'rsa' | 'ed25519' | 'secp256k1'): TestKey {
  const keyPath = join(dir, `${name}.key.pem`);
  if (kind === 'rsa') openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', keyPath]);
  else if (kind === 'ed25519') openssl(['genpkey', '-algorithm', 'ED25519', '-out', keyPath]);
  else openssl(['ecparam', '-name', 'secp256k1', '-genkey', '-noout', '-out', keyPath]);
  return finish(dir, name, keyPath, `/CN=${name}`, 365, kind === 'ed25519' ? [] : ['-sha256']);
}

/** The DER of the first certificate in a PEM file, via openssl. */
export function certDer(certPath: string): Uint8Array {
  return new Uint8Array(openssl(['x509', '-in', certPath, '-outform', 'DER']));
}

export function writeFile(dir: string, name: string, data: Uint8Array | string): string {
  const p = join(dir, name);
  writeFileSync(p, data);
  return p;
}
