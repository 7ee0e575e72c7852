import { describe, expect, it } from 'vitest';
import {
  expiryWarningDue,
  nextRefreshAttempt,
  REFRESH_RETRY_MAX_MS,
  REFRESH_RETRY_MIN_MS,
  refreshStateFor,
  warnedThrough,
} from './token-refresh-policy';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const now = new Date('2030-01-01T00:00:00Z');
const at = (ms: number) => new Date(now.getTime() + ms);
const middle = () => 0.5;

describe('nextRefreshAttempt', () => {
  it('doubles from an hour up to twelve, with ±20 % jitter', () => {
    const far = at(30 * DAY);
    const waits = [1, 2, 3, 4, 5, 6, 12].map(
      (n) => nextRefreshAttempt(n, now, far, middle)!.getTime() - now.getTime(),
    );
    expect(waits).toEqual([1, 2, 4, 8, 12, 12, 12].map((h) => h * HOUR));
    expect(nextRefreshAttempt(1, now, far, () => 0)!.getTime() - now.getTime()).toBe(0.8 * HOUR);
    expect(nextRefreshAttempt(9, now, far, () => 0.999)!.getTime() - now.getTime()).toBeLessThan(
      1.2 * REFRESH_RETRY_MAX_MS,
    );
  });

  it('near expiry waits half the time left, at least five minutes, and stops at the end', () => {
    expect(nextRefreshAttempt(8, now, at(6 * HOUR), middle)).toEqual(at(3 * HOUR));
    expect(nextRefreshAttempt(8, now, at(8 * 60_000), middle)).toEqual(at(REFRESH_RETRY_MIN_MS));
    expect(nextRefreshAttempt(8, now, at(REFRESH_RETRY_MIN_MS), middle)).toBeUndefined();
    expect(nextRefreshAttempt(8, now, at(-HOUR), middle)).toBeUndefined();
  });
});

describe('expiryWarningDue', () => {
  const expiresAt = at(20 * DAY);
  const state = (attempts: number, warnedDays: number[] = []) => ({
    tokenExpiresAt: expiresAt,
    attempts,
    warnedDays,
  });
  const dueAt = (daysLeft: number, s = state(1), windowDays = 30) =>
    expiryWarningDue(s, expiresAt, new Date(expiresAt.getTime() - daysLeft * DAY), windowDays);

  it('owes 14, 7 and 1 as the days pass, none past expiry or before 14', () => {
    expect([15, 14, 10, 7, 3, 1, 0.5].map((d) => dueAt(d))).toEqual([
      undefined,
      14,
      14,
      7,
      7,
      1,
      1,
    ]);
    expect(dueAt(-0.01)).toBeUndefined();
  });

  it('owes nothing already written; a later one covers skipped ones', () => {
    expect(dueAt(10, state(1, [14]))).toBeUndefined();
    expect(dueAt(5, state(1, [14]))).toBe(7);
    expect(warnedThrough(state(1), 7)).toEqual([14, 7]);
    expect(warnedThrough(state(1, [14]), 1)).toEqual([14, 7, 1]);
  });

  it('owes it only for a token that cannot be refreshed in time', () => {
    // The refresh window (30 days) opened long ago: still unrefreshed at 14 days is a problem.
    expect(dueAt(13, state(0))).toBe(14);
    // A 7-day window has not reached the token yet: nothing failed, nothing to announce.
    expect(dueAt(13, state(0), 7)).toBeUndefined();
    expect(dueAt(13, state(2), 7)).toBe(14);
  });
});

describe('refreshStateFor', () => {
  it("keeps the current token's state and starts a new token clean (but remembers the last refresh)", () => {
    const expiresAt = at(20 * DAY);
    const lastRefreshAt = at(-40 * DAY);
    const stored = {
      tokenExpiresAt: expiresAt,
      lastRefreshAt,
      attempts: 3,
      warnedDays: [14],
      nextAttemptAt: at(HOUR),
    };
    expect(refreshStateFor({ metadata: { tokenRefresh: stored } }, expiresAt)).toEqual(stored);
    expect(refreshStateFor({ metadata: { tokenRefresh: stored } }, at(60 * DAY))).toEqual({
      tokenExpiresAt: at(60 * DAY),
      lastRefreshAt,
      attempts: 0,
      warnedDays: [],
    });
    expect(refreshStateFor({ metadata: {} }, expiresAt)).toEqual({
      tokenExpiresAt: expiresAt,
      attempts: 0,
      warnedDays: [],
    });
  });
});
