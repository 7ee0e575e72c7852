export enum AccountEventType {
  CONNECTED = 'connected',
  RECONNECTED = 'reconnected',
  SYNCED = 'synced',
  STATUS_CHANGED = 'status_changed',
  TOKEN_REFRESHED = 'token_refreshed',
  UPDATED = 'updated',
  DISCONNECTED = 'disconnected',
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
