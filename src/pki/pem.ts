/**
 * PEM (RFC 7468) blocks, as OpenSSL reads them for `--signing-certificate` and `--private-key`
 * (eif-format.md §4.1, §4.2): text outside the blocks is ignored, base64 inside is decoded strictly.
 * Browser-safe (atob).
 */

export interface PemBlock {
  /** The label between `BEGIN ` and the dashes, e.g. `CERTIFICATE`, `EC PRIVATE KEY`. */
  readonly label: string;
  /** The decoded contents; undefined when the block is damaged (bad base64, missing or mismatched END line). */
  readonly der: Uint8Array | undefined;
  /** RFC 1421 headers present (`Proc-Type: 4,ENCRYPTED` on legacy encrypted keys). */
  readonly headers: Record<string, string>;
}

const BEGIN = /^-----BEGIN ([A-Z0-9 ]{1,64})-----$/;
const END = /^-----END ([A-Z0-9 ]{1,64})-----$/;
const BASE64_LINE = /^[A-Za-z0-9+/]*={0,2}$/;

/** Every PEM block in `input`, in order (damaged ones with `der` undefined, so callers can say which is wrong). */
export function pemBlocks(input: Uint8Array | string): PemBlock[] {
  const text = typeof input === 'string' ? input : new TextDecoder('latin1').decode(input);
  const lines = text.split(/\r?\n/);
  const out: PemBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const begin = BEGIN.exec(lines[i]!.trim());
    if (!begin) continue;
    const label = begin[1]!;
    const headers: Record<string, string> = {};
    let body = '';
    let ok = false;
    let j = i + 1;
    for (; j < lines.length; j++) {
      const line = lines[j]!.trim();
      const end = END.exec(line);
      if (end) {
        ok = end[1] === label;
        break;
      }
      const colon = line.indexOf(':');
      if (colon > 0 && body === '') {
        headers[line.slice(0, colon).trim()] = line.slice(colon + 1).trim();
        continue;
      }
      if (!BASE64_LINE.test(line)) break;
      body += line;
    }
    i = j;
    const der = ok ? decodeBase64(body) : undefined;
    out.push({ label, der: der && der.length > 0 ? der : undefined, headers });
  }
  return out;
}

function decodeBase64(body: string): Uint8Array | undefined {
  if (body.length % 4 !== 0 || /=[^=]/.test(body)) return undefined;
  try {
    const bin = atob(body);
    const out = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  } catch {
    return undefined;
  }
}
