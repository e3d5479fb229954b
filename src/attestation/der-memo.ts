/**
 * SHA-256 of certificate DER, remembered: the hash is the key of every certificate cache (./chain.ts,
 * ./leaf-cache.ts), and the same four or five certificates come back with every document of an enclave. Hashing
 * them again costs ~35 µs per document in JavaScript, more than all the other parsing of a warm verification.
 *
 * A memo entry holds a private copy of the DER that was hashed. A lookup goes through a cheap index (the length
 * and the last 24 bytes, which lie inside the ECDSA signature value) and then compares every byte with that copy,
 * so the hash returned is always the SHA-256 of exactly the bytes given: a different certificate that shares the
 * index (an attacker can make one) misses, is hashed, and replaces the entry. The memo decides nothing about
 * trust; it only saves recomputing a hash. Bounded (least recently used evicted). Browser-safe.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesEqual, toHex } from '../util/hex.js';

/** Entries kept (a few hundred certificates: ~1 KiB each). */
const MEMO_LIMIT = 512;
/** Only certificate-sized inputs are remembered (attestation.md §1.2: 1..1024 bytes). */
const MAX_REMEMBERED = 1024;
const TAIL = 24;

interface Memo {
  readonly der: Uint8Array;
  readonly sha256: string;
}

const memo = new Map<string, Memo>();

function indexKey(der: Uint8Array): string {
  const from = Math.max(0, der.length - TAIL);
  let k = String(der.length);
  for (let i = from; i < der.length; i++) k += String.fromCharCode(der[i]!);
  return k;
}

/** SHA-256 of `der`, lowercase hex; served from the memo when these exact bytes were hashed before. */
export function derSha256(der: Uint8Array): string {
  const k = indexKey(der);
  const m = memo.get(k);
  if (m !== undefined && bytesEqual(m.der, der)) {
    memo.delete(k); // most recently used last
    memo.set(k, m);
    return m.sha256;
  }
  const h = toHex(sha256(der));
  if (der.length <= MAX_REMEMBERED) {
    memo.delete(k);
    if (memo.size >= MEMO_LIMIT) memo.delete(memo.keys().next().value!);
    memo.set(k, { der: der.slice(), sha256: h });
  }
  return h;
}

/** Forget every remembered hash (a "cold" verification pays for hashing again). */
export function clearDerMemo(): void {
  memo.clear();
}

/** Number of remembered hashes (for tests). */
export function derMemoSize(): number {
  return memo.size;
}
