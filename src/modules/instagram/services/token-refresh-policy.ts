import type {
  ClientAccount,
  TokenRefreshState,
} from '../../../domain/entities/client-account.entity';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Days before expiry at which a token that could not be refreshed is announced, each once. */
export const EXPIRY_WARNING_DAYS: readonly number[] = [14, 7, 1];
/** The widest warning: the sweep looks at tokens this close to expiry even while they back off. */
export const EXPIRY_WARNING_HORIZON_HOURS = Math.max(...EXPIRY_WARNING_DAYS) * 24;

/** The wait after the first failed refresh; it doubles with each failure… */
export const REFRESH_RETRY_BASE_MS = HOUR;
/** …up to this: a month-long window still gets 60 and more attempts. */
export const REFRESH_RETRY_MAX_MS = 12 * HOUR;
/** Closer to expiry the wait halves the time left, but never below this. */
export const REFRESH_RETRY_MIN_MS = 5 * MINUTE;

/**
 * The refresh state of the account's current token (its expiry is `tokenExpiresAt`). Marks left
 * by an earlier token do not count against this one; only when its last refresh worked is kept.
 */
export function refreshStateFor(
  account: Pick<ClientAccount, 'metadata'>,
  tokenExpiresAt: Date,
): TokenRefreshState {
  const stored = account.metadata.tokenRefresh;
  if (stored && stored.tokenExpiresAt.getTime() === tokenExpiresAt.getTime()) {
    return { ...stored, warnedDays: [...stored.warnedDays] };
  }
  return {
    tokenExpiresAt,
    attempts: 0,
    warnedDays: [],
    ...(stored?.lastRefreshAt ? { lastRefreshAt: stored.lastRefreshAt } : {}),
  };
}

/**
 * When to try again after the `attempts`th failed refresh in a row: exponential backoff with
 * ±20 % jitter, pulled in as expiry nears so the last tries still happen before it. Undefined
 * once the token has (almost) run out: nothing is left to try.
 */
export function nextRefreshAttempt(
  attempts: number,
  now: Date,
  expiresAt: Date,
  random: () => number = Math.random,
): Date | undefined {
  const left = expiresAt.getTime() - now.getTime();
  if (left <= REFRESH_RETRY_MIN_MS) return undefined;
  const exponent = Math.min(Math.max(attempts - 1, 0), 16);
  const backoff = Math.min(REFRESH_RETRY_BASE_MS * 2 ** exponent, REFRESH_RETRY_MAX_MS);
  const jittered = backoff * (0.8 + 0.4 * random());
  const wait = Math.max(Math.min(jittered, left / 2), REFRESH_RETRY_MIN_MS);
  return new Date(now.getTime() + wait);
}

/**
 * The expiry warning owed for the token now, if any: the smallest of 14 / 7 / 1 days that the
 * time left has reached and that was not yet written for this token. Owed only for a token that
 * cannot be refreshed in time: a refresh of it has failed, or the refresh window opened before
 * the warning's day and it is still not refreshed. A later warning also stands for the earlier
 * ones it skipped (after an outage the owner hears "7 days" once, not "14" and "7").
 */
export function expiryWarningDue(
  state: TokenRefreshState,
  expiresAt: Date,
  now: Date,
  windowDays: number,
): number | undefined {
  const left = expiresAt.getTime() - now.getTime();
  if (left <= 0) return undefined;
  const reached = EXPIRY_WARNING_DAYS.filter(
    (days) => left <= days * DAY && !state.warnedDays.includes(days),
  );
  if (reached.length === 0) return undefined;
  const days = Math.min(...reached);
  if (state.attempts === 0 && days >= windowDays) return undefined;
  return days;
}

/** The warned days after warning at `days`: it and every earlier (larger) threshold. */
export function warnedThrough(state: TokenRefreshState, days: number): number[] {
  const through = EXPIRY_WARNING_DAYS.filter((d) => d >= days);
  return [...new Set([...state.warnedDays, ...through])].sort((a, b) => b - a);
}
