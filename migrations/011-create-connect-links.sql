-- Up Migration

-- Connect links: an agency sends a client a public page that connects the client's Instagram
-- account into the agency's user. Only the SHA-256 of the link's token is stored, so the table
-- alone opens nothing. A link works once (used_at) and until it expires or is revoked; revoked and
-- used rows stay so the page can say which.
CREATE TABLE connect_links (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID NOT NULL,
  token_hash BYTEA NOT NULL,
  label VARCHAR(100),
  -- A reconnect link names its account and accepts only that Instagram account; NULL for a
  -- connect link. Removing the account removes its reconnect links (they could only be refused).
  account_id UUID,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  expires_at TIMESTAMPTZ NOT NULL,
  -- Held while one callback is connecting through the link, so a second browser cannot use it at
  -- the same time; a crashed process's claim lapses by itself.
  claimed_until TIMESTAMPTZ,
  used_at TIMESTAMPTZ,
  used_account_id UUID,
  revoked_at TIMESTAMPTZ,
  CONSTRAINT connect_links_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
  CONSTRAINT connect_links_account_fk
    FOREIGN KEY (account_id) REFERENCES client_accounts (id) ON DELETE CASCADE,
  CONSTRAINT connect_links_used_account_fk
    FOREIGN KEY (used_account_id) REFERENCES client_accounts (id) ON DELETE SET NULL,
  CONSTRAINT connect_links_token_hash_key UNIQUE (token_hash),
  CONSTRAINT connect_links_token_hash_length_check CHECK (octet_length(token_hash) = 32),
  CONSTRAINT connect_links_label_check CHECK (label IS NULL OR length(label) > 0),
  CONSTRAINT connect_links_expiry_check CHECK (expires_at > created_at)
);

-- The owner's list (newest first) and the count of open links behind the per-user cap.
CREATE INDEX connect_links_user_created_idx ON connect_links (user_id, created_at DESC, id DESC);
CREATE INDEX connect_links_account_id_idx ON connect_links (account_id) WHERE account_id IS NOT NULL;
CREATE INDEX connect_links_used_account_id_idx
  ON connect_links (used_account_id) WHERE used_account_id IS NOT NULL;

-- A state started from a link's page names the link: the callback then connects for the link's
-- owner only while the link is still open, and marks it used.
ALTER TABLE oauth_states
  ADD COLUMN connect_link_id UUID,
  ADD CONSTRAINT oauth_states_connect_link_fk
    FOREIGN KEY (connect_link_id) REFERENCES connect_links (id) ON DELETE CASCADE;

CREATE INDEX oauth_states_connect_link_id_idx
  ON oauth_states (connect_link_id) WHERE connect_link_id IS NOT NULL;

-- Down Migration

DROP INDEX oauth_states_connect_link_id_idx;
ALTER TABLE oauth_states DROP COLUMN connect_link_id;
DROP TABLE connect_links;
