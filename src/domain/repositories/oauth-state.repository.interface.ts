export const OAUTH_STATE_REPOSITORY = Symbol('OAUTH_STATE_REPOSITORY');

export interface IOAuthStateRepository {
  /**
   * Stores a state's hash for `userId`, valid `ttlSeconds` from the database's clock, and keeps
   * at most `maxPerUser` unexpired states per user (the newest).
   */
  create(stateHash: Buffer, userId: string, ttlSeconds: number, maxPerUser: number): Promise<void>;
  /**
   * Deletes the state and returns its user, in one statement: a state is accepted at most once
   * even when two callbacks race. `null` when unknown, already used or expired.
   */
  consume(stateHash: Buffer): Promise<string | null>;
  /** Deletes expired states; returns how many. */
  purgeExpired(): Promise<number>;
}
