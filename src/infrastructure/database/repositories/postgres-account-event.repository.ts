import { Inject, Injectable, Optional } from '@nestjs/common';
import { PreparedStatement } from 'pg-promise';
import type { AccountEvent, AccountEventType } from '../../../domain/entities/account-event.entity';
import type {
  AccountEventCursor,
  IAccountEventRepository,
  NewAccountEvent,
} from '../../../domain/repositories/account-event.repository.interface';
import { AccountEventListeners } from '../account-event-listeners';
import type { Db, Queryable } from '../database';
import { PG } from '../database.module';

interface EventRow {
  id: string;
  account_id: string;
  user_id: string;
  type: string;
  data: Record<string, unknown>;
  created_at: Date;
  cursor_created_at: string;
}

const SELECT = `SELECT id, account_id, user_id, type, data, created_at,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_created_at
  FROM account_events`;

// Each row's time a microsecond past the one before it: clock_timestamp() may repeat within one
// statement, and the history orders by time (then by a random id). The rows come back in the
// order they went in; their times (to the microsecond, finer than a JS Date) say it for sure.
const appendEvents = new PreparedStatement({
  name: 'account-events-append-all',
  text: `INSERT INTO account_events (account_id, user_id, type, data, created_at)
         SELECT e.account_id, e.user_id, e.type, e.data,
                clock_timestamp() + (e.n - 1) * interval '1 microsecond'
         FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::jsonb[])
              WITH ORDINALITY AS e(account_id, user_id, type, data, n)
         RETURNING id, created_at,
           to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') AS at_us`,
});

// Walks the account's history newest first (its index) to the first event of one of the types.
const latestOfTypes = new PreparedStatement({
  name: 'account-events-latest-of',
  text: `SELECT type FROM account_events WHERE account_id = $1 AND type = ANY($2::text[])
         ORDER BY created_at DESC, id DESC LIMIT 1`,
});

@Injectable()
export class PostgresAccountEventRepository implements IAccountEventRepository {
  constructor(
    @Inject(PG) private readonly db: Db,
    @Optional() private readonly listeners?: AccountEventListeners,
  ) {}

  /**
   * Appends the event and, in the same transaction, lets the listeners (the webhook fan-out) write
   * what follows from it. Without a caller's transaction, one is opened when anyone listens.
   */
  append(event: NewAccountEvent, tx: Queryable = this.db): Promise<void> {
    return this.appendAll([event], tx);
  }

  async appendAll(events: readonly NewAccountEvent[], tx: Queryable = this.db): Promise<void> {
    if (events.length === 0) return;
    const data = events.map((event) => event.data ?? {});
    const insert = async (t: Queryable): Promise<{ id: string; created_at: Date }[]> => {
      const rows = await t.many<{ id: string; created_at: Date; at_us: string }>(appendEvents, [
        events.map((event) => event.accountId),
        events.map((event) => event.userId),
        events.map((event) => event.type),
        data.map((d) => JSON.stringify(d)),
      ]);
      return rows.sort((a, b) => (a.at_us < b.at_us ? -1 : a.at_us > b.at_us ? 1 : 0));
    };
    const listeners = this.listeners;
    if (!listeners?.any) {
      await insert(tx);
      return;
    }
    const appendAndNotify = async (t: Queryable) => {
      const rows = await insert(t);
      await listeners.notify(
        events.map((event, i) => ({
          id: rows[i]!.id,
          accountId: event.accountId,
          userId: event.userId,
          type: event.type,
          data: data[i]!,
          createdAt: rows[i]!.created_at,
          ...(event.account ? { account: event.account } : {}),
        })),
        t,
      );
    };
    if (tx === this.db) await this.db.tx('account-events-append', appendAndNotify);
    else await appendAndNotify(tx);
  }

  async listByAccount(
    accountId: string,
    limit: number,
    after: AccountEventCursor | null,
  ): Promise<{ events: AccountEvent[]; next: AccountEventCursor | null }> {
    const rows = after
      ? await this.db.manyOrNone<EventRow>(
          `${SELECT} WHERE account_id = $1 AND (created_at, id) < ($3::timestamptz, $4::uuid)
           ORDER BY created_at DESC, id DESC LIMIT $2`,
          [accountId, limit + 1, after.createdAt, after.id],
        )
      : await this.db.manyOrNone<EventRow>(
          `${SELECT} WHERE account_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2`,
          [accountId, limit + 1],
        );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      events: page.map((row) => ({
        id: row.id,
        accountId: row.account_id,
        userId: row.user_id,
        type: row.type as AccountEventType,
        data: row.data,
        createdAt: row.created_at,
      })),
      next: rows.length > limit && last ? { createdAt: last.cursor_created_at, id: last.id } : null,
    };
  }

  async latestOf(
    accountId: string,
    types: AccountEventType[],
    tx: Queryable = this.db,
  ): Promise<AccountEventType | null> {
    const row = await tx.oneOrNone<{ type: string }>(latestOfTypes, [accountId, types]);
    return row ? (row.type as AccountEventType) : null;
  }

  async deleteByAccount(accountId: string, tx: Queryable = this.db): Promise<number> {
    const result = await tx.result('DELETE FROM account_events WHERE account_id = $1', [accountId]);
    return result.rowCount;
  }
}
