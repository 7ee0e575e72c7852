import type { ArgumentsHost } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { AccountSyncError, AccountSyncErrorCode } from '../errors/account-sync.error';
import { AccountSyncErrorFilter, mapAccountSyncError } from './account-sync-error.filter';

/** A Fastify reply that records what the filter sent. */
function recordingHost() {
  const sent: { status?: number; headers: Record<string, string>; body?: unknown } = {
    headers: {},
  };
  const reply = {
    headers(values: Record<string, string>) {
      Object.assign(sent.headers, values);
      return reply;
    },
    header(name: string, value: string) {
      sent.headers[name] = value;
      return reply;
    },
    status(code: number) {
      sent.status = code;
      return reply;
    },
    send(body: unknown) {
      sent.body = body;
      return reply;
    },
  };
  const request = {
    id: 'req-1',
    method: 'POST',
    routeOptions: { url: '/instagram/accounts/:id/sync' },
  };
  const host = {
    switchToHttp: () => ({ getResponse: () => reply, getRequest: () => request }),
  } as unknown as ArgumentsHost;
  return { host, sent };
}

describe('AccountSyncErrorFilter', () => {
  const now = new Date('2030-06-01T12:00:00Z');

  it.each([
    [AccountSyncErrorCode.RECONNECT_REQUIRED, 409],
    [AccountSyncErrorCode.INSTAGRAM_FAILED, 502],
    [AccountSyncErrorCode.ACCOUNT_GONE, 404],
  ])('%s → %s with the error’s sentence', (code, status) => {
    expect(mapAccountSyncError(new AccountSyncError(code, 'What to do next.'), now)).toEqual({
      status,
      message: 'What to do next.',
    });
  });

  it('a rate limit is a 429 whose Retry-After counts whole seconds up to the reset', () => {
    const error = new AccountSyncError(
      AccountSyncErrorCode.RATE_LIMITED,
      'Wait.',
      new Date(now.getTime() + 90_500),
    );
    expect(mapAccountSyncError(error, now)).toEqual({
      status: 429,
      message: 'Wait.',
      headers: { 'retry-after': '91' },
    });
    const lifted = new AccountSyncError(AccountSyncErrorCode.RATE_LIMITED, 'Wait.', now);
    expect(mapAccountSyncError(lifted, now).headers).toEqual({ 'retry-after': '1' });
  });

  it('answers in the one error envelope, with the request id', () => {
    const { host, sent } = recordingHost();
    new AccountSyncErrorFilter().catch(
      new AccountSyncError(AccountSyncErrorCode.RECONNECT_REQUIRED, 'Reconnect the account.'),
      host,
    );
    expect(sent.status).toBe(409);
    expect(sent.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(sent.body).toEqual({
      statusCode: 409,
      error: 'Conflict',
      message: 'Reconnect the account.',
      requestId: 'req-1',
    });
  });
});
