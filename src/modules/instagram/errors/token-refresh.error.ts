/**
 * Meta answered a refresh, but the token it handed back does not outlive the one we hold: a
 * "refresh" that would leave the account to lapse on the same day. Counted as a failed refresh
 * (retried with backoff), never stored as a success.
 */
export class TokenRefreshNotExtendedError extends Error {
  constructor(
    readonly previousExpiresAt: Date,
    readonly returnedExpiresAt: Date,
  ) {
    super(
      `Instagram refreshed the token without extending it (expiry ${returnedExpiresAt.toISOString()}, held ${previousExpiresAt.toISOString()})`,
    );
    this.name = 'TokenRefreshNotExtendedError';
  }
}
