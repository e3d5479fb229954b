import { describe, expect, it } from 'vitest';
import { RFC3339_SHAPE, rfc3339Ms } from '../../src/util/rfc3339.js';

describe('RFC 3339 date-times (src/util/rfc3339.ts)', () => {
  it('reads real instants, with offsets, fractions and a space for the T', () => {
    expect(rfc3339Ms('2025-11-10T17:20:10Z')).toBe(Date.UTC(2025, 10, 10, 17, 20, 10));
    expect(rfc3339Ms('2025-11-10 18:20:10.250+01:00')).toBe(Date.UTC(2025, 10, 10, 17, 20, 10, 250));
    expect(rfc3339Ms('2024-02-29T00:00:00.424202433+00:00')).toBe(Date.UTC(2024, 1, 29, 0, 0, 0, 424));
    expect(rfc3339Ms('1970-01-01T00:00:00.000000+00:00')).toBe(0);
  });

  it('refuses the shape without a real time behind it', () => {
    for (const t of ['2026-02-30T12:00:00Z', '2025-02-29T00:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T12:60:00Z', '2026-01-01T12:00:60Z', '2026-01-01T12:00:00+24:00', '2026-01-01T12:00:00+01:60']) {
      expect(RFC3339_SHAPE.test(t), t).toBe(true);
      expect(rfc3339Ms(t), t).toBeUndefined();
    }
    for (const t of ['notadate', '2026-01-01', '2026-01-01T12:00:00', '2026-1-01T12:00:00Z', ' 2026-01-01T12:00:00Z']) {
      expect(rfc3339Ms(t), t).toBeUndefined();
    }
  });

  it('takes second 60 (a leap second) only when asked, as the next second', () => {
    expect(rfc3339Ms('2016-12-31T23:59:60Z')).toBeUndefined();
    expect(rfc3339Ms('2016-12-31T23:59:60Z', { leapSecond: true })).toBe(Date.UTC(2017, 0, 1));
    expect(rfc3339Ms('2024-02-29T23:59:60.5+01:00', { leapSecond: true })).toBe(Date.UTC(2024, 1, 29, 23, 0, 0, 500));
    expect(rfc3339Ms('2016-12-31T23:59:61Z', { leapSecond: true })).toBeUndefined();
  });
});
