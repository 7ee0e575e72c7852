-- Up Migration

-- The hourly sync sweep picks the accounts whose last attempt (the later of the last sync and the
-- last failure) is oldest. That value was an expression over metadata that no index could hold,
-- so every sweep read and sorted the whole table: 230 ms at 300,000 accounts, growing with it.
-- These functions give it a name an index can hold.
--
-- A metadata date as the service writes it (JSON.stringify of a Date: ISO 8601 with Z), else
-- NULL. IMMUTABLE is true for what passes the pattern: an explicit UTC offset leaves TimeZone
-- and DateStyle no say, and 'now'-like words do not match. (The cast itself is only STABLE,
-- which is also why PostgreSQL calls this function rather than inlining it, and why the
-- expressions below match the indexes.)
CREATE FUNCTION account_metadata_time(metadata JSONB, path TEXT[]) RETURNS TIMESTAMPTZ
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$
    SELECT CASE WHEN metadata #>> path ~ '^\d{4}-\d{2}-\d{2}T[0-9:.]+Z$'
      THEN (metadata #>> path)::timestamptz END
  $$;

-- The last attempt, never NULL: an account never tried sorts first, as NULLS FIRST had it. The
-- failure's date is spelled out rather than read through account_metadata_time: PostgreSQL 17
-- and later build indexes with only pg_catalog on the search path, where that name is unknown.
CREATE FUNCTION account_last_attempt(last_sync_at TIMESTAMPTZ, metadata JSONB) RETURNS TIMESTAMPTZ
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$
    SELECT COALESCE(
      GREATEST(last_sync_at,
        CASE WHEN metadata #>> '{errorDetails,timestamp}' ~ '^\d{4}-\d{2}-\d{2}T[0-9:.]+Z$'
          THEN (metadata #>> '{errorDetails,timestamp}')::timestamptz END),
      '-infinity'::timestamptz)
  $$;

-- Oldest attempt first: the sweep reads the index in order and stops at its batch, or where the
-- accounts stop being stale. Not partial (by status): the planner reads the statistics of an
-- expression only from a whole-table index, and without them it guesses that a third of the
-- table matches either condition and picks the wrong one of the two.
CREATE INDEX idx_client_accounts_sync_due
  ON client_accounts (account_last_attempt(last_sync_at, metadata), id);

-- The sweep's other reason: a profile picture link about to stop working.
CREATE INDEX idx_client_accounts_picture_expiry
  ON client_accounts (account_metadata_time(metadata, '{profilePictureExpiresAt}'));

-- Down Migration

DROP INDEX idx_client_accounts_picture_expiry;
DROP INDEX idx_client_accounts_sync_due;
DROP FUNCTION account_last_attempt(TIMESTAMPTZ, JSONB);
DROP FUNCTION account_metadata_time(JSONB, TEXT[]);
