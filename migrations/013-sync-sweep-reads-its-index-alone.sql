-- Up Migration

-- The sync sweep read its index in order (migration 012) but still went to the table for every
-- row: to check the status and the rate limit, and to compute the last attempt for the order, two
-- SQL function calls a row. With a full batch due (5,000 accounts not synced for a day) that was
-- 60-70 ms at 300,000 accounts. Stored generated columns keep both values on the row, always in
-- step with what they are computed from, and an index that carries all the sweep reads answers it
-- from the index alone: 2.7 ms for the same batch.
--
-- Adding them rewrites the table once (6 s at 300,000 accounts, under an exclusive lock).
ALTER TABLE client_accounts
  ADD COLUMN last_attempt_at TIMESTAMPTZ
    GENERATED ALWAYS AS (account_last_attempt(last_sync_at, metadata)) STORED,
  ADD COLUMN rate_limited_until TIMESTAMPTZ
    GENERATED ALWAYS AS (account_metadata_time(metadata, '{rateLimitedUntil}')) STORED;

CREATE INDEX idx_client_accounts_sync_due_covering
  ON client_accounts (last_attempt_at, id) INCLUDE (status, rate_limited_until);

DROP INDEX idx_client_accounts_sync_due;

-- Down Migration

CREATE INDEX idx_client_accounts_sync_due
  ON client_accounts (account_last_attempt(last_sync_at, metadata), id);
DROP INDEX idx_client_accounts_sync_due_covering;
ALTER TABLE client_accounts DROP COLUMN last_attempt_at, DROP COLUMN rate_limited_until;
