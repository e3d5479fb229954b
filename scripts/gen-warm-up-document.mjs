#!/usr/bin/env node
// Writes src/attestation/warm-up-document.generated.ts: a complete, genuine-shaped attestation document under a
// throw-away P-384 PKI (root → regional → zonal → instance → leaf, as AWS's chain is shaped: attestation.md §1.3)
// and that PKI's root, for warmUpAttestation (src/attestation/warm-up.ts). With it the warm-up runs the verifier's
// success paths too — every certificate accepted, the COSE signature valid, the caches filled — which a stand-in
// that is always rejected never reaches. The private keys exist only while this script runs: the root certifies
// nothing but this one document, and the warm-up clears every cache after using it.
//
// Run after `node scripts/build.mjs ts` (it encodes with dist/'s DER, CBOR and COSE writers):
//   node scripts/gen-warm-up-document.mjs
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const lib = (p) => import(pathToFileURL(join(root, 'dist', p)).href);
const { derOid, derTlv, derUnsignedInteger, ecdsaRawToDer } = await lib('pki/der.js');
const { encodeCbor } = await lib('cbor/encode.js');
const { encodeCoseSign1, sigStructure1 } = await lib('cose/sign1-encode.js');
const { PROTECTED_ES384 } = await lib('attestation/document.js');

/** The document's time; every certificate is valid then (the warm-up verifies at the document's own time). */
const T = Date.UTC(2024, 0, 1, 12, 0, 0);
const H = 3_600_000;
const D = 24 * H;

const seq = (...c) => derTlv(0x30, ...c);
const utf8 = (s) => derTlv(0x0c, new TextEncoder().encode(s));
const bool = (v) => derTlv(0x01, Uint8Array.of(v ? 0xff : 0));
const name = (cn) => {
  const atv = (oid, v) => derTlv(0x31, seq(derOid(oid), v));
  return seq(atv('2.5.4.6', derTlv(0x13, new TextEncoder().encode('US'))), atv('2.5.4.10', utf8('eifkit warm-up')), atv('2.5.4.11', utf8('NOT AWS')), atv('2.5.4.3', utf8(cn)));
};
const utcTime = (ms) => {
  const d = new Date(ms).toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const s = d.slice(2, 4) + d.slice(5, 7) + d.slice(8, 10) + d.slice(11, 13) + d.slice(14, 16) + d.slice(17, 19) + 'Z';
  return derTlv(0x17, new TextEncoder().encode(s));
};
const ext = (oid, critical, value) => seq(derOid(oid), ...(critical ? [bool(true)] : []), derTlv(0x04, value));
const keyUsage = (bits) => {
  // BIT STRING, named bits from the most significant bit of the first byte
  let v = 0;
  for (let i = 0; i < 8; i++) if (bits & (1 << i)) v |= 0x80 >> i;
  let unused = 0;
  while (unused < 7 && !(v & (1 << unused))) unused++;
  return derTlv(0x03, Uint8Array.of(unused, v));
};
const KU = { digitalSignature: 1, nonRepudiation: 2, keyCertSign: 32, cRLSign: 64 };
const ecdsaSha384 = seq(derOid('1.2.840.10045.4.3.3'));

async function newKey() {
  const kp = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-384' }, true, ['sign', 'verify']);
  return { ...kp, spki: new Uint8Array(await crypto.subtle.exportKey('spki', kp.publicKey)) };
}
const sign = async (key, data) => new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-384' }, key, data));

let serial = 1;
async function certificate(spec, key, issuer) {
  const subject = name(spec.cn);
  const bc = spec.ca ? seq(bool(true), ...(spec.pathLen !== undefined ? [derUnsignedInteger(Uint8Array.of(spec.pathLen))] : [])) : seq();
  const ski = new Uint8Array(await crypto.subtle.digest('SHA-1', key.spki));
  const tbs = seq(
    derTlv(0xa0, derUnsignedInteger(Uint8Array.of(2))),
    derUnsignedInteger(Uint8Array.of(0x01, 0x9a, 0x57, serial++)),
    ecdsaSha384,
    issuer?.name ?? subject,
    seq(utcTime(T - spec.before), utcTime(T + spec.after)),
    subject,
    key.spki,
    derTlv(0xa3, seq(ext('2.5.29.19', true, bc), ext('2.5.29.15', spec.ca, keyUsage(spec.ku)), ext('2.5.29.14', false, derTlv(0x04, ski)))),
  );
  const sig = await sign((issuer?.key ?? key).privateKey, tbs);
  return { der: seq(tbs, ecdsaSha384, derTlv(0x03, Uint8Array.of(0), ecdsaRawToDer(sig))), name: subject, key };
}

const ca = KU.digitalSignature | KU.keyCertSign | KU.cRLSign;
const specs = [
  { cn: 'warm-up.eifkit.invalid', ca: true, ku: ca, before: 5 * 365 * D, after: 25 * 365 * D },
  { cn: '*.region.warm-up.eifkit.invalid', ca: true, pathLen: 2, ku: ca, before: 10 * D, after: 10 * D },
  { cn: '*.zone.region.warm-up.eifkit.invalid', ca: true, pathLen: 1, ku: ca, before: 3 * D, after: 3 * D },
  { cn: 'i-00000000000000000.region.warm-up.eifkit.invalid', ca: true, pathLen: 0, ku: KU.keyCertSign, before: 12 * H, after: 12 * H },
  { cn: 'i-00000000000000000-enc0000000000000000.warm-up.eifkit.invalid', ca: false, ku: KU.digitalSignature | KU.nonRepudiation, before: H, after: 2 * H },
];
const chain = [];
for (const s of specs) chain.push(await certificate(s, await newKey(), chain.at(-1)));
const leaf = chain.at(-1);

const pcrs = new Map();
for (let i = 0; i < 16; i++) pcrs.set(i, Uint8Array.from({ length: 48 }, (_, j) => (i < 5 ? 0xa0 + i * 7 + j : 0) & 0xff));
const payload = encodeCbor(
  new Map([
    ['module_id', 'i-00000000000000000-enc0000000000000000'],
    ['digest', 'SHA384'],
    ['timestamp', T],
    ['pcrs', pcrs],
    ['certificate', leaf.der],
    ['cabundle', chain.slice(0, 4).map((c) => c.der)],
    ['public_key', null],
    ['user_data', new TextEncoder().encode('eifkit warm-up')],
    ['nonce', null],
  ]),
);
const signature = await sign(leaf.key.privateKey, sigStructure1(PROTECTED_ES384, payload));
const doc = encodeCoseSign1(PROTECTED_ES384, payload, signature, { tagged: true });

const b64 = (b) => Buffer.from(b).toString('base64');
const out = join(root, 'src', 'attestation', 'warm-up-document.generated.ts');
writeFileSync(
  out,
  '// Generated by scripts/gen-warm-up-document.mjs — do not edit. A throw-away PKI (its keys are gone), NOT AWS:\n' +
    '// used only by warmUpAttestation, as its own trust anchor, with every cache cleared afterwards.\n' +
    `/** The document's timestamp (${new Date(T).toISOString()}): its chain is valid then. */\n` +
    `export const WARM_UP_TIME = ${T};\n` +
    `/** The throw-away root (DER). */\n` +
    `export const WARM_UP_ROOT_BASE64 =\n  '${b64(chain[0].der)}';\n` +
    `/** COSE_Sign1 (tagged): cabundle of four, leaf, 16 PCRs, user_data. */\n` +
    `export const WARM_UP_DOCUMENT_BASE64 =\n  '${b64(doc)}';\n`,
);
console.log(`wrote ${out} (${doc.length} bytes document)`);
