/**
 * X.509 Names (RFC 5280 §4.1.2.4): `SEQUENCE OF SET OF { type OID, value }`. The walk checks the structure and
 * keeps each attribute's tag and content; the chain check compares whole Names as bytes (attestation.md §2.2
 * step 4), so no string form is ever compared. The strict profile also refuses an empty RDN and a UTF8String
 * or BMPString that does not decode. Renderings: the `text` of {@link parseName} (`C=US, O=Amazon, CN=…`, for
 * reports) here, nitro-cli's `IssuerName` map in src/signing/certificate.ts. Browser-safe.
 */
import { TAG_OID, TAG_SEQUENCE, TAG_SET, type DerReader, type Tlv } from './der.js';

export interface NameAttribute {
  /** Attribute type, dotted OID (`2.5.4.3` = commonName). */
  readonly oid: string;
  /** ASN.1 tag of the value (0x0c UTF8String, 0x13 PrintableString, ...). */
  readonly tag: number;
  /** The value's content bytes. */
  readonly value: Uint8Array;
  /** The value's whole TLV (for the RFC 4514 `#hex` form of a non-string value). */
  readonly valueDer: Uint8Array;
}

const TAG_UTF8 = 0x0c;
const TAG_BMP = 0x1e;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Lossy = new TextDecoder('utf-8');
const latin1 = new TextDecoder('latin1');

export interface ParsedName {
  readonly attributes: NameAttribute[];
  /** For people: `C=US, O=Amazon, OU=AWS, CN=aws.nitro-enclaves`; non-string values as `#` + DER hex. */
  readonly text: string;
}

const SHORT_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.5': 'serialNumber',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'ST',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '0.9.2342.19200300.100.1.25': 'DC',
  '1.2.840.113549.1.9.1': 'emailAddress',
};

/** UTF8String, PrintableString, IA5String, TeletexString (read as Latin-1), BMPString. */
const STRING_TAGS = new Set([TAG_UTF8, 0x13, 0x16, 0x14, TAG_BMP]);

/** Walk the Name `t` (attributes in certificate order) and render it, in one pass. */
export function parseName(r: DerReader, t: Tlv, what: string, strict: boolean): ParsedName {
  if (t.tag !== TAG_SEQUENCE) r.fail(`${what} must be a SEQUENCE`);
  const attributes: NameAttribute[] = [];
  let text = '';
  for (const rdn of r.children(t)) {
    if (rdn.tag !== TAG_SET) r.fail(`${what}: RelativeDistinguishedName must be a SET`);
    const atvs = r.children(rdn);
    if (strict && atvs.length === 0) r.fail(`${what}: empty RelativeDistinguishedName`);
    for (const atv of atvs) {
      if (atv.tag !== TAG_SEQUENCE) r.fail(`${what}: bad AttributeTypeAndValue`);
      const p = r.children(atv);
      if (p.length !== 2 || p[0]!.tag !== TAG_OID) r.fail(`${what}: bad AttributeTypeAndValue`);
      const oid = r.oid(p[0]!);
      const valT = p[1]!;
      const value = r.content(valT);
      const valueDer = r.whole(valT);
      let shown: string | undefined;
      if (STRING_TAGS.has(valT.tag)) {
        if (valT.tag === TAG_UTF8) {
          try {
            shown = utf8.decode(value);
          } catch {
            if (strict) r.fail(`${what}: attribute value is not valid UTF-8`);
            shown = utf8Lossy.decode(value);
          }
        } else if (valT.tag === TAG_BMP) {
          if (value.length % 2 === 0) shown = bmp(value);
          else if (strict) r.fail(`${what}: attribute value is not valid UTF-8`);
        } else {
          shown = latin1.decode(value);
        }
      }
      shown ??= '#' + Array.from(valueDer, (b) => b.toString(16).padStart(2, '0')).join('');
      text += `${text ? ', ' : ''}${SHORT_NAMES[oid] ?? oid}=${shown}`;
      attributes.push({ oid, tag: valT.tag, value, valueDer });
    }
  }
  return { attributes, text };
}

/** BMPString (UTF-16BE, even length). */
export function bmp(c: Uint8Array): string {
  let s = '';
  for (let i = 0; i + 1 < c.length; i += 2) s += String.fromCharCode((c[i]! << 8) | c[i + 1]!);
  return s;
}
