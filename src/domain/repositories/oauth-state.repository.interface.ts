export const OAUTH_STATE_REPOSITORY = Symbol('OAUTH_STATE_REPOSITORY');

export interface NewOAuthState {
  stateHash: Buffer;
  userId: string;
  /** The account a reconnect is for; `null` for a plain connect. */
  accountId: string | null;
  ttlSeconds: number;
  /** Keep at most this many unexpired states of the user (the newest). */
  maxPerUser: number;
}

/** What presenting a state found. Used and never-issued states are indistinguishable. */
export type ConsumedOAuthState =
  | { outcome: 'consumed'; userId: string; accountId: string | null }
  | { outcome: 'expired' }
  | { outcome: 'unknown' };

export interface IOAuthStateRepository {
  /** Stores a state's hash, valid `ttlSeconds` from the database's clock. */
  create(state: NewOAuthState): Promise<void>;
  /**
   * Deletes the state and returns its user and account, in one statement: a state is accepted at
   * most once even when two callbacks race. An expired state is reported, and left to the purge.
   */
  consume(stateHash: Buffer): Promise<ConsumedOAuthState>;
  /** Deletes expired states; returns how many. */
  purgeExpired(): Promise<number>;
}
