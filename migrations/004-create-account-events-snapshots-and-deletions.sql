-- Up Migration

-- Append-only audit trail of every account: connects, syncs (with changed fields), status changes,
-- token refreshes, disconnects. The feed outgoing webhooks will read. account_id has no foreign
-- key on purpose: a deleted account's history (its disconnect event included) outlives it, until
-- the user row goes (cascade) or a data-deletion request erases it.
CREATE TABLE account_events (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  account_id UUID NOT NULL,
  user_id UUID NOT NULL,
  type VARCHAR(40) NOT NULL,
  data JSONB NOT NULL DEFAULT '{}',
  created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
  CONSTRAINT account_events_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
  CONSTRAINT account_events_type_check CHECK (type IN (
    'connected', 'reconnected', 'synced', 'status_changed', 'token_refreshed', 'updated', 'disconnected'
  )),
  CONSTRAINT account_events_data_object_check CHECK (jsonb_typeof(data) = 'object')
);

CREATE INDEX account_events_account_time_idx ON account_events (account_id, created_at DESC, id DESC);
CREATE INDEX account_events_user_id_idx ON account_events (user_id);

CREATE OR REPLACE FUNCTION account_events_append_only()
RETURNS TRIGGER AS $$
BEGIN
  RAISE EXCEPTION 'account_events is append-only';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER account_events_no_update
  BEFORE UPDATE ON account_events
  FOR EACH ROW
  EXECUTE FUNCTION account_events_append_only();

-- Follower / following / media counts at each successful sync: the history behind analytics.
CREATE TABLE account_metric_snapshots (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id UUID NOT NULL,
  follower_count INTEGER,
  following_count INTEGER,
  media_count INTEGER,
  captured_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  CONSTRAINT account_metric_snapshots_account_fk
    FOREIGN KEY (account_id) REFERENCES client_accounts (id) ON DELETE CASCADE
);

CREATE INDEX account_metric_snapshots_account_time_idx
  ON account_metric_snapshots (account_id, captured_at DESC);

-- Meta data-deletion callbacks: what was asked, and how far the deletion got.
CREATE TABLE data_deletion_requests (
  confirmation_code VARCHAR(64) PRIMARY KEY,
  instagram_user_id VARCHAR(64) NOT NULL,
  status VARCHAR(20) NOT NULL DEFAULT 'pending',
  accounts_deleted INTEGER NOT NULL DEFAULT 0,
  requested_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  completed_at TIMESTAMPTZ,
  CONSTRAINT data_deletion_requests_status_check CHECK (status IN ('pending', 'completed', 'failed'))
);

-- Meta's rate-limit budget as last reported (usage headers), shared by every worker process.
CREATE TABLE instagram_api_usage (
  scope VARCHAR(100) PRIMARY KEY,
  call_count INTEGER NOT NULL DEFAULT 0,
  total_time INTEGER NOT NULL DEFAULT 0,
  total_cputime INTEGER NOT NULL DEFAULT 0,
  regain_access_at TIMESTAMPTZ,
  observed_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);

-- Deauthorize and deletion callbacks name the person by the app-scoped id (metadata.igId).
CREATE INDEX idx_client_accounts_ig_id ON client_accounts ((metadata ->> 'igId'));

-- Down Migration

DROP INDEX idx_client_accounts_ig_id;
DROP TABLE instagram_api_usage;
DROP TABLE data_deletion_requests;
DROP TABLE account_metric_snapshots;
DROP TABLE account_events;
DROP FUNCTION account_events_append_only();
