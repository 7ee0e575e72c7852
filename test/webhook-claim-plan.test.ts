/**
 * The claim statement's generic plan (the one PostgreSQL keeps for it: its one parameter is a JSON
 * list) when the statistics say no delivery is pending: a new database, or an ANALYZE in a quiet
 * moment, before a backlog. It must still find the heads by the pending index and take them by
 * primary key; reading a partial index of pending deliveries (which such statistics call tiny)
 * would read the whole backlog for every claim.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createDatabase, type DatabaseHandle } from '../src/infrastructure/database/database';
import { CLAIM_BATCH_SQL } from '../src/infrastructure/database/repositories/postgres-webhook-delivery.repository';
import { createTestDatabase, type TestDatabase } from './helpers/database';

let database: TestDatabase;
let handle: DatabaseHandle;

beforeAll(async () => {
  database = await createTestDatabase();
  handle = createDatabase(database.url, 2, () => undefined);
});

afterAll(async () => {
  await handle?.close();
  await database?.drop();
});

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Subplan Name'?: string;
  Plans?: PlanNode[];
}

/** Every index a plan node reads, its own or (a bitmap heap scan's) its children's. */
function indexesOf(node: PlanNode): string[] {
  if (node['Index Name']) return [node['Index Name']];
  return (node.Plans ?? [])
    .filter((child) => child['Node Type'].startsWith('Bitmap'))
    .flatMap(indexesOf);
}

/** Every scan of webhook_deliveries in the plan, with the CTE it belongs to. */
function scans(node: PlanNode, cte = ''): { cte: string; type: string; indexes: string[] }[] {
  const here = node['Subplan Name']?.startsWith('CTE ') ? node['Subplan Name'].slice(4) : cte;
  const own =
    node['Relation Name'] === 'webhook_deliveries' && node['Node Type'] !== 'ModifyTable'
      ? [{ cte: here, type: node['Node Type'], indexes: indexesOf(node) }]
      : [];
  return [...own, ...(node.Plans ?? []).flatMap((child) => scans(child, here))];
}

it('finds the heads by the pending index and takes them by primary key, whatever the statistics say', async () => {
  const { db } = handle;
  const user = await db.one<{ id: string }>(
    `INSERT INTO users (email, password_hash) VALUES ($1, 'scrypt$test') RETURNING id`,
    [`claim.plan.${randomUUID()}@example.com`],
  );
  const endpoint = await db.one<{ id: string }>(
    `INSERT INTO webhook_endpoints (user_id, url, events, secret_ciphertext, secret_iv,
       secret_auth_tag, secret_key_version)
     VALUES ($1, 'https://hooks.example.com/x', ARRAY['*'], '\\x00', '\\x00', '\\x00', 1)
     RETURNING id`,
    [user.id],
  );
  // 6,000 deliveries of 3,000 accounts, all delivered when the statistics are taken...
  await db.none(
    `INSERT INTO webhook_deliveries (endpoint_id, event_id, account_id, event_type, payload, status)
     SELECT $1, gen_random_uuid(), a, 'account.status_changed', repeat('x', 1200), 'delivered'
     FROM (SELECT gen_random_uuid() AS a FROM generate_series(1, 3000)) accounts,
          generate_series(1, 2)`,
    [endpoint.id],
  );
  await db.none('ANALYZE webhook_deliveries');
  // ...and a third of them pending by the time the claims run: a backlog.
  await db.none(
    `UPDATE webhook_deliveries SET status = 'pending' WHERE ctid IN
       (SELECT ctid FROM webhook_deliveries TABLESAMPLE BERNOULLI (33))`,
  );
  const plan = await db.tx(async (tx) => {
    await tx.none('SET LOCAL plan_cache_mode = force_generic_plan');
    await tx.none(`PREPARE claim_plan_probe(jsonb) AS ${CLAIM_BATCH_SQL}`);
    const row = await tx.one<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
      `EXPLAIN (FORMAT JSON) EXECUTE claim_plan_probe('[]')`,
    );
    await tx.none('DEALLOCATE claim_plan_probe');
    return row['QUERY PLAN'][0].Plan;
  });
  const found = scans(plan);
  expect(found.filter((s) => s.cte === 'head').map((s) => s.indexes)).toEqual([
    ['webhook_deliveries_pending_idx'],
  ]);
  for (const cte of ['done', 'claimed']) {
    expect(found.filter((s) => s.cte === cte).map((s) => s.indexes)).toEqual([
      ['webhook_deliveries_pkey'],
    ]);
  }
  expect(found.every((s) => s.type !== 'Seq Scan')).toBe(true);
});
