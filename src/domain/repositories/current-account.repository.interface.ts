import type { Queryable } from './queryable';

export const CURRENT_ACCOUNT_REPOSITORY = Symbol('CURRENT_ACCOUNT_REPOSITORY');

/** The account each user works in (account switching), kept per user. */
export interface ICurrentAccountRepository {
  /**
   * One statement: the user's chosen account, else their most recently connected account that
   * is not disconnected; null when there is neither.
   */
  findCurrentId(userId: string, tx?: Queryable): Promise<string | null>;
  /** Records the choice; the caller has checked that the account is the user's. */
  choose(userId: string, accountId: string, tx?: Queryable): Promise<void>;
  /**
   * When `accountId` is the user's chosen account, moves the choice to their most recently
   * connected other account that is not disconnected, or to none. Run it in the transaction
   * that disconnects or deletes the account (before the delete). True when the choice moved.
   */
  moveOff(userId: string, accountId: string, tx?: Queryable): Promise<boolean>;
}
