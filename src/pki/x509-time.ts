/**
 * X.509 validity times (RFC 5280 §4.1.2.5): UTCTime `YYMMDDHHMMSSZ` (years 1950–2049) and GeneralizedTime
 * `YYYYMMDDHHMMSSZ`. The strict profile (attestation.md §2.2 step 4) takes exactly the RFC 5280 forms:
 * GeneralizedTime only from 2050 and without fractional seconds. The lenient profile (an EIF signing
 * certificate, eif-format.md §4: what OpenSSL reads) also takes GeneralizedTime for any year and a fraction
 * `.d*[1-9]`. Both check the calendar (month 1–12, the month's days with leap years, 23:59:59). Browser-safe.
 */
import { TAG_GENERALIZED_TIME, TAG_UTC_TIME, type DerReader, type Tlv } from './der.js';

export interface X509Time {
  /** Milliseconds since the epoch (a fraction is truncated to milliseconds). */
  readonly ms: number;
  /** The fractional seconds as written, with the dot (`.1234`), or '' (lenient GeneralizedTime only). */
  readonly fraction: string;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Decode the time `t`; `what` names it in errors (`notBefore`). */
export function decodeTime(r: DerReader, t: Tlv, what: string, strict: boolean): X509Time {
  const c = r.content(t);
  let year: number;
  let p: number;
  let end = c.length - 1; // the Z
  if (t.tag === TAG_UTC_TIME) {
    if (c.length !== 13) r.fail(`${what}: UTCTime must be YYMMDDHHMMSSZ`);
    const yy = digits(r, c, 0, 2, what);
    year = yy < 50 ? 2000 + yy : 1900 + yy;
    p = 2;
  } else if (t.tag === TAG_GENERALIZED_TIME) {
    if (strict ? c.length !== 15 : c.length < 15) r.fail(`${what}: GeneralizedTime must be YYYYMMDDHHMMSSZ`);
    year = digits(r, c, 0, 4, what);
    if (strict && year < 2050) r.fail(`${what}: dates before 2050 must be UTCTime`);
    p = 4;
  } else {
    r.fail(`${what}: expected UTCTime or GeneralizedTime`);
  }
  if (c[end] !== 0x5a /* Z */) r.fail(`${what}: time must end in Z`);
  const month = digits(r, c, p, 2, what);
  const day = digits(r, c, p + 2, 2, what);
  const hour = digits(r, c, p + 4, 2, what);
  const minute = digits(r, c, p + 6, 2, what);
  const second = digits(r, c, p + 8, 2, what);
  let fraction = '';
  if (p + 10 < end) {
    // lenient GeneralizedTime only (the length checks above leave no room otherwise): `.` digits, no trailing 0
    if (c[p + 10] !== 0x2e || end - (p + 10) < 2) r.fail(`${what}: bad fractional seconds`);
    digits(r, c, p + 11, end - (p + 11), what);
    if (c[end - 1] === 0x30) r.fail(`${what}: fractional seconds end in 0 (not DER)`);
    fraction = String.fromCharCode(...c.subarray(p + 10, end));
    end = p + 10;
  }
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  const mdays = month === 2 && leap ? 29 : DAYS[month - 1];
  if (month < 1 || month > 12 || day < 1 || day > mdays! || hour > 23 || minute > 59 || second > 59) {
    r.fail(`${what}: invalid date or time`);
  }
  const millis = fraction ? Math.floor(Number(fraction) * 1000) : 0;
  let ms = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  if (year < 100) ms = new Date(ms).setUTCFullYear(year); // Date.UTC reads years 0–99 as 1900–1999
  return { ms, fraction };
}

/**
 * A time as OpenSSL's ASN1_TIME_print writes it (nitro-cli's describe-eif, eif-format.md §6.3):
 * `Jan  1 00:00:00 2024 GMT`, with the fraction as written (`00:00:00.5`).
 */
export function opensslTimeText(t: X509Time): string {
  const d = new Date(t.ms);
  const pad = (n: number): string => String(n).padStart(2, '0');
  const [hh, mm, ss] = [d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()].map(pad);
  return `${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, ' ')} ${hh}:${mm}:${ss}${t.fraction} ${d.getUTCFullYear()} GMT`;
}

function digits(r: DerReader, c: Uint8Array, at: number, n: number, what: string): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const d = c[i]! - 0x30;
    if (d < 0 || d > 9) r.fail(`${what}: time contains a non-digit`);
    v = v * 10 + d;
  }
  return v;
}
