import type { Queryable } from './queryable';
import type {
  AccountMetadata,
  AccountStatus,
  ClientAccount,
  InstagramAccountType,
} from '../entities/client-account.entity';

export const CLIENT_ACCOUNT_REPOSITORY = Symbol('CLIENT_ACCOUNT_REPOSITORY');

/** The columns `update` may write. Identity and ownership (`id`, `userId`, `platform`,
 *  `platformAccountId`, `createdAt`) are not among them: no caller can move or re-key an account. */
export const UPDATABLE_ACCOUNT_FIELDS = [
  'username',
  'displayName',
  'profilePictureUrl',
  'followerCount',
  'followingCount',
  'mediaCount',
  'biography',
  'website',
  'status',
  'accountType',
  'metadata',
  'permissions',
  'lastSyncAt',
  'tokenExpiresAt',
] as const;
export type UpdatableAccountField = (typeof UPDATABLE_ACCOUNT_FIELDS)[number];
export type AccountUpdate = Partial<{
  [K in UpdatableAccountField]: ClientAccount[K] | null;
}>;

export interface ConnectAccountInput {
  userId: string;
  platformAccountId: string;
  username: string;
  displayName?: string | undefined;
  profilePictureUrl?: string | undefined;
  followerCount?: number | undefined;
  followingCount?: number | undefined;
  mediaCount?: number | undefined;
  biography?: string | undefined;
  website?: string | undefined;
  accountType: InstagramAccountType;
  metadata: AccountMetadata;
  permissions: string[];
  tokenExpiresAt: Date | null;
}

export type ConnectOutcome =
  | { outcome: 'created'; account: ClientAccount }
  | { outcome: 'reconnected'; account: ClientAccount; previousStatus: AccountStatus }
  | { outcome: 'owned_by_other' };

export interface AccountPageCursor {
  /**
   * The sort key's time at full (microsecond) precision, as PostgreSQL prints it: `created_at`
   * for the list, `token_expires_at` for the expiring-soon list.
   */
  createdAt: string;
  id: string;
}

export interface AccountPage {
  accounts: ClientAccount[];
  /** Where the next page starts; null on the last page. */
  next: AccountPageCursor | null;
}

export interface IClientAccountRepository {
  create(account: Partial<ClientAccount>, tx?: Queryable): Promise<ClientAccount>;
  findById(id: string, tx?: Queryable): Promise<ClientAccount | null>;
  findByUserId(userId: string): Promise<ClientAccount[]>;
  findByPlatformAccountId(
    platform: string,
    platformAccountId: string,
  ): Promise<ClientAccount | null>;
  /** Writes only `UPDATABLE_ACCOUNT_FIELDS`; any other key is refused. Null when no such row. */
  update(id: string, updates: AccountUpdate, tx?: Queryable): Promise<ClientAccount | null>;
  delete(id: string, tx?: Queryable): Promise<void>;
  updateStatus(id: string, status: AccountStatus, tx?: Queryable): Promise<void>;
  updateMetadata(id: string, metadata: AccountMetadata, tx?: Queryable): Promise<void>;
  /** Active accounts whose token expires within `hours` (an integer, 1..8760). */
  findExpiringSoon(hours: number): Promise<ClientAccount[]>;
  /**
   * What the token-refresh sweep visits: accounts whose token expires within `hours` (an integer,
   * 1..8760), soonest first, at most `limit` (an integer, 1..10000). Unlike `findExpiringSoon`
   * (the spec's contract: active only) this includes `rate_limited` and `error` accounts, whose
   * token still works and would otherwise lapse while they wait for a good sync; expired and
   * disconnected ones only a reconnect fixes. The window is counted from `now` (default: the
   * current time). An account backing off after a failed refresh (`tokenRefresh.nextAttemptAt`
   * after `now`) is left out unless its token expires within `revisitWithinHours` (default 0:
   * only once it has expired).
   */
  findRefreshable(
    hours: number,
    limit: number,
    options?: { now?: Date; revisitWithinHours?: number },
  ): Promise<ClientAccount[]>;
  /**
   * Account ids in id order, after `afterId`, at most `limit` (an integer, 1..10000); only
   * `userId`'s when given. For operators' runs over many accounts (the CLI), page by page.
   */
  listIds(options: { userId?: string; afterId?: string; limit: number }): Promise<string[]>;

  /**
   * A keyset page in `created_at DESC, id DESC` order, the user's count of accounts and their
   * current account (as ICurrentAccountRepository.findCurrentId has it), in one statement: the
   * list's hot path.
   */
  listPageWithTotal(
    userId: string,
    limit: number,
    after: AccountPageCursor | null,
  ): Promise<AccountPage & { total: number; currentId: string | null }>;
  /**
   * One statement: insert, or re-activate the caller's own existing row with the new profile.
   * An account connected by another user is left untouched (`owned_by_other`).
   */
  upsertConnected(input: ConnectAccountInput, tx?: Queryable): Promise<ConnectOutcome>;
  /** Accounts matching an Instagram id that Meta's callbacks use (app-scoped or professional). */
  findByInstagramUserId(instagramUserId: string, tx?: Queryable): Promise<ClientAccount[]>;
  /** Locks the row for the rest of the transaction (serialises syncs and refreshes of one account). */
  findByIdForUpdate(id: string, tx: Queryable): Promise<ClientAccount | null>;
  /**
   * Locks the rows for the rest of the transaction, in id order (so two transactions locking
   * overlapping sets never deadlock); the accounts that exist, in id order.
   */
  findByIdsForUpdate(ids: readonly string[], tx: Queryable): Promise<ClientAccount[]>;
  /**
   * Several accounts' updates in as few statements as there are different sets of fields (one,
   * for a batch of syncs); each account at most once. The rows as written, in no set order; an
   * account that does not exist is missing from them.
   */
  updateMany(
    updates: readonly { id: string; changes: AccountUpdate }[],
    tx: Queryable,
  ): Promise<ClientAccount[]>;
  /**
   * The account and `userId`'s current account id (as ICurrentAccountRepository.findCurrentId
   * gives it), in one statement; null when there is no such account.
   */
  findByIdWithCurrent(
    id: string,
    userId: string,
  ): Promise<{ account: ClientAccount; currentId: string | null } | null>;
  recordMetricSnapshot(account: ClientAccount, tx?: Queryable): Promise<void>;
  /**
   * Ids of accounts the periodic sync should visit, most overdue first: active, rate-limited or
   * failed accounts (never expired or disconnected ones, which only a reconnect fixes) whose
   * rate limit has lifted and whose last sync attempt (success or recorded failure) is older
   * than `staleHours`, or whose profile picture URL expires within `pictureWithinHours` and
   * whose last attempt is older than `pictureMinGapHours`.
   */
  findDueForSync(options: {
    staleHours: number;
    pictureWithinHours: number;
    pictureMinGapHours: number;
    limit: number;
  }): Promise<string[]>;
}
