export const OAUTH_STATE_REPOSITORY = Symbol('OAUTH_STATE_REPOSITORY');

export interface NewOAuthState {
  stateHash: Buffer;
  userId: string;
  /** The account a reconnect is for; `null` for a plain connect. */
  accountId: string | null;
  /** The connect link whose public page started it; `null` for the user's own connect. */
  connectLinkId: string | null;
  ttlSeconds: number;
  /**
   * Keep at most this many states of the user (the newest), counted apart for each link: a
   * client pressing a link's button in a loop cannot push out the owner's own connects.
   */
  maxPerUser: number;
}

/** What presenting a state found. Used and never-issued states are indistinguishable. */
export type ConsumedOAuthState =
  | { outcome: 'consumed'; userId: string; accountId: string | null; connectLinkId: string | null }
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
