/**
 * pg-boss's database (PreparedSqlDb) on a real PostgreSQL: statements with values are prepared
 * once per connection under a name from their text; statements without (pg-boss's DDL and
 * migrations, several commands at once) run as they are.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '../src/infrastructure/database/database';
import {
  PreparedSqlDb,
  preparedStatement,
  statementName,
} from '../src/infrastructure/jobs/prepared-sql';
import { createTestDatabase, type TestDatabase } from './helpers/database';

let database: TestDatabase;
let db: PreparedSqlDb;

beforeAll(async () => {
  database = await createTestDatabase();
  // One connection: what one statement prepared, the next one sees.
  db = new PreparedSqlDb({ connectionString: database.url, max: 1 });
});

afterAll(async () => {
  await db.close();
  await database.drop();
});

describe('PreparedSqlDb', () => {
  it('prepares a statement with values once, under its text’s name, and runs it again', async () => {
    const text = 'SELECT $1::int + $2::int AS sum';
    expect((await db.executeSql(text, [1, 2])).rows).toEqual([{ sum: 3 }]);
    expect((await db.executeSql(text, [40, 2])).rows).toEqual([{ sum: 42 }]);
    const prepared = await db.executeSql('SELECT name, statement FROM pg_prepared_statements');
    expect(prepared.rows).toEqual([{ name: statementName(text), statement: text }]);
  });

  it('plans a prepared statement for its values every time, never with a generic plan', async () => {
    // PostgreSQL tries a generic plan from the sixth run on: ten runs cover the switch.
    // A statement whose plan cannot depend on its value: left to itself, PostgreSQL goes generic.
    const text = 'SELECT $1::int * 2 AS n';
    for (let n = 1; n <= 10; n++) {
      expect((await db.executeSql(text, [n])).rows).toEqual([{ n: 2 * n }]);
    }
    const plans = await db.executeSql(
      'SELECT generic_plans::int AS generic, custom_plans::int AS custom FROM pg_prepared_statements WHERE name = $1',
      [statementName(text)],
    );
    expect(plans.rows).toEqual([{ generic: 0, custom: 10 }]);
  });

  it('gives two texts two names, always the same for one text', () => {
    expect(statementName('SELECT $1')).toBe(statementName('SELECT $1'));
    expect(statementName('SELECT $1')).not.toBe(statementName('SELECT $1 '));
  });

  it('runs statements without values as they are, several commands included', async () => {
    await db.executeSql('CREATE TABLE t (n int); INSERT INTO t VALUES (1), (2)');
    expect((await db.executeSql('SELECT sum(n)::int AS s FROM t', [])).rows).toEqual([{ s: 3 }]);
  });

  it('prepares pg-boss’s statements in a caller’s transaction too (pg-promise)', async () => {
    const handle = createDatabase(database.url, 1, () => undefined);
    try {
      const text = 'SELECT $1::text AS v';
      const rows = await handle.db.tx(async (tx) => {
        await tx.one(preparedStatement(text, ['a']));
        await tx.one(preparedStatement(text, ['b']));
        return tx.many('SELECT name FROM pg_prepared_statements');
      });
      expect(rows).toEqual([{ name: statementName(text) }]);
    } finally {
      await handle.close();
    }
  });
});
