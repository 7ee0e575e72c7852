import { Inject, Injectable } from '@nestjs/common';
import { PreparedStatement } from 'pg-promise';
import type {
  ConsumedOAuthState,
  IOAuthStateRepository,
  NewOAuthState,
} from '../../../domain/repositories/oauth-state.repository.interface';
import type { Db } from '../database';
import { PG } from '../database.module';

const insertState = new PreparedStatement({
  name: 'oauth-states-insert',
  text: `INSERT INTO oauth_states (state_hash, user_id, account_id, connect_link_id, expires_at)
         VALUES ($1, $2, $3, $4, now() + make_interval(secs => $5))`,
});
// Someone clicking "connect" in a loop must not grow the table without bound: only the newest
// few of a user's states stay usable, counted apart for the user's own connects and each link.
const trimUserStates = new PreparedStatement({
  name: 'oauth-states-trim-user',
  text: `DELETE FROM oauth_states
         WHERE user_id = $1 AND connect_link_id IS NOT DISTINCT FROM $2 AND state_hash NOT IN (
           SELECT state_hash FROM oauth_states
           WHERE user_id = $1 AND connect_link_id IS NOT DISTINCT FROM $2
           ORDER BY created_at DESC, state_hash LIMIT $3)`,
});
// One statement, so the answer cannot race another callback: the live row is deleted and
// returned, or an expired one (which the delete never touches) is reported as such.
const consumeState = new PreparedStatement({
  name: 'oauth-states-consume',
  text: `WITH consumed AS (
           DELETE FROM oauth_states WHERE state_hash = $1 AND expires_at > now()
           RETURNING user_id, account_id, connect_link_id)
         SELECT user_id, account_id, connect_link_id, false AS expired FROM consumed
         UNION ALL
         SELECT NULL, NULL, NULL, true FROM oauth_states WHERE state_hash = $1 AND expires_at <= now()`,
});
const purgeExpired = new PreparedStatement({
  name: 'oauth-states-purge-expired',
  text: 'DELETE FROM oauth_states WHERE expires_at <= now()',
});

@Injectable()
export class PostgresOAuthStateRepository implements IOAuthStateRepository {
  constructor(@Inject(PG) private readonly db: Db) {}

  async create(state: NewOAuthState): Promise<void> {
    await this.db.tx('oauth-states-create', async (t) => {
      await t.none(insertState, [
        state.stateHash,
        state.userId,
        state.accountId,
        state.connectLinkId,
        state.ttlSeconds,
      ]);
      await t.none(trimUserStates, [state.userId, state.connectLinkId, state.maxPerUser]);
    });
  }

  async consume(stateHash: Buffer): Promise<ConsumedOAuthState> {
    const row = await this.db.oneOrNone<{
      user_id: string | null;
      account_id: string | null;
      connect_link_id: string | null;
      expired: boolean;
    }>(consumeState, [stateHash]);
    if (!row) return { outcome: 'unknown' };
    if (row.expired || row.user_id === null) return { outcome: 'expired' };
    return {
      outcome: 'consumed',
      userId: row.user_id,
      accountId: row.account_id,
      connectLinkId: row.connect_link_id,
    };
  }

  async purgeExpired(): Promise<number> {
    return this.db.result(purgeExpired, [], (r) => r.rowCount);
  }
}
