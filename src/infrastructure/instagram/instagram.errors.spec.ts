import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RATE_LIMIT_RESET_MS,
  InstagramBadRequestError,
  InstagramNotFoundError,
  InstagramPermissionError,
  InstagramRateLimitError,
  InstagramTokenInvalidError,
  InstagramTransientError,
  InstagramUnknownError,
  mapGraphError,
  type InstagramApiError,
} from './instagram.errors';

const NOW = new Date('2026-03-01T12:00:00Z');

function envelope(code: number, extra: Record<string, unknown> = {}) {
  return {
    error: {
      message: `(#${code}) Something`,
      type: 'OAuthException',
      code,
      fbtrace_id: 'EJplcsCHuLu',
      ...extra,
    },
  };
}

type ErrorClass = abstract new (...args: never[]) => InstagramApiError;

const table: Array<[string, number, unknown, ErrorClass, string]> = [
  ['1 API unknown', 500, envelope(1), InstagramTransientError, 'transient'],
  ['2 API service', 500, envelope(2, { is_transient: true }), InstagramTransientError, 'transient'],
  ['3 capability', 400, envelope(3), InstagramPermissionError, 'permission'],
  [
    '4 app rate limit',
    403,
    envelope(4, { is_transient: true }),
    InstagramRateLimitError,
    'rate_limited',
  ],
  [
    '9 publishing limit',
    400,
    envelope(9, { error_subcode: 2207042 }),
    InstagramRateLimitError,
    'rate_limited',
  ],
  ['10 permission denied', 400, envelope(10), InstagramPermissionError, 'permission'],
  ['17 user rate limit', 400, envelope(17), InstagramRateLimitError, 'rate_limited'],
  [
    '25 account restricted',
    400,
    envelope(25, { error_subcode: 2207050 }),
    InstagramPermissionError,
    'permission',
  ],
  ['32 page rate limit', 400, envelope(32), InstagramRateLimitError, 'rate_limited'],
  ['100 bad parameter', 400, envelope(100), InstagramBadRequestError, 'bad_request'],
  [
    '100/33 missing object',
    400,
    envelope(100, { error_subcode: 33 }),
    InstagramNotFoundError,
    'not_found',
  ],
  ['102 session', 400, envelope(102), InstagramTokenInvalidError, 'token_invalid'],
  ['190 token', 400, envelope(190), InstagramTokenInvalidError, 'token_invalid'],
  [
    '190/460 password changed',
    400,
    envelope(190, { error_subcode: 460 }),
    InstagramTokenInvalidError,
    'token_invalid',
  ],
  [
    '190/463 expired',
    400,
    envelope(190, { error_subcode: 463 }),
    InstagramTokenInvalidError,
    'token_invalid',
  ],
  ['200 permission', 400, envelope(200), InstagramPermissionError, 'permission'],
  ['299 permission', 400, envelope(299), InstagramPermissionError, 'permission'],
  ['341 application limit', 400, envelope(341), InstagramRateLimitError, 'rate_limited'],
  ['368 policy block', 400, envelope(368), InstagramPermissionError, 'permission'],
  [
    '613 custom rate limit',
    400,
    envelope(613, { error_subcode: 1996 }),
    InstagramRateLimitError,
    'rate_limited',
  ],
  ['803 alias missing', 400, envelope(803), InstagramNotFoundError, 'not_found'],
  ['2500 unknown path', 400, envelope(2500), InstagramBadRequestError, 'bad_request'],
  ['80000 ads insights BUC', 400, envelope(80000), InstagramRateLimitError, 'rate_limited'],
  ['80001 page BUC', 400, envelope(80001), InstagramRateLimitError, 'rate_limited'],
  ['80002 instagram BUC', 400, envelope(80002), InstagramRateLimitError, 'rate_limited'],
  ['80004 ads management BUC', 400, envelope(80004), InstagramRateLimitError, 'rate_limited'],
  ['80006 messenger BUC', 400, envelope(80006), InstagramRateLimitError, 'rate_limited'],
  ['unlisted code, 4xx', 400, envelope(9004), InstagramUnknownError, 'unknown'],
  ['unlisted code, 5xx', 503, envelope(9004), InstagramTransientError, 'transient'],
  [
    'unlisted code marked transient',
    400,
    envelope(9007, { is_transient: true }),
    InstagramTransientError,
    'transient',
  ],
  [
    '190 keeps its class even on 500',
    500,
    envelope(190),
    InstagramTokenInvalidError,
    'token_invalid',
  ],
  ['non-JSON 502', 502, '<html>Bad Gateway</html>', InstagramTransientError, 'transient'],
  ['empty 503', 503, '', InstagramTransientError, 'transient'],
  ['non-JSON 404', 404, 'Not Found', InstagramUnknownError, 'unknown'],
  ['bare 429', 429, '', InstagramRateLimitError, 'rate_limited'],
  [
    'code exchange body',
    400,
    {
      error_type: 'OAuthException',
      code: 400,
      error_message: 'Matching code was not found or was already used',
    },
    InstagramBadRequestError,
    'bad_request',
  ],
  [
    'code exchange body, 5xx',
    500,
    { error_type: 'OAuthException', code: 500, error_message: 'Oops' },
    InstagramTransientError,
    'transient',
  ],
];

