import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  businessUseCaseRegainAt,
  headerValue,
  parseAppUsage,
  parseBusinessUseCaseUsage,
  parseUsageHeaders,
} from './usage-headers';

const metric = fc.integer({ min: 0, max: 1000 });

describe('parseAppUsage', () => {
  it("parses Meta's sample", () => {
    expect(parseAppUsage('{"call_count":28,"total_time":25,"total_cputime":25}')).toEqual({
      callCount: 28,
      totalTime: 25,
      totalCputime: 25,
    });
  });

  it('treats missing metrics as 0 and rejects non-numeric ones', () => {
    expect(parseAppUsage('{"call_count":3}')).toEqual({
      callCount: 3,
      totalTime: 0,
      totalCputime: 0,
    });
    expect(parseAppUsage('{"call_count":"7"}')?.callCount).toBe(7);
    expect(parseAppUsage('{"call_count":"lots"}')).toBeUndefined();
    expect(parseAppUsage('[1,2]')).toBeUndefined();
    expect(parseAppUsage('')).toBeUndefined();
    expect(parseAppUsage(undefined)).toBeUndefined();
  });

  it('never throws on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.string({ unit: 'binary' })), (header) => {
        parseAppUsage(header);
      }),
      { numRuns: 2000 },
    );
  });

  it('parses every valid header exactly', () => {
    fc.assert(
      fc.property(metric, metric, metric, (callCount, totalTime, totalCputime) => {
        const header = JSON.stringify({
          call_count: callCount,
          total_time: totalTime,
          total_cputime: totalCputime,
        });
        expect(parseAppUsage(header)).toEqual({ callCount, totalTime, totalCputime });
      }),
    );
  });
});

describe('parseBusinessUseCaseUsage', () => {
  it("parses Meta's sample, minutes included", () => {
    const header =
      '{"17841405822304914":[{"type":"instagram","call_count":100,"total_cputime":25,"total_time":25,"estimated_time_to_regain_access":19}]}';
    expect(parseBusinessUseCaseUsage(header)).toEqual([
      {
        businessId: '17841405822304914',
        type: 'instagram',
        callCount: 100,
        totalCputime: 25,
        totalTime: 25,
        estimatedTimeToRegainAccessMinutes: 19,
      },
    ]);
  });

  it('drops malformed entries and keeps the rest', () => {
    const header = JSON.stringify({
      a: 'nope',
      b: [null, { type: 'pages', call_count: 'x' }, { type: 'instagram', call_count: 5 }],
    });
    expect(parseBusinessUseCaseUsage(header)).toEqual([
      {
        businessId: 'b',
        type: 'instagram',
        callCount: 5,
        totalTime: 0,
        totalCputime: 0,
        estimatedTimeToRegainAccessMinutes: 0,
      },
    ]);
  });

  it('never throws on arbitrary strings', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.string({ unit: 'binary' })), (header) => {
        parseBusinessUseCaseUsage(header);
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on arbitrary JSON shaped like the header', () => {
    const entry = fc.dictionary(
      fc.constantFrom(
        'type',
        'call_count',
        'total_time',
        'total_cputime',
        'estimated_time_to_regain_access',
      ),
      fc.jsonValue(),
    );
    fc.assert(
      fc.property(
        fc.dictionary(fc.string(), fc.array(fc.oneof(entry, fc.jsonValue()))),
        (value) => {
          parseBusinessUseCaseUsage(JSON.stringify(value));
        },
      ),
    );
  });

  it('parses every valid header exactly', () => {
    const entry = fc.record({
      type: fc.constantFrom('instagram', 'pages', 'messenger', 'ads_insights'),
      call_count: metric,
      total_time: metric,
      total_cputime: metric,
      estimated_time_to_regain_access: metric,
    });
    const id = fc.stringMatching(/^\d{15,17}$/);
    fc.assert(
      fc.property(
        fc.dictionary(id, fc.array(entry, { minLength: 1, maxLength: 3 }), { maxKeys: 5 }),
        (value) => {
          const expected = Object.entries(value).flatMap(([businessId, list]) =>
            list.map((e) => ({
              businessId,
              type: e.type,
              callCount: e.call_count,
              totalTime: e.total_time,
              totalCputime: e.total_cputime,
              estimatedTimeToRegainAccessMinutes: e.estimated_time_to_regain_access,
            })),
          );
          expect(parseBusinessUseCaseUsage(JSON.stringify(value))).toEqual(expected);
        },
      ),
    );
  });
});

describe('helpers', () => {
  it('reads headers case-insensitively, first of repeated values', () => {
    expect(headerValue({ 'X-App-Usage': 'a' }, 'x-app-usage')).toBe('a');
    expect(headerValue({ 'x-app-usage': ['a', 'b'] }, 'X-App-Usage')).toBe('a');
    expect(headerValue({}, 'x-app-usage')).toBeUndefined();
  });

  it('combines both headers, or reports none', () => {
    const now = new Date('2026-01-01T00:00:00Z');
    expect(parseUsageHeaders({}, now)).toBeUndefined();
    expect(parseUsageHeaders({ 'x-app-usage': 'garbage' }, now)).toBeUndefined();
    const usage = parseUsageHeaders(
      {
        'x-app-usage': '{"call_count":1}',
        'x-business-use-case-usage':
          '{"1":[{"type":"instagram","estimated_time_to_regain_access":2}]}',
      },
      now,
    );
    expect(usage?.app?.callCount).toBe(1);
    expect(businessUseCaseRegainAt(usage?.businessUseCase, now)?.toISOString()).toBe(
      '2026-01-01T00:02:00.000Z',
    );
    expect(businessUseCaseRegainAt([], now)).toBeUndefined();
  });
});
