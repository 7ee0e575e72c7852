export enum AccountEventType {
  CONNECTED = 'connected',
  RECONNECTED = 'reconnected',
  SYNCED = 'synced',
  STATUS_CHANGED = 'status_changed',
  TOKEN_REFRESHED = 'token_refreshed',
  UPDATED = 'updated',
  DISCONNECTED = 'disconnected',
  /** The token will lapse before it can be refreshed: data { daysLeft, expiresAt }. */
  TOKEN_EXPIRING = 'token_expiring',
  /** The owner must reconnect (token invalid or expired, permission gone): once until recovered. */
  NEEDS_RECONNECT = 'needs_reconnect',
  /** Back to `active` from another status: data { from }. */
  RECOVERED = 'recovered',
}

/** One entry of an account's append-only audit trail (and the future webhook feed). */
export interface AccountEvent {
  id: string;
  accountId: string;
  userId: string;
  type: AccountEventType;
  /**
   * Per type: synced → { changed: { field: { from, to } } }; status_changed → { from, to,
   * code?, subcode?, reason? }; token_refreshed → { expiresAt }; disconnected → { by, revocation }.
   */
  data: Record<string, unknown>;
  createdAt: Date;
}