describe('mapGraphError', () => {
  it.each(table)('%s → %s', (_name, status, body, type, kind) => {
    const error = mapGraphError(status, body, {}, { now: NOW });
    expect(error).toBeInstanceOf(type);
    expect(error.kind).toBe(kind);
    expect(error.httpStatus).toBe(status);
  });

  it('accepts the raw body text as well as a parsed object', () => {
    const error = mapGraphError(400, JSON.stringify(envelope(190, { error_subcode: 460 })));
    expect(error).toBeInstanceOf(InstagramTokenInvalidError);
    expect(error.subcode).toBe(460);
  });

  it('keeps the envelope fields', () => {
    const error = mapGraphError(
      400,
      envelope(190, {
        error_subcode: 463,
        error_user_msg: 'Please log in again',
        is_transient: false,
      }),
    );
    expect(error).toMatchObject({
      code: 190,
      subcode: 463,
      type: 'OAuthException',
      fbtraceId: 'EJplcsCHuLu',
      userMessage: 'Please log in again',
      isTransient: false,
      httpStatus: 400,
    });
    expect((error as InstagramTokenInvalidError).reason).toBe('expired');
  });

  it.each([
    [458, 'app_not_installed'],
    [460, 'password_changed'],
    [463, 'expired'],
    [467, 'invalid'],
    [undefined, 'unknown'],
  ])('token subcode %s → reason %s', (subcode, reason) => {
    const extra = subcode === undefined ? {} : { error_subcode: subcode };
    const error = mapGraphError(400, envelope(190, extra)) as InstagramTokenInvalidError;
    expect(error.reason).toBe(reason);
  });

  it('puts the code-exchange body in type and message, not in code', () => {
    const error = mapGraphError(400, {
      error_type: 'OAuthException',
      code: 400,
      error_message: 'Matching code was not found or was already used',
    });
    expect(error.code).toBeUndefined();
    expect(error.type).toBe('OAuthException');
    expect(error.message).toBe('Matching code was not found or was already used');
  });

  it('takes the reset time of a BUC limit from estimated_time_to_regain_access (minutes)', () => {
    const headers = {
      'X-Business-Use-Case-Usage': JSON.stringify({
        '17841405822304914': [
          {
            type: 'instagram',
            call_count: 100,
            total_cputime: 25,
            total_time: 25,
            estimated_time_to_regain_access: 19,
          },
        ],
      }),
    };
    const error = mapGraphError(400, envelope(80002), headers, { now: NOW });
    expect(error).toBeInstanceOf(InstagramRateLimitError);
    const limit = error as InstagramRateLimitError;
    expect(limit.resetAt.toISOString()).toBe(new Date(NOW.getTime() + 19 * 60_000).toISOString());
    expect(limit.resetAtFromMeta).toBe(true);
    expect(limit.scope).toBe('business_use_case');
    expect(limit.usage?.businessUseCase?.[0]?.callCount).toBe(100);
  });

  it('falls back to the default reset time for an app-level limit', () => {
    const headers = { 'x-app-usage': '{"call_count":100,"total_time":20,"total_cputime":10}' };
    const limit = mapGraphError(403, envelope(4), headers, { now: NOW }) as InstagramRateLimitError;
    expect(limit.scope).toBe('app');
    expect(limit.resetAtFromMeta).toBe(false);
    expect(limit.resetAt.getTime()).toBe(NOW.getTime() + DEFAULT_RATE_LIMIT_RESET_MS);
    expect(limit.usage?.app?.callCount).toBe(100);
  });

  it('honours Retry-After and a configured default', () => {
    const retryAfter = mapGraphError(429, '', { 'retry-after': '120' }, { now: NOW });
    expect((retryAfter as InstagramRateLimitError).resetAt.getTime()).toBe(NOW.getTime() + 120_000);
    const configured = mapGraphError(
      400,
      envelope(17),
      {},
      { now: NOW, defaultRateLimitResetMs: 5000 },
    );
    expect((configured as InstagramRateLimitError).resetAt.getTime()).toBe(NOW.getTime() + 5000);
  });

  it('scrubs secrets and token-shaped strings from messages', () => {
    const token = 'IGAAabcdefghijklmnopqrstuvwxyz0123456789';
    const error = mapGraphError(
      400,
      envelope(100, {
        message: `Invalid parameter access_token=${token} proof=deadbeefcafe code=AQxyz`,
        error_user_msg: `token ${token}`,
      }),
      {},
      { secrets: ['deadbeefcafe', 'AQxyz'] },
    );
    expect(error.message).not.toContain(token);
    expect(error.message).not.toContain('deadbeefcafe');
    expect(error.message).not.toContain('AQxyz');
    expect(error.message).toContain('[REDACTED]');
    expect(error.userMessage).not.toContain(token);
  });

  it('never throws on odd bodies', () => {
    for (const body of [
      null,
      42,
      [],
      'null',
      '{"error":null}',
      { error: 'x' },
      { error: { code: 'abc' } },
    ]) {
      expect(() => mapGraphError(400, body)).not.toThrow();
    }
  });
});
