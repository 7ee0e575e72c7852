-- Up Migration

-- The spec's table, with architecture.md's corrections: TIMESTAMPTZ throughout, one foreign key
-- (the spec declared it twice), no index duplicating the unique constraint's own index, NOT NULL
-- where a default exists, CHECKs on the enumerations, and the user index extended with the list
-- order so keyset pagination reads it directly.
CREATE TABLE client_accounts (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID NOT NULL,
  platform VARCHAR(50) NOT NULL,
  platform_account_id VARCHAR(255) NOT NULL,
  username VARCHAR(255) NOT NULL,
  display_name VARCHAR(255),
  profile_picture_url TEXT,
  follower_count INTEGER DEFAULT 0,
  following_count INTEGER DEFAULT 0,
  media_count INTEGER DEFAULT 0,
  biography TEXT,
  website VARCHAR(500),
  status VARCHAR(50) NOT NULL DEFAULT 'active',
  account_type VARCHAR(50) NOT NULL DEFAULT 'personal',
  metadata JSONB NOT NULL DEFAULT '{}',
  permissions JSONB NOT NULL DEFAULT '[]',
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  last_sync_at TIMESTAMPTZ,
  token_expires_at TIMESTAMPTZ,

  CONSTRAINT unique_platform_account UNIQUE (platform, platform_account_id),
  CONSTRAINT fk_user FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
  CONSTRAINT client_accounts_platform_check CHECK (platform IN ('instagram', 'whatsapp')),
  CONSTRAINT client_accounts_status_check
    CHECK (status IN ('active', 'token_expired', 'disconnected', 'rate_limited', 'error')),
  CONSTRAINT client_accounts_account_type_check
    CHECK (account_type IN ('personal', 'business', 'creator')),
  CONSTRAINT client_accounts_counts_check
    CHECK (follower_count >= 0 AND following_count >= 0 AND media_count >= 0),
  CONSTRAINT client_accounts_metadata_object_check CHECK (jsonb_typeof(metadata) = 'object'),
  CONSTRAINT client_accounts_permissions_array_check CHECK (jsonb_typeof(permissions) = 'array')
);

CREATE INDEX idx_client_accounts_user_id ON client_accounts (user_id, created_at DESC, id DESC);
CREATE INDEX idx_client_accounts_platform ON client_accounts (platform);
CREATE INDEX idx_client_accounts_status ON client_accounts (status);
CREATE INDEX idx_client_accounts_token_expires ON client_accounts (token_expires_at);

CREATE OR REPLACE FUNCTION update_updated_at_column()
RETURNS TRIGGER AS $$
BEGIN
  NEW.updated_at = NOW();
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER update_client_accounts_updated_at
  BEFORE UPDATE ON client_accounts
  FOR EACH ROW
  EXECUTE FUNCTION update_updated_at_column();

-- Down Migration

DROP TABLE client_accounts;
