import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import pg from 'pg';
import { PreparedStatement } from 'pg-promise';

/**
 * The name a statement is prepared under: a digest of its text, so one text is one name on every
 * connection and two texts never share one (pg refuses a name reused with another text).
 */
export function statementName(text: string): string {
  let name = names.get(text);
  if (name === undefined) {
    name = `pgboss-${createHash('sha1').update(text).digest('base64url').slice(0, 20)}`;
    names.set(text, name);
  }
  return name;
}

// pg-boss has a few dozen statement texts (one per kind of call and queue): the cache stays small.
const names = new Map<string, string>();

/** pg-boss's statement as a pg-promise prepared statement, for a caller's transaction. */
export function preparedStatement(text: string, values: unknown[]): PreparedStatement {
  return new PreparedStatement({ name: statementName(text), text, values });
}

/**
 * pg-boss's database, with its parameterised statements prepared. pg-boss sends every statement
 * unnamed, so PostgreSQL parses, analyses and plans each of them anew: with a sweep's jobs that
 * was 5 of 24 seconds of PostgreSQL's time (pg_stat_statements, 2,000 accounts with webhooks).
 * Named, each connection parses and analyses a statement once; it is still planned for its values
 * every time (the pool's options say why). Statements without values (pg-boss's DDL, its
 * migrations, which may hold several commands) go as they are.
 *
 * Given to pg-boss as its `db` (pg-boss then neither opens nor closes it: `close` is ours).
 */
export class PreparedSqlDb extends EventEmitter {
  private readonly pool: pg.Pool;

  constructor(config: pg.PoolConfig) {
    super();
    this.pool = new pg.Pool({
      ...config,
      // pg-boss's statements are written to be planned for their values, as unnamed ones are. A
      // named one may be given PostgreSQL's generic plan after five runs, and for the fetch that
      // plan is a disaster: in a sync benchmark (2026-12-03) the connections switched to it
      // mid-sweep, each fetch then read 371 buffers instead of 72 and took 9 ms (58.7 s in all
      // instead of 2 s), and the sweep ran at 109 accounts a second instead of about 145.
      options: [config.options, '-c plan_cache_mode=force_custom_plan'].filter(Boolean).join(' '),
    });
    this.pool.on('error', (error) => this.emit('error', error));
  }

  executeSql(text: string, values?: unknown[]): Promise<pg.QueryResult> {
    if (!values || values.length === 0) return this.pool.query(text);
    return this.pool.query({ name: statementName(text), text, values });
  }

  async close(): Promise<void> {
    if (!this.pool.ending) await this.pool.end();
  }
}
