/**
 * Every repository query that a request or a sweep runs reads an index: no sequential scan of
 * client_accounts, account_tokens, account_events or account_metric_snapshots once they hold
 * enough rows for the planner to care. The repositories run against a recording handle, which
 * keeps each statement and its values; each is then planned with EXPLAIN (FORMAT JSON), its
 * parameters inlined as a custom plan has them.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AccountEventType } from '../src/domain/entities/account-event.entity';
import { AccountStatus, InstagramAccountType } from '../src/domain/entities/client-account.entity';
import {
  createDatabase,
  type DatabaseHandle,
  type Db,
  pgp,
} from '../src/infrastructure/database/database';
import { PostgresAccountEventRepository } from '../src/infrastructure/database/repositories/postgres-account-event.repository';
import { PostgresAccountMetricsRepository } from '../src/infrastructure/database/repositories/postgres-account-metrics.repository';
import { PostgresAccountTokenRepository } from '../src/infrastructure/database/repositories/postgres-account-token.repository';
import { PostgresClientAccountRepository } from '../src/infrastructure/database/repositories/postgres-client-account.repository';
import { PostgresCurrentAccountRepository } from '../src/infrastructure/database/repositories/postgres-current-account.repository';
import { createTestDatabase, type TestDatabase } from './helpers/database';

const WATCHED = new Set([
  'client_accounts',
  'account_tokens',
  'account_events',
  'account_metric_snapshots',
]);
const USERS = 2_000;
const PER_USER = 20;

interface Recorded {
  label: string;
  text: string;
  values: unknown;
}

let database: TestDatabase;
let handle: DatabaseHandle;
let recorded: Recorded[] = [];
let label = '';

/**
 * The pool's query methods, each remembering what it ran; transactions hand their callback a
 * recording handle of their own. Everything still runs, so the methods return real rows.
 */
function recording(db: Db): Db {
  const methods = ['one', 'oneOrNone', 'many', 'manyOrNone', 'any', 'none', 'result'] as const;
  const wrap = (target: Record<string, unknown>): Record<string, unknown> => {
    const proxy: Record<string, unknown> = {};
    for (const name of methods) {
      proxy[name] = (query: string | { text: string }, values?: unknown, ...rest: unknown[]) => {
        const text = typeof query === 'string' ? query : query.text;
        recorded.push({ label, text, values });
        return (target[name] as (...args: unknown[]) => unknown).call(
          target,
          query,
          values,
          ...rest,
        );
      };
    }
    proxy.tx = (name: unknown, run?: (t: unknown) => unknown) =>
      (target.tx as (n: unknown, cb: (t: Record<string, unknown>) => unknown) => unknown).call(
        target,
        typeof name === 'function' ? 'tx' : name,
        (t: Record<string, unknown>) =>
          ((typeof name === 'function' ? name : run) as (t: unknown) => unknown)(wrap(t)),
      );
    return proxy;
  };
  return wrap(db as unknown as Record<string, unknown>) as unknown as Db;
}

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

function seqScans(node: PlanNode, found: string[] = []): string[] {
  if (node['Node Type'] === 'Seq Scan' && WATCHED.has(node['Relation Name'] ?? '')) {
    found.push(node['Relation Name']!);
  }
  for (const child of node.Plans ?? []) seqScans(child, found);
  return found;
}

