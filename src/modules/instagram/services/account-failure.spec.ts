import { describe, expect, it } from 'vitest';
import { AccountStatus } from '../../../domain/entities/client-account.entity';
import { TokenDecryptionError } from '../../../infrastructure/crypto/token-cipher';
import {
  InstagramBadRequestError,
  InstagramUnknownError,
  TokenRefreshNotAllowedError,
} from '../../../infrastructure/instagram';
import {
  networkError,
  permissionError,
  rateLimitError,
  timeoutError,
  tokenError,
  transientError,
} from '../../../../test/fakes/instagram-failures';
import { TokenRefreshNotExtendedError } from '../errors/token-refresh.error';
import { classifyFailure, connectFailureOf, failureDetails } from './account-failure';

const resetAt = new Date('2030-06-01T13:00:00Z');

describe('classifyFailure', () => {
  it.each([
    ['a dead token', tokenError(), AccountStatus.TOKEN_EXPIRED, 'give_up', 'password_changed'],
    [
      'a rate limit',
      rateLimitError(resetAt),
      AccountStatus.RATE_LIMITED,
      'reschedule',
      'rate_limited_app',
    ],
    ['a missing permission', permissionError(), AccountStatus.ERROR, 'give_up', 'permission'],
    ['a transient failure', transientError(), AccountStatus.ERROR, 'retry', 'transient'],
    ['a timeout', timeoutError(), AccountStatus.ERROR, 'retry', 'timeout'],
    ['a dropped connection', networkError(), AccountStatus.ERROR, 'retry', 'network'],
    [
      'an unknown answer',
      new InstagramUnknownError('?', {}),
      AccountStatus.ERROR,
      'give_up',
      'unknown',
    ],
    [
      'a refused refresh',
      new TokenRefreshNotAllowedError('expired', undefined),
      AccountStatus.ERROR,
      'give_up',
      'unknown',
    ],
    [
      'an unreadable token',
      new TokenDecryptionError('unknown_key_version', 3, '00000000-0000-4000-8000-000000000000'),
      AccountStatus.ERROR,
      'give_up',
      'unknown',
    ],
    ['a bug', new TypeError('x is undefined'), AccountStatus.ERROR, 'retry', 'unknown'],
    [
      'a refresh that did not extend the token',
      new TokenRefreshNotExtendedError(resetAt, resetAt),
      AccountStatus.ERROR,
      'retry',
      'unknown',
    ],
  ] as const)('%s: status %s, the job does %s, reason %s', (_label, error, status, job, reason) => {
    expect(classifyFailure(error)).toMatchObject({
      status,
      job,
      reason,
      transient: job === 'retry',
    });
  });

  it('only 5xx, codes 1/2, network, timeouts and our own hiccups are transient', () => {
    const transient = [transientError(), timeoutError(), networkError(), new TypeError('bug')];
    const lasting = [tokenError(), rateLimitError(resetAt), permissionError()];
    expect(transient.map((e) => classifyFailure(e).transient)).toEqual([true, true, true, true]);
    expect(lasting.map((e) => classifyFailure(e).transient)).toEqual([false, false, false]);
  });

  it('a rate limit carries when it lifts', () => {
    expect(classifyFailure(rateLimitError(resetAt)).retryAt).toEqual(resetAt);
    expect(classifyFailure(transientError()).retryAt).toBeUndefined();
  });
});

describe('connectFailureOf', () => {
  it('a used or expired code is code_rejected only at the code exchange', () => {
    const refused = (operation: string) =>
      new InstagramBadRequestError('Matching code was not found or was already used', {
        operation,
      });
    expect(connectFailureOf(refused('exchangeCode'))).toBe('code_rejected');
    expect(connectFailureOf(refused('getProfile'))).toBe('instagram_error');
    expect(connectFailureOf(tokenError())).toBe('authorization_failed');
    expect(connectFailureOf(timeoutError())).toBe('instagram_unavailable');
    expect(connectFailureOf(rateLimitError(resetAt))).toBe('rate_limited');
  });
});

describe('failureDetails', () => {
  it("keeps Meta's code and subcode, or ours, and cuts the token out of the message", () => {
    const now = new Date('2030-06-01T12:00:00Z');
    expect(failureDetails(tokenError(), now)).toEqual({
      code: '190',
      subcode: '460',
      fbtraceId: 'AbCdEf123',
      message: expect.stringContaining('changed their password'),
      timestamp: now,
    });
    expect(failureDetails(timeoutError(), now).code).toBe('TIMEOUT');
    expect(failureDetails(new Error('db down'), now).code).toBe('UNKNOWN');
    expect(failureDetails(new TokenRefreshNotExtendedError(now, now), now)).toMatchObject({
      code: 'REFRESH_NOT_EXTENDED',
      message: expect.stringContaining('without extending it'),
    });
    const leaky = new InstagramUnknownError('failed for IGAAsecret', {});
    expect(failureDetails(leaky, now, 'IGAAsecret').message).toBe('failed for [REDACTED]');
  });
});
