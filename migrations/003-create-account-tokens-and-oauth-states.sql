-- Up Migration

-- Tokens never live in client_accounts, so no query of accounts can leak one. Only the token vault
-- reads or writes this table.
CREATE TABLE account_tokens (
  account_id UUID PRIMARY KEY,
  -- AES-256-GCM of the access token, with the account id as additional authenticated data.
  ciphertext BYTEA NOT NULL,
  iv BYTEA NOT NULL,
  auth_tag BYTEA NOT NULL,
  key_version INTEGER NOT NULL,
  token_type VARCHAR(20) NOT NULL DEFAULT 'long_lived',
  issued_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  expires_at TIMESTAMPTZ,
  last_refreshed_at TIMESTAMPTZ,
  scopes JSONB NOT NULL DEFAULT '[]',
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  CONSTRAINT account_tokens_account_fk
    FOREIGN KEY (account_id) REFERENCES client_accounts (id) ON DELETE CASCADE,
  CONSTRAINT account_tokens_iv_length_check CHECK (octet_length(iv) = 12),
  CONSTRAINT account_tokens_tag_length_check CHECK (octet_length(auth_tag) = 16),
  CONSTRAINT account_tokens_scopes_array_check CHECK (jsonb_typeof(scopes) = 'array')
);

-- Rotation walks the rows still on an old key.
CREATE INDEX account_tokens_key_version_idx ON account_tokens (key_version);
CREATE INDEX account_tokens_expires_at_idx ON account_tokens (expires_at);

CREATE TRIGGER update_account_tokens_updated_at
  BEFORE UPDATE ON account_tokens
  FOR EACH ROW
  EXECUTE FUNCTION update_updated_at_column();

-- OAuth `state` values: single use, bound to the user who started the connect, 10 minutes.
CREATE TABLE oauth_states (
  state_hash BYTEA PRIMARY KEY,
  user_id UUID NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  expires_at TIMESTAMPTZ NOT NULL,
  CONSTRAINT oauth_states_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE
);

CREATE INDEX oauth_states_user_id_idx ON oauth_states (user_id);
CREATE INDEX oauth_states_expires_at_idx ON oauth_states (expires_at);

-- Down Migration

DROP TABLE oauth_states;
DROP TABLE account_tokens;