beforeAll(async () => {
  database = await createTestDatabase();
  // The seed is bulk setup, not what is under test: on a busy 2-core CI machine its inserts took
  // longer than the service's 5 s statement_timeout.
  handle = createDatabase(database.url, 4, () => undefined, { statementTimeoutMs: 100_000 });
  const db = handle.db;
  // 40,000 accounts of 2,000 users, each with its token, two events and two snapshots; a few
  // in every status, some failing, rate limited or with a picture link near its expiry.
  await db.none(
    `INSERT INTO users (id, email, password_hash)
     SELECT md5('plan-user-' || i)::uuid, 'plan' || i || '@example.com', 'x'
     FROM generate_series(1, $1::int) AS i`,
    [USERS],
  );
  await db.none(
    `INSERT INTO client_accounts (id, user_id, platform, platform_account_id, username, status,
       account_type, metadata, created_at, last_sync_at, token_expires_at)
     SELECT md5('plan-account-' || j)::uuid, md5('plan-user-' || (1 + j % $1::int))::uuid,
       'instagram', (17841400000000000 + j)::text, 'plan_' || j,
       (ARRAY['active', 'active', 'active', 'active', 'active', 'active', 'error',
              'rate_limited', 'token_expired', 'disconnected'])[1 + j % 10],
       'business',
       jsonb_build_object('igId', (9007199254740993 + j)::text,
         'profilePictureExpiresAt', to_char((now() + (j % 96) * interval '1 hour') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
       || CASE WHEN j % 10 = 6 THEN jsonb_build_object('errorDetails', jsonb_build_object('code', 2,
            'message', 'x', 'timestamp', to_char((now() - interval '2 hours') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')))
          WHEN j % 10 = 7 THEN jsonb_build_object('rateLimitedUntil', to_char((now() + interval '1 hour') AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
          ELSE '{}'::jsonb END,
       timestamptz '2025-01-01Z' + j * interval '1 minute',
       now() - (j % 172800) * interval '1 second',
       now() + (j % 5000) * interval '15 minutes'
     FROM generate_series(0, $2::int - 1) AS j`,
    [USERS, USERS * PER_USER],
  );
  await db.none(
    `INSERT INTO account_tokens (account_id, ciphertext, iv, auth_tag, key_version, expires_at)
     SELECT id, '\\x00'::bytea, decode(repeat('00', 12), 'hex'), decode(repeat('00', 16), 'hex'),
       1, token_expires_at FROM client_accounts`,
  );
  await db.none(
    `INSERT INTO account_events (account_id, user_id, type, created_at)
     SELECT id, user_id, t, created_at + n * interval '1 hour' FROM client_accounts,
       unnest(ARRAY['connected', 'synced']) WITH ORDINALITY AS e(t, n)`,
  );
  await db.none(
    `INSERT INTO account_metric_snapshots (account_id, follower_count, following_count, media_count, captured_at)
     SELECT id, 1, 1, 1, now() - n * interval '1 day' FROM client_accounts, generate_series(1, 2) AS n`,
  );
  await db.none('ANALYZE');
}, 120_000);

afterAll(async () => {
  await handle?.close();
  await database?.drop();
});

