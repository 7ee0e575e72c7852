import type { AccountPage, AccountPageCursor } from './client-account.repository.interface';

export const EXPIRING_ACCOUNT_REPOSITORY = Symbol('EXPIRING_ACCOUNT_REPOSITORY');

/** What `GET /instagram/accounts/expiring` reads (the spec's findExpiringSoon, per user). */
export interface IExpiringAccountRepository {
  /**
   * The user's accounts whose token still works (active, rate_limited, error) and expires in
   * (from, to], soonest first (`token_expires_at, id`), keyset-paginated, with their total.
   */
  listExpiringByUserId(
    userId: string,
    window: { from: Date; to: Date },
    limit: number,
    after: AccountPageCursor | null,
  ): Promise<AccountPage & { total: number }>;
}
