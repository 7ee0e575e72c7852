import { afterEach, describe, expect, it, vi } from 'vitest';
import { createDatabase, type DatabaseHandle } from './database';
import { isDatabaseUnavailable, unavailableReason } from './database-errors';

describe('createDatabase', () => {
  const opened: DatabaseHandle[] = [];
  const open = (url: string, name?: string) => {
    const handle = createDatabase(url, 2, () => undefined, name ? { name } : {});
    opened.push(handle);
    return handle;
  };
  afterEach(async () => {
    vi.restoreAllMocks();
    await Promise.all(opened.splice(0).map((handle) => handle.close()));
  });

  /** pg-promise's warning goes through console.log when stdout is not a terminal. */
  function duplicateWarnings(run: () => void): number {
    const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
    run();
    return log.mock.calls.filter((args) => String(args[0]).includes('duplicate database object'))
      .length;
  }

  it('tells pools of different databases on one server apart (no duplicate warning)', () => {
    expect(
      duplicateWarnings(() => {
        open('postgres://postgres@127.0.0.1:5432/ssell_spec_one');
        open('postgres://postgres@127.0.0.1:5432/ssell_spec_two');
      }),
    ).toBe(0);
  });

  it('still warns about a real duplicate, and a named second pool is not one', () => {
    expect(
      duplicateWarnings(() => {
        open('postgres://postgres:pw@127.0.0.1:5432/ssell_spec_three');
        open('postgres://postgres:pw@127.0.0.1:5432/ssell_spec_three', 'ssell-fixtures');
      }),
    ).toBe(0);
    expect(
      duplicateWarnings(() => open('postgres://postgres:pw@127.0.0.1:5432/ssell_spec_three')),
    ).toBe(1);
  });
});

describe('isDatabaseUnavailable', () => {
  const pgError = (code: string) =>
    Object.assign(new Error(`server says ${code}`), { code, severity: 'FATAL' });

  it('recognises a refused, cut or silent server', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), {
      code: 'ECONNREFUSED',
    });
    for (const error of [
      refused,
      new AggregateError([refused], 'connect failed'),
      new Error('Query read timeout'),
      new Error('timeout exceeded when trying to connect'),
      new Error('Connection terminated unexpectedly'),
      pgError('57P01'),
      pgError('57P03'),
      pgError('08006'),
      pgError('53300'),
      pgError('57014'),
    ]) {
      expect({ error: error.message, unavailable: isDatabaseUnavailable(error) }).toEqual({
        error: error.message,
        unavailable: true,
      });
    }
    expect(unavailableReason(new AggregateError([refused], 'x'))).toBe('ECONNREFUSED');
    expect(unavailableReason(new Error('Query read timeout'))).toBe('Query read timeout');
  });

  it('does not mistake a bad query or bad input for an outage', () => {
    for (const error of [
      pgError('23505'),
      pgError('22021'),
      pgError('08P01'),
      pgError('42P01'),
      new Error('something else'),
      Object.assign(new Error('no severity'), { code: '57P01' }),
      'a string',
      undefined,
    ]) {
      expect(isDatabaseUnavailable(error)).toBe(false);
    }
    // The reason never carries the message of an unknown error (it may hold SQL or values).
    expect(unavailableReason(new Error('SELECT secret FROM x'))).toBe('Error');
  });
});
