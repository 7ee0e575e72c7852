import { Inject, Injectable } from '@nestjs/common';
import { PreparedStatement } from 'pg-promise';
import {
  type AccountMetadata,
  AccountStatus,
  type ClientAccount,
  InstagramAccountType,
  SocialPlatform,
} from '../../../domain/entities/client-account.entity';
import {
  type AccountPage,
  type AccountPageCursor,
  type AccountUpdate,
  type ConnectAccountInput,
  type ConnectOutcome,
  type IClientAccountRepository,
  UPDATABLE_ACCOUNT_FIELDS,
  type UpdatableAccountField,
} from '../../../domain/repositories/client-account.repository.interface';
import type { IExpiringAccountRepository } from '../../../domain/repositories/expiring-account.repository.interface';
import { type Db, pgp, type Queryable } from '../database';
import { PG } from '../database.module';
import { currentAccountIdSql } from './postgres-current-account.repository';

interface AccountRow {
  id: string;
  user_id: string;
  platform: string;
  platform_account_id: string;
  username: string;
  display_name: string | null;
  profile_picture_url: string | null;
  follower_count: number | null;
  following_count: number | null;
  media_count: number | null;
  biography: string | null;
  website: string | null;
  status: string;
  account_type: string;
  metadata: Record<string, unknown>;
  permissions: string[];
  created_at: Date;
  updated_at: Date;
  last_sync_at: Date | null;
  token_expires_at: Date | null;
}

const COLUMNS = `id, user_id, platform, platform_account_id, username, display_name,
  profile_picture_url, follower_count, following_count, media_count, biography, website, status,
  account_type, metadata, permissions, created_at, updated_at, last_sync_at, token_expires_at`;
// Keyset cursors need created_at at PostgreSQL's microsecond precision; a JS Date keeps only ms.
const CURSOR_COLUMN = `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_created_at`;

/** entity field → column, for the whitelisted update. */
const COLUMN_OF: Record<UpdatableAccountField, string> = {
  username: 'username',
  displayName: 'display_name',
  profilePictureUrl: 'profile_picture_url',
  followerCount: 'follower_count',
  followingCount: 'following_count',
  mediaCount: 'media_count',
  biography: 'biography',
  website: 'website',
  status: 'status',
  accountType: 'account_type',
  metadata: 'metadata',
  permissions: 'permissions',
  lastSyncAt: 'last_sync_at',
  tokenExpiresAt: 'token_expires_at',
};
const JSON_FIELDS = new Set<UpdatableAccountField>(['metadata', 'permissions']);
const UPDATABLE = new Set<string>(UPDATABLE_ACCOUNT_FIELDS);

const findByIdForUpdate = new PreparedStatement({
  name: 'accounts-find-by-id-for-update',
  text: `SELECT ${COLUMNS} FROM client_accounts WHERE id = $1 FOR UPDATE`,
});

/**
 * An update's statement, prepared per set of columns: a sync, a refresh and a status change each
 * send the same few sets over and over, and a statement PostgreSQL has already parsed and planned
 * costs it a fraction of a new one (the sync's update was planned anew 5,000 times a sweep).
 */
const updateStatements = new Map<string, PreparedStatement>();
function updateStatement(assignments: string): PreparedStatement {
  let statement = updateStatements.get(assignments);
  if (!statement) {
    statement = new PreparedStatement({
      name: `accounts-update-${updateStatements.size + 1}`,
      text: `UPDATE client_accounts SET ${assignments} WHERE id = $1 RETURNING ${COLUMNS}`,
    });
    updateStatements.set(assignments, statement);
  }
  return statement;
}

// A batch of syncs locks its accounts in one statement, in id order (the lock is taken above the
// sort): two batches that share accounts lock them in the same order, so they never deadlock.
const findByIdsForUpdate = new PreparedStatement({
  name: 'accounts-find-by-ids-for-update',
  text: `SELECT ${COLUMNS} FROM client_accounts WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`,
});

/** Each updatable column's type, for the rows a batched update reads from its JSON. */
const SQL_TYPE_OF: Record<UpdatableAccountField, string> = {
  username: 'text',
  displayName: 'text',
  profilePictureUrl: 'text',
  followerCount: 'integer',
  followingCount: 'integer',
  mediaCount: 'integer',
  biography: 'text',
  website: 'text',
  status: 'text',
  accountType: 'text',
  metadata: 'jsonb',
  permissions: 'jsonb',
  lastSyncAt: 'timestamptz',
  tokenExpiresAt: 'timestamptz',
};
/**
 * The fields an update sets (those not undefined), each with its value. Column names come only
 * from the whitelist, never from the caller's keys: any other key is refused.
 */
