/**
 * A link an owner sends to a client so the client connects their Instagram account into the
 * owner's user without an ssell login. Only the SHA-256 of its token is ever stored.
 */
export interface ConnectLink {
  id: string;
  userId: string;
  label: string | null;
  /** A reconnect link's account: only that Instagram account may come back. Null: any. */
  accountId: string | null;
  createdAt: Date;
  expiresAt: Date;
  usedAt: Date | null;
  /** The account the link connected (null until used, or once that account is removed). */
  usedAccountId: string | null;
  revokedAt: Date | null;
}

/**
 * What a link is worth right now, judged by the database's clock. A used link stays `used` even
 * after it expires, a revoked one `revoked` whatever else: the page says the most useful thing.
 */
export type ConnectLinkState = 'open' | 'used' | 'revoked' | 'expired';

/** What the public page needs to say whose workspace the account joins. */
export interface ConnectLinkView {
  link: ConnectLink;
  state: ConnectLinkState;
  owner: { name: string | null; email: string };
  /** A reconnect link's account username (the one to log in as). */
  accountUsername: string | null;
}
