import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseJsonKeepingBigIntegers, quoteUnsafeIntegers } from './json-big-ids';

describe('parseJsonKeepingBigIntegers', () => {
  it('keeps the exact digits of ids beyond 2^53', () => {
    expect(
      parseJsonKeepingBigIntegers('{"access_token":"IGQVJ","user_id":17841405793187218}'),
    ).toEqual({ access_token: 'IGQVJ', user_id: '17841405793187218' });
    expect(parseJsonKeepingBigIntegers('[9007199254740993,-9007199254740993]')).toEqual([
      '9007199254740993',
      '-9007199254740993',
    ]);
  });

  it('leaves safe numbers, floats and strings alone', () => {
    expect(
      parseJsonKeepingBigIntegers(
        '{"n":42,"f":1.5e30,"big_float":17841405793187218.5,"s":"17841405793187218 \\" 17841405793187219"}',
      ),
    ).toEqual({
      n: 42,
      f: 1.5e30,
      big_float: Number('17841405793187218.5'),
      s: '17841405793187218 " 17841405793187219',
    });
    const text = '{"a":[1,2,3],"b":"x"}';
    expect(quoteUnsafeIntegers(text)).toBe(text);
  });

  it('agrees with JSON.parse wherever JSON.parse is exact', () => {
    fc.assert(
      fc.property(fc.json(), (text) => {
        const viaJson: unknown = JSON.parse(text);
        const hasUnsafe = /\d{16,}/.test(text);
        if (!hasUnsafe) expect(parseJsonKeepingBigIntegers(text)).toEqual(viaJson);
      }),
    );
  });

  it('round-trips any bigint id', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 2n ** 53n, max: 10n ** 30n }), (id) => {
        const parsed = parseJsonKeepingBigIntegers(`{"id":${id.toString()}}`) as { id: string };
        expect(parsed.id).toBe(id.toString());
      }),
    );
  });
});