function setFields(updates: AccountUpdate): [UpdatableAccountField, unknown][] {
  const set: [UpdatableAccountField, unknown][] = [];
  for (const [key, value] of Object.entries(updates)) {
    if (value === undefined) continue;
    if (!UPDATABLE.has(key)) throw new TypeError(`client_accounts.${key} is not updatable`);
    set.push([key as UpdatableAccountField, value]);
  }
  return set;
}

const QUALIFIED_COLUMNS = COLUMNS.split(',')
  .map((column) => `c.${column.trim()}`)
  .join(', ');

/**
 * Many accounts' updates of one set of columns in one statement: the rows go as one JSON list
 * (one parameter, so PostgreSQL keeps one plan for any number of them), prepared per set. The
 * ids are also read out of the list into an array for the primary key: joined on the recordset
 * alone, the plan guessed 100 rows and read the whole table (a 5,000-account sweep's updates took
 * 0.66 ms a row where one row's own update takes 0.31).
 */
const updateManyStatements = new Map<string, PreparedStatement>();
function updateManyStatement(fields: readonly UpdatableAccountField[]): PreparedStatement {
  const signature = fields.join(',');
  let statement = updateManyStatements.get(signature);
  if (!statement) {
    const columns = fields.map((field) => pgp.as.name(COLUMN_OF[field]));
    statement = new PreparedStatement({
      name: `accounts-update-many-${updateManyStatements.size + 1}`,
      text: `UPDATE client_accounts c SET ${columns.map((c) => `${c} = r.${c}`).join(', ')}
             FROM jsonb_to_recordset($1::jsonb)
               AS r(id uuid, ${fields.map((f, i) => `${columns[i]} ${SQL_TYPE_OF[f]}`).join(', ')})
             WHERE c.id = r.id
               AND c.id = ANY (ARRAY(SELECT (e ->> 'id')::uuid FROM jsonb_array_elements($1::jsonb) e))
             RETURNING ${QUALIFIED_COLUMNS}`,
    });
    updateManyStatements.set(signature, statement);
  }
  return statement;
}

const findById = new PreparedStatement({
  name: 'accounts-find-by-id',
  text: `SELECT ${COLUMNS} FROM client_accounts WHERE id = $1`,
});
// GET /instagram/accounts/:id: the account and the caller's current account in one round trip.
const findByIdWithCurrent = new PreparedStatement({
  name: 'accounts-find-by-id-with-current',
  text: `SELECT ${COLUMNS}, ${currentAccountIdSql(2)} AS current_id FROM client_accounts WHERE id = $1`,
});
// The hot path of GET /instagram/accounts: one index range scan on (user_id, created_at, id) for
// the page, the user's total and their current account in one statement. The count (an
// index-only scan of the same index) always yields its one row, and the page joins it, so an empty
// page still says the total. One statement where there were two: each costs a socket write and
// read here and a bind-execute in PostgreSQL.
const PAGE_COLUMNS = `${COLUMNS}, ${CURSOR_COLUMN}`;
const listFirstPageWithTotal = new PreparedStatement({
  name: 'accounts-list-first-total',
  text: `SELECT t.total, t.current_id, p.* FROM
           (SELECT count(*)::int AS total, ${currentAccountIdSql(1)} AS current_id
              FROM client_accounts WHERE user_id = $1) t
         LEFT JOIN LATERAL (
           SELECT ${PAGE_COLUMNS} FROM client_accounts
           WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2
         ) p ON true`,
});
const listNextPageWithTotal = new PreparedStatement({
  name: 'accounts-list-next-total',
  text: `SELECT t.total, t.current_id, p.* FROM
           (SELECT count(*)::int AS total, ${currentAccountIdSql(1)} AS current_id
              FROM client_accounts WHERE user_id = $1) t
         LEFT JOIN LATERAL (
           SELECT ${PAGE_COLUMNS} FROM client_accounts
           WHERE user_id = $1 AND (created_at, id) < ($3::timestamptz, $4::uuid)
           ORDER BY created_at DESC, id DESC LIMIT $2
         ) p ON true`,
});

