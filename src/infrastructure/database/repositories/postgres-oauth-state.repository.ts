import { Inject, Injectable } from '@nestjs/common';
import { PreparedStatement } from 'pg-promise';
import type { IOAuthStateRepository } from '../../../domain/repositories/oauth-state.repository.interface';
import type { Db } from '../database';
import { PG } from '../database.module';

const insertState = new PreparedStatement({
  name: 'oauth-states-insert',
  text: `INSERT INTO oauth_states (state_hash, user_id, expires_at)
         VALUES ($1, $2, now() + make_interval(secs => $3))`,
});
// Someone clicking "connect" in a loop must not grow the table without bound: only the newest
// few of a user's states stay usable.
const trimUserStates = new PreparedStatement({
  name: 'oauth-states-trim-user',
  text: `DELETE FROM oauth_states WHERE user_id = $1 AND state_hash NOT IN (
           SELECT state_hash FROM oauth_states WHERE user_id = $1
           ORDER BY created_at DESC, state_hash LIMIT $2)`,
});
const consumeState = new PreparedStatement({
  name: 'oauth-states-consume',
  text: 'DELETE FROM oauth_states WHERE state_hash = $1 AND expires_at > now() RETURNING user_id',
});
const purgeExpired = new PreparedStatement({
  name: 'oauth-states-purge-expired',
  text: 'DELETE FROM oauth_states WHERE expires_at <= now()',
});

@Injectable()
export class PostgresOAuthStateRepository implements IOAuthStateRepository {
  constructor(@Inject(PG) private readonly db: Db) {}

  async create(
    stateHash: Buffer,
    userId: string,
    ttlSeconds: number,
    maxPerUser: number,
  ): Promise<void> {
    await this.db.tx('oauth-states-create', async (t) => {
      await t.none(insertState, [stateHash, userId, ttlSeconds]);
      await t.none(trimUserStates, [userId, maxPerUser]);
    });
  }

  async consume(stateHash: Buffer): Promise<string | null> {
    const row = await this.db.oneOrNone<{ user_id: string }>(consumeState, [stateHash]);
    return row?.user_id ?? null;
  }

  async purgeExpired(): Promise<number> {
    return this.db.result(purgeExpired, [], (r) => r.rowCount);
  }
}
