/**
 * RFC 3339 date-times (§5.6: `2025-11-10T17:20:10.5Z`, a space allowed for the `T`, an offset `±hh:mm`), as eif_build
 * writes BuildTime and as `eif attest --at` takes them. Browser-safe.
 */

/** The shape of an RFC 3339 date-time; `rfc3339Ms` also checks that it names a real instant. */
export const RFC3339_SHAPE = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:[Zz]|[+-](\d{2}):(\d{2}))$/;

/** Do the fields name a real date and time (no 30 February, 24:00 or 12:00:61)? Checked by a round trip through Date. */
function realDateTime(y: number, mo: number, d: number, h: number, mi: number, s: number): boolean {
  const t = new Date(0);
  t.setUTCFullYear(y, mo - 1, d);
  t.setUTCHours(h, mi, s, 0);
  return t.getUTCFullYear() === y && t.getUTCMonth() === mo - 1 && t.getUTCDate() === d && t.getUTCHours() === h && t.getUTCMinutes() === mi && t.getUTCSeconds() === s;
}

/**
 * The instant (epoch ms) an RFC 3339 date-time names, or undefined when the text is not one or names no real time
 * (an impossible date, an hour, minute or second out of range, an offset beyond ±23:59, outside Date's range).
 * Second 60 (a leap second, RFC 3339 §5.7) is accepted only with `leapSecond`, and counted as the next second.
 */
export function rfc3339Ms(text: string, opts: { leapSecond?: boolean } = {}): number | undefined {
  const m = RFC3339_SHAPE.exec(text);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (m[8] !== undefined && (Number(m[8]) > 23 || Number(m[9]) > 59)) return undefined;
  const leap = opts.leapSecond === true && s === 60;
  if (!realDateTime(y, mo, d, h, mi, leap ? 59 : s)) return undefined;
  const iso = (leap ? text.slice(0, 17) + '59' + text.slice(19) : text).replace(' ', 'T');
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms + (leap ? 1000 : 0) : undefined;
}