// Metadata dates are JSON.stringify'd Dates; anything else reads as "no date" instead of
// failing the whole query on a cast.
const metadataTime = (path: string) =>
  `CASE WHEN metadata #>> '{${path}}' ~ '^\\d{4}-\\d{2}-\\d{2}T[0-9:.]+Z$'
     THEN (metadata #>> '{${path}}')::timestamptz END`;
// The last attempt, successful or not: a failing account is retried daily, not every sweep.
// last_attempt_at and rate_limited_until are stored generated columns (migration 013) over
// last_sync_at and metadata; an account never tried has -infinity, so it comes first.
const SWEPT = `status IN ('active', 'rate_limited', 'error')
  AND NOT COALESCE(rate_limited_until > now(), false)`;
// Two index range scans, each stopping at the batch, merged in order as they stream: stale
// accounts by their last attempt, answered from idx_client_accounts_sync_due_covering alone, and
// those whose picture link is about to stop working (idx_client_accounts_picture_expiry), not
// tried for a while. One condition with an OR between the two reasons could only be answered by
// reading every account; UNION rather than UNION ALL would hash and sort the whole batch (8 ms
// at 5,000), so an account due for both reasons comes twice and findDueForSync keeps one.
const findDueForSync = new PreparedStatement({
  name: 'accounts-due-for-sync',
  text: `SELECT id FROM (
           (SELECT id, last_attempt_at FROM client_accounts
             WHERE ${SWEPT} AND last_attempt_at < now() - make_interval(hours => $1)
             ORDER BY last_attempt_at, id LIMIT $4)
           UNION ALL
           (SELECT id, last_attempt_at FROM client_accounts
             WHERE ${SWEPT}
               AND account_metadata_time(metadata, '{profilePictureExpiresAt}') < now() + make_interval(hours => $2)
               AND last_attempt_at < now() - make_interval(hours => $3)
             ORDER BY last_attempt_at, id LIMIT $4)
         ) due
         ORDER BY last_attempt_at, id
         LIMIT $4`,
});

const DATE_METADATA_KEYS = [
  'lastMetadataUpdate',
  'rateLimitedUntil',
  'profilePictureExpiresAt',
] as const;

const NESTED_DATE_KEYS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['picture', ['sourceExpiresAt', 'fetchedAt']],
  ['pictureError', ['at']],
  ['tokenRefresh', ['tokenExpiresAt', 'lastRefreshAt', 'nextAttemptAt']],
];

function toMetadata(raw: Record<string, unknown> | null): AccountMetadata {
  const metadata = { ...(raw ?? {}) } as Record<string, unknown>;
  for (const key of DATE_METADATA_KEYS) {
    if (typeof metadata[key] === 'string') metadata[key] = new Date(metadata[key]);
  }
  const details = metadata.errorDetails as Record<string, unknown> | undefined;
  if (details && typeof details.timestamp === 'string') {
    metadata.errorDetails = { ...details, timestamp: new Date(details.timestamp) };
  }
  for (const [key, dates] of NESTED_DATE_KEYS) {
    const nested = metadata[key];
    if (typeof nested !== 'object' || nested === null) continue;
    const copy = { ...(nested as Record<string, unknown>) };
    for (const date of dates) if (typeof copy[date] === 'string') copy[date] = new Date(copy[date]);
    metadata[key] = copy;
  }
  const refresh = metadata.tokenRefresh as Record<string, unknown> | undefined;
  if (typeof refresh === 'object' && refresh !== null) {
    const lastError = refresh.lastError as Record<string, unknown> | undefined;
    if (lastError && typeof lastError.at === 'string') {
      refresh.lastError = { ...lastError, at: new Date(lastError.at) };
    }
    if (!Array.isArray(refresh.warnedDays)) refresh.warnedDays = [];
    if (typeof refresh.attempts !== 'number') refresh.attempts = 0;
  }
  return metadata;
}

const optional = <T>(value: T | null): T | undefined => (value === null ? undefined : value);