describe('query plans at 40,000 accounts', () => {
  it('no repository query on a request path or a sweep scans a watched table', async () => {
    const db = recording(handle.db);
    const accounts = new PostgresClientAccountRepository(db);
    const tokens = new PostgresAccountTokenRepository(db);
    const events = new PostgresAccountEventRepository(db);
    const metrics = new PostgresAccountMetricsRepository(db);
    const current = new PostgresCurrentAccountRepository(db);
    const userId = (await handle.db.one<{ id: string }>(`SELECT md5('plan-user-7')::uuid AS id`))
      .id;
    const accountId = (
      await handle.db.one<{ id: string }>(
        'SELECT id FROM client_accounts WHERE user_id = $1 LIMIT 1',
        [userId],
      )
    ).id;
    const account = (await accounts.findById(accountId))!;
    const cursor = { createdAt: '2025-06-01T00:00:00.000000Z', id: randomUUID() };
    const step = async (name: string, run: () => Promise<unknown>) => {
      label = name;
      await run();
    };

    // Requests: the list and one account (with the current account), history, metrics, expiring.
    await step('findById', () => accounts.findById(accountId));
    await step('findByIdWithCurrent', () => accounts.findByIdWithCurrent(accountId, userId));
    await step('findByIdForUpdate', () =>
      handle.db.tx((t) => accounts.findByIdForUpdate(accountId, recording(t as unknown as Db))),
    );
    await step('findByUserId', () => accounts.findByUserId(userId));
    await step('findByPlatformAccountId', () =>
      accounts.findByPlatformAccountId('instagram', account.platformAccountId),
    );
    await step('listPageWithTotal', () => accounts.listPageWithTotal(userId, 50, null));
    await step('listPageWithTotal (cursor)', () => accounts.listPageWithTotal(userId, 50, cursor));
    await step('listExpiringByUserId', () =>
      accounts.listExpiringByUserId(
        userId,
        { from: new Date(), to: new Date(Date.now() + 7 * 86_400_000) },
        20,
        null,
      ),
    );
    await step('findByInstagramUserId', () =>
      accounts.findByInstagramUserId(String(account.metadata.igId)),
    );
    await step('upsertConnected', () =>
      accounts.upsertConnected({
        userId,
        platformAccountId: account.platformAccountId,
        username: account.username,
        accountType: InstagramAccountType.BUSINESS,
        metadata: {},
        permissions: [],
        tokenExpiresAt: null,
      }),
    );
    await step('update', () => accounts.update(accountId, { displayName: 'Plan' }));
    await step('updateStatus', () => accounts.updateStatus(accountId, AccountStatus.ACTIVE));
    await step('updateMetadata', () => accounts.updateMetadata(accountId, account.metadata));
    await step('recordMetricSnapshot', () => accounts.recordMetricSnapshot(account));
    await step('listIds (user)', () => accounts.listIds({ userId, limit: 100 }));
    await step('listIds (all, after)', () => accounts.listIds({ afterId: accountId, limit: 100 }));
    await step('findCurrentId', () => current.findCurrentId(userId));
    await step('choose', () => current.choose(userId, accountId));
    await step('moveOff', () => current.moveOff(userId, randomUUID()));
    await step('tokens.find', () => tokens.find(accountId));
    await step('tokens.findMetadata', () => tokens.findMetadata(accountId));
    await step('events.listByAccount', () => events.listByAccount(accountId, 20, null));
    await step('events.listByAccount (cursor)', () => events.listByAccount(accountId, 20, cursor));
    await step('events.latestOf', () =>
      events.latestOf(accountId, [AccountEventType.CONNECTED, AccountEventType.SYNCED]),
    );
    await step('metrics.points', () =>
      metrics.points(accountId, new Date(Date.now() - 30 * 86_400_000), new Date(), 'day'),
    );
    // Sweeps and the spec's expiry query.
    await step('findExpiringSoon', () => accounts.findExpiringSoon(72));
    await step('findRefreshable', () =>
      accounts.findRefreshable(30 * 24, 1000, { revisitWithinHours: 14 * 24 }),
    );
    await step('findDueForSync', () =>
      accounts.findDueForSync({
        staleHours: 24,
        pictureWithinHours: 24,
        pictureMinGapHours: 6,
        limit: 5000,
      }),
    );
    // Writes that find their rows by key (planned only: EXPLAIN does not run them).
    const deletes = [
      ['accounts.delete', 'DELETE FROM client_accounts WHERE id = $1'],
      ['events.deleteByAccount', 'DELETE FROM account_events WHERE account_id = $1'],
      ['tokens.delete', 'DELETE FROM account_tokens WHERE account_id = $1'],
    ];
    for (const [name, text] of deletes)
      recorded.push({ label: name!, text: text!, values: [accountId] });

    expect(recorded.length).toBeGreaterThan(30);
    const offenders: string[] = [];
    for (const { label: name, text, values } of recorded) {
      const sql = pgp.as.format(text, values);
      const [row] = await handle.db.many<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(
        `EXPLAIN (FORMAT JSON) ${sql}`,
      );
      const scans = seqScans(row!['QUERY PLAN'][0]!.Plan);
      if (scans.length > 0) offenders.push(`${name}: Seq Scan on ${scans.join(', ')}\n  ${text}`);
    }
    expect(offenders).toEqual([]);
    recorded = [];
  }, 60_000);
});
