-- Up Migration

-- A reconnect names the account it is for, so the callback can refuse a different Instagram
-- account instead of attaching it. NULL for a plain connect. Deleting the account deletes its
-- pending reconnects: the callback then refuses the state instead of recreating the account.
ALTER TABLE oauth_states
  ADD COLUMN account_id UUID,
  ADD CONSTRAINT oauth_states_account_fk
    FOREIGN KEY (account_id) REFERENCES client_accounts (id) ON DELETE CASCADE;

-- The cascade looks states up by account; only reconnects have one.
CREATE INDEX oauth_states_account_id_idx ON oauth_states (account_id) WHERE account_id IS NOT NULL;

-- Down Migration

DROP INDEX oauth_states_account_id_idx;
ALTER TABLE oauth_states DROP COLUMN account_id;