function toAccount(row: AccountRow): ClientAccount {
  return {
    id: row.id,
    userId: row.user_id,
    platform: row.platform as SocialPlatform,
    platformAccountId: row.platform_account_id,
    username: row.username,
    displayName: optional(row.display_name),
    profilePictureUrl: optional(row.profile_picture_url),
    followerCount: optional(row.follower_count),
    followingCount: optional(row.following_count),
    mediaCount: optional(row.media_count),
    biography: optional(row.biography),
    website: optional(row.website),
    status: row.status as AccountStatus,
    accountType: row.account_type as InstagramAccountType,
    metadata: toMetadata(row.metadata),
    permissions: Array.isArray(row.permissions) ? row.permissions : [],
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    lastSyncAt: optional(row.last_sync_at),
    tokenExpiresAt: optional(row.token_expires_at),
  };
}

const MAX_EXPIRY_WINDOW_HOURS = 24 * 365;
const MAX_REFRESH_BATCH = 10_000;

function checkExpiryWindow(hours: number): void {
  if (!Number.isInteger(hours) || hours < 1 || hours > MAX_EXPIRY_WINDOW_HOURS) {
    throw new RangeError(`hours must be an integer from 1 to ${MAX_EXPIRY_WINDOW_HOURS}`);
  }
}

// The statuses a refresh can still help: the token works, the account only waits for a good sync.
// A token backing off after a failed refresh is left out until its next attempt, unless it is
// close enough to its expiry ($4) that the sweep owes it a warning, or already past it.
const findRefreshable = new PreparedStatement({
  name: 'accounts-find-refreshable',
  text: `SELECT ${COLUMNS} FROM client_accounts
         WHERE token_expires_at IS NOT NULL
           AND token_expires_at < $3::timestamptz + make_interval(hours => $1)
           AND status IN ('active', 'rate_limited', 'error')
           AND (NOT COALESCE(${metadataTime('tokenRefresh,nextAttemptAt')} > $3::timestamptz, false)
             OR token_expires_at < $3::timestamptz + make_interval(hours => $4))
         ORDER BY token_expires_at, id
         LIMIT $2`,
});

// Expiring soon, per user: the token still works (expired and disconnected accounts need a
// reconnect, which the list already says), soonest first. The user index narrows to the user's
// rows; a person's accounts are few enough to filter and sort.
const EXPIRING_WHERE = `user_id = $1 AND status IN ('active', 'rate_limited', 'error')
  AND token_expires_at > $2 AND token_expires_at <= $3`;
const EXPIRY_CURSOR = `to_char(token_expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS cursor_expires_at`;
const listExpiringFirst = new PreparedStatement({
  name: 'accounts-expiring-first',
  text: `SELECT ${COLUMNS}, ${EXPIRY_CURSOR} FROM client_accounts WHERE ${EXPIRING_WHERE}
         ORDER BY token_expires_at, id LIMIT $4`,
});
const listExpiringNext = new PreparedStatement({
  name: 'accounts-expiring-next',
  text: `SELECT ${COLUMNS}, ${EXPIRY_CURSOR} FROM client_accounts WHERE ${EXPIRING_WHERE}
           AND (token_expires_at, id) > ($5::timestamptz, $6::uuid)
         ORDER BY token_expires_at, id LIMIT $4`,
});
const countExpiring = new PreparedStatement({
  name: 'accounts-expiring-count',
  text: `SELECT count(*)::int AS count FROM client_accounts WHERE ${EXPIRING_WHERE}`,
});

