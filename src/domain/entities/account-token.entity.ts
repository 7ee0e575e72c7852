export type TokenType = 'short_lived' | 'long_lived';
export const TOKEN_TYPES: readonly TokenType[] = ['short_lived', 'long_lived'];

/** What a caller hands the token vault to keep for an account. */
export interface StoreTokenInput {
  accessToken: string;
  tokenType: TokenType;
  /** Defaults to the database's now(). */
  issuedAt?: Date;
  /** `null`: the token does not expire. */
  expiresAt: Date | null;
  scopes: string[];
}

/** Everything about a stored token except the token: safe for status displays. */
export interface TokenMetadata {
  tokenType: TokenType;
  issuedAt: Date;
  expiresAt: Date | null;
  /** When a stored token was last replaced (refresh or reconnect); `null` until then. */
  lastRefreshedAt: Date | null;
  scopes: string[];
  keyVersion: number;
}

export interface StoredToken extends TokenMetadata {
  accessToken: string;
}
