import { Inject, Injectable } from '@nestjs/common';
import { PreparedStatement } from 'pg-promise';
import type { ICurrentAccountRepository } from '../../../domain/repositories/current-account.repository.interface';
import type { Db, Queryable } from '../database';
import { PG } from '../database.module';

/**
 * The caller's current account id for the user in parameter `$n`: the choice, or when nothing is
 * chosen the first non-disconnected entry of the (user_id, created_at, id) index. COALESCE
 * evaluates the fallback only when the choice is missing. Shared with the account read that
 * answers GET /instagram/accounts/:id in one statement.
 */
export function currentAccountIdSql(n: number): string {
  return `COALESCE(
    (SELECT account_id FROM user_current_accounts WHERE user_id = $${n}),
    (SELECT id FROM client_accounts
      WHERE user_id = $${n} AND status <> 'disconnected'
      ORDER BY created_at DESC, id DESC LIMIT 1))`;
}

// The list's hot path runs this beside the page: a primary-key read, and only when the user has
// not chosen, one index entry.
const findCurrentId = new PreparedStatement({
  name: 'current-account-id',
  text: `SELECT ${currentAccountIdSql(1)} AS account_id`,
});

@Injectable()
export class PostgresCurrentAccountRepository implements ICurrentAccountRepository {
  constructor(@Inject(PG) private readonly db: Db) {}

  async findCurrentId(userId: string, tx: Queryable = this.db): Promise<string | null> {
    const row = await tx.one<{ account_id: string | null }>(findCurrentId, [userId]);
    return row.account_id;
  }

  async choose(userId: string, accountId: string, tx: Queryable = this.db): Promise<void> {
    await tx.none(
      `INSERT INTO user_current_accounts (user_id, account_id) VALUES ($1, $2)
       ON CONFLICT (user_id) DO UPDATE SET account_id = EXCLUDED.account_id, updated_at = NOW()`,
      [userId, accountId],
    );
  }

  async moveOff(userId: string, accountId: string, tx: Queryable = this.db): Promise<boolean> {
    const result = await tx.result(
      `UPDATE user_current_accounts u SET
         account_id = (
           SELECT a.id FROM client_accounts a
            WHERE a.user_id = u.user_id AND a.id <> $2 AND a.status <> 'disconnected'
            ORDER BY a.created_at DESC, a.id DESC LIMIT 1),
         updated_at = NOW()
       WHERE u.user_id = $1 AND u.account_id = $2`,
      [userId, accountId],
    );
    return result.rowCount > 0;
  }
}