@Injectable()
export class PostgresClientAccountRepository
  implements IClientAccountRepository, IExpiringAccountRepository
{
  constructor(@Inject(PG) private readonly db: Db) {}

  async create(account: Partial<ClientAccount>, tx: Queryable = this.db): Promise<ClientAccount> {
    if (!account.userId || !account.platformAccountId || !account.username) {
      throw new TypeError('create needs userId, platformAccountId and username');
    }
    const row = await tx.one<AccountRow>(
      `INSERT INTO client_accounts (
         user_id, platform, platform_account_id, username, display_name, profile_picture_url,
         follower_count, following_count, media_count, biography, website, status, account_type,
         metadata, permissions, token_expires_at
       ) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb, $15::jsonb, $16)
       RETURNING ${COLUMNS}`,
      [
        account.userId,
        account.platform ?? SocialPlatform.INSTAGRAM,
        account.platformAccountId,
        account.username,
        account.displayName ?? null,
        account.profilePictureUrl ?? null,
        account.followerCount ?? 0,
        account.followingCount ?? 0,
        account.mediaCount ?? 0,
        account.biography ?? null,
        account.website ?? null,
        account.status ?? AccountStatus.ACTIVE,
        account.accountType ?? InstagramAccountType.PERSONAL,
        JSON.stringify(account.metadata ?? {}),
        JSON.stringify(account.permissions ?? []),
        account.tokenExpiresAt ?? null,
      ],
    );
    return toAccount(row);
  }

  async findById(id: string, tx: Queryable = this.db): Promise<ClientAccount | null> {
    const row = await tx.oneOrNone<AccountRow>(findById, [id]);
    return row ? toAccount(row) : null;
  }

  async findByIdWithCurrent(
    id: string,
    userId: string,
  ): Promise<{ account: ClientAccount; currentId: string | null } | null> {
    const row = await this.db.oneOrNone<AccountRow & { current_id: string | null }>(
      findByIdWithCurrent,
      [id, userId],
    );
    return row ? { account: toAccount(row), currentId: row.current_id } : null;
  }

  async findByIdForUpdate(id: string, tx: Queryable): Promise<ClientAccount | null> {
    const row = await tx.oneOrNone<AccountRow>(findByIdForUpdate, [id]);
    return row ? toAccount(row) : null;
  }

  async findByIdsForUpdate(ids: readonly string[], tx: Queryable): Promise<ClientAccount[]> {
    if (ids.length === 0) return [];
    const rows = await tx.manyOrNone<AccountRow>(findByIdsForUpdate, [ids]);
    return rows.map(toAccount);
  }

  async updateMany(
    updates: readonly { id: string; changes: AccountUpdate }[],
    tx: Queryable,
  ): Promise<ClientAccount[]> {
    // One row per account: UPDATE … FROM would apply only one of two rows for the same id.
    if (new Set(updates.map((u) => u.id)).size !== updates.length) {
      throw new TypeError('updateMany takes each account once');
    }
    const groups = new Map<string, { fields: UpdatableAccountField[]; rows: object[] }>();
    for (const { id, changes } of updates) {
      const fields: UpdatableAccountField[] = [];
      const row: Record<string, unknown> = { id };
      for (const [field, value] of setFields(changes)) {
        fields.push(field);
        row[COLUMN_OF[field]] = value;
      }
      if (fields.length === 0) throw new TypeError('updateMany needs something to write');
      fields.sort();
      const signature = fields.join(',');
      const group = groups.get(signature) ?? { fields, rows: [] };
      group.rows.push(row);
      groups.set(signature, group);
    }
    const written: ClientAccount[] = [];
    for (const { fields, rows } of groups.values()) {
      const returned = await tx.manyOrNone<AccountRow>(updateManyStatement(fields), [
        JSON.stringify(rows),
      ]);
      written.push(...returned.map(toAccount));
    }
    return written;
  }

  async findByUserId(userId: string): Promise<ClientAccount[]> {
    const rows = await this.db.manyOrNone<AccountRow>(
      `SELECT ${COLUMNS} FROM client_accounts WHERE user_id = $1 ORDER BY created_at DESC, id DESC`,
      [userId],
    );
    return rows.map(toAccount);
  }

  async findByPlatformAccountId(
    platform: string,
    platformAccountId: string,
  ): Promise<ClientAccount | null> {
    const row = await this.db.oneOrNone<AccountRow>(
      `SELECT ${COLUMNS} FROM client_accounts WHERE platform = $1 AND platform_account_id = $2`,
      [platform, platformAccountId],
    );
    return row ? toAccount(row) : null;
  }

  async update(
    id: string,
    updates: AccountUpdate,
    tx: Queryable = this.db,
  ): Promise<ClientAccount | null> {
    const assignments: string[] = [];
    const values: unknown[] = [id];
    for (const [field, value] of setFields(updates)) {
      values.push(JSON_FIELDS.has(field) && value !== null ? JSON.stringify(value) : value);
      assignments.push(
        `${pgp.as.name(COLUMN_OF[field])} = $${values.length}${JSON_FIELDS.has(field) ? '::jsonb' : ''}`,
      );
    }
    if (assignments.length === 0) return this.findById(id, tx);
    const row = await tx.oneOrNone<AccountRow>(updateStatement(assignments.join(', ')), values);
    return row ? toAccount(row) : null;
  }

  async delete(id: string, tx: Queryable = this.db): Promise<void> {
    await tx.none('DELETE FROM client_accounts WHERE id = $1', [id]);
  }

  async updateStatus(id: string, status: AccountStatus, tx: Queryable = this.db): Promise<void> {
    await tx.none('UPDATE client_accounts SET status = $2 WHERE id = $1', [id, status]);
  }

  async updateMetadata(
    id: string,
    metadata: AccountMetadata,
    tx: Queryable = this.db,
  ): Promise<void> {
    await tx.none(
      'UPDATE client_accounts SET metadata = $2::jsonb, last_sync_at = NOW() WHERE id = $1',
      [id, JSON.stringify(metadata)],
    );
  }

  async findExpiringSoon(hours: number): Promise<ClientAccount[]> {
    checkExpiryWindow(hours);
    const rows = await this.db.manyOrNone<AccountRow>(
      `SELECT ${COLUMNS} FROM client_accounts
       WHERE token_expires_at IS NOT NULL
         AND token_expires_at < NOW() + make_interval(hours => $1)
         AND status = 'active'
       ORDER BY token_expires_at`,
      [hours],
    );
    return rows.map(toAccount);
  }

  async findRefreshable(
    hours: number,
    limit: number,
    options: { now?: Date; revisitWithinHours?: number } = {},
  ): Promise<ClientAccount[]> {
    checkExpiryWindow(hours);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_REFRESH_BATCH) {
      throw new RangeError(`limit must be an integer from 1 to ${MAX_REFRESH_BATCH}`);
    }
    const revisit = options.revisitWithinHours ?? 0;
    if (revisit !== 0) checkExpiryWindow(revisit);
    const rows = await this.db.manyOrNone<AccountRow>(findRefreshable, [
      hours,
      limit,
      options.now ?? new Date(),
      revisit,
    ]);
    return rows.map(toAccount);
  }

  async listIds(options: { userId?: string; afterId?: string; limit: number }): Promise<string[]> {
    const { limit } = options;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_REFRESH_BATCH) {
      throw new RangeError(`limit must be an integer from 1 to ${MAX_REFRESH_BATCH}`);
    }
    const rows = await this.db.manyOrNone<{ id: string }>(
      `SELECT id FROM client_accounts
       WHERE ($1::uuid IS NULL OR user_id = $1) AND ($2::uuid IS NULL OR id > $2)
       ORDER BY id LIMIT $3`,
      [options.userId ?? null, options.afterId ?? null, limit],
    );
    return rows.map((r) => r.id);
  }

  async listPageWithTotal(
    userId: string,
    limit: number,
    after: AccountPageCursor | null,
  ): Promise<AccountPage & { total: number; currentId: string | null }> {
    type Row = { total: number; current_id: string | null } & (
      (AccountRow & { cursor_created_at: string }) | { [K in keyof AccountRow]: null }
    );
    const joined = after
      ? await this.db.many<Row>(listNextPageWithTotal, [
          userId,
          limit + 1,
          after.createdAt,
          after.id,
        ])
      : await this.db.many<Row>(listFirstPageWithTotal, [userId, limit + 1]);
    const rows = joined.filter(
      (r): r is Row & AccountRow & { cursor_created_at: string } => r.id !== null,
    );
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      accounts: page.map(toAccount),
      total: joined[0]!.total,
      currentId: joined[0]!.current_id,
      next: rows.length > limit && last ? { createdAt: last.cursor_created_at, id: last.id } : null,
    };
  }

  async listExpiringByUserId(
    userId: string,
    window: { from: Date; to: Date },
    limit: number,
    after: AccountPageCursor | null,
  ): Promise<AccountPage & { total: number }> {
    const base = [userId, window.from, window.to];
    const [rows, counted] = await Promise.all([
      after
        ? this.db.manyOrNone<AccountRow & { cursor_expires_at: string }>(listExpiringNext, [
            ...base,
            limit + 1,
            after.createdAt,
            after.id,
          ])
        : this.db.manyOrNone<AccountRow & { cursor_expires_at: string }>(listExpiringFirst, [
            ...base,
            limit + 1,
          ]),
      this.db.one<{ count: number }>(countExpiring, base),
    ]);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return {
      accounts: page.map(toAccount),
      total: counted.count,
      next: rows.length > limit && last ? { createdAt: last.cursor_expires_at, id: last.id } : null,
    };
  }

  async upsertConnected(
    input: ConnectAccountInput,
    tx: Queryable = this.db,
  ): Promise<ConnectOutcome> {
    // The CTE reads the row as it was before this statement, for the reconnect event. The
    // conflict branch only fires for the caller's own row: another user's account is untouched
    // and no row comes back. A reconnect clears the error and rate-limit marks of the old token,
    // its failure count and its refresh history (the new token starts clean).
    const row = await tx.oneOrNone<
      AccountRow & { inserted: boolean; previous_status: string | null }
    >(
      `WITH previous AS (
         SELECT status FROM client_accounts WHERE platform = 'instagram' AND platform_account_id = $2
       )
       INSERT INTO client_accounts AS a (
         user_id, platform, platform_account_id, username, display_name, profile_picture_url,
         follower_count, following_count, media_count, biography, website, status, account_type,
         metadata, permissions, token_expires_at
       ) VALUES ($1, 'instagram', $2, $3, $4, $5, $6, $7, $8, $9, $10, 'active', $11, $12::jsonb, $13::jsonb, $14)
       ON CONFLICT (platform, platform_account_id) DO UPDATE SET
         username = EXCLUDED.username,
         display_name = COALESCE(EXCLUDED.display_name, a.display_name),
         profile_picture_url = COALESCE(EXCLUDED.profile_picture_url, a.profile_picture_url),
         follower_count = COALESCE(EXCLUDED.follower_count, a.follower_count),
         following_count = COALESCE(EXCLUDED.following_count, a.following_count),
         media_count = COALESCE(EXCLUDED.media_count, a.media_count),
         biography = COALESCE(EXCLUDED.biography, a.biography),
         website = COALESCE(EXCLUDED.website, a.website),
         status = 'active',
         account_type = EXCLUDED.account_type,
         metadata = (a.metadata - 'errorDetails' - 'rateLimitedUntil' - 'transientFailures'
                     - 'tokenRefresh') || EXCLUDED.metadata,
         permissions = EXCLUDED.permissions,
         token_expires_at = EXCLUDED.token_expires_at
       WHERE a.user_id = EXCLUDED.user_id
       RETURNING ${COLUMNS.split(',')
         .map((c) => `a.${c.trim()}`)
         .join(', ')},
         (xmax = 0) AS inserted, (SELECT status FROM previous) AS previous_status`,
      [
        input.userId,
        input.platformAccountId,
        input.username,
        input.displayName ?? null,
        input.profilePictureUrl ?? null,
        input.followerCount ?? null,
        input.followingCount ?? null,
        input.mediaCount ?? null,
        input.biography ?? null,
        input.website ?? null,
        input.accountType,
        JSON.stringify(input.metadata),
        JSON.stringify(input.permissions),
        input.tokenExpiresAt,
      ],
    );
    if (!row) return { outcome: 'owned_by_other' };
    const account = toAccount(row);
    if (row.inserted) return { outcome: 'created', account };
    return {
      outcome: 'reconnected',
      account,
      previousStatus: (row.previous_status ?? AccountStatus.ACTIVE) as AccountStatus,
    };
  }

  async findByInstagramUserId(
    instagramUserId: string,
    tx: Queryable = this.db,
  ): Promise<ClientAccount[]> {
    const rows = await tx.manyOrNone<AccountRow>(
      `SELECT ${COLUMNS} FROM client_accounts
       WHERE platform = 'instagram'
         AND (platform_account_id = $1 OR metadata ->> 'igId' = $1)`,
      [instagramUserId],
    );
    return rows.map(toAccount);
  }

  async findDueForSync(options: {
    staleHours: number;
    pictureWithinHours: number;
    pictureMinGapHours: number;
    limit: number;
  }): Promise<string[]> {
    const rows = await this.db.manyOrNone<{ id: string }>(findDueForSync, [
      options.staleHours,
      options.pictureWithinHours,
      options.pictureMinGapHours,
      options.limit,
    ]);
    // An account due for both reasons comes once from each range scan, next to itself.
    return [...new Set(rows.map((r) => r.id))];
  }

  async recordMetricSnapshot(account: ClientAccount, tx: Queryable = this.db): Promise<void> {
    await tx.none(
      `INSERT INTO account_metric_snapshots (account_id, follower_count, following_count, media_count)
       VALUES ($1, $2, $3, $4)`,
      [
        account.id,
        account.followerCount ?? null,
        account.followingCount ?? null,
        account.mediaCount ?? null,
      ],
    );
  }
}
