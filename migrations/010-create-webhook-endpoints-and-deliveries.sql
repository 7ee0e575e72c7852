-- Up Migration

-- Outgoing webhooks. An endpoint is a URL a user registered, the events it wants, and the secret
-- its deliveries are signed with. The secret must be recoverable (HMAC needs it), so it is sealed
-- like the Instagram tokens: AES-256-GCM under the token key ring, the endpoint id bound in as
-- associated data.
CREATE TABLE webhook_endpoints (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  user_id UUID NOT NULL,
  url VARCHAR(2048) NOT NULL,
  events TEXT[] NOT NULL,
  description VARCHAR(500),
  secret_ciphertext BYTEA NOT NULL,
  secret_iv BYTEA NOT NULL,
  secret_auth_tag BYTEA NOT NULL,
  secret_key_version INTEGER NOT NULL,
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  CONSTRAINT webhook_endpoints_user_fk FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
  CONSTRAINT webhook_endpoints_events_check CHECK (cardinality(events) BETWEEN 1 AND 20)
);

-- The fan-out looks endpoints up by user for every appended account event; the list pages by it.
CREATE INDEX webhook_endpoints_user_idx ON webhook_endpoints (user_id, created_at, id);

-- One row per (endpoint, event): the delivery log and the queue's truth. Jobs only say "drain this
-- (endpoint, account) pair"; which deliveries are due, in which order, and how often they were
-- tried is here, so a lost or duplicated job loses or duplicates nothing.
--
-- `event_id` is what X-Ssell-Delivery carries (the same on every retry): the account event's id,
-- or a fresh id for a ping. `stream` orders deliveries per account (pings have their own, the
-- nil UUID). `payload` is the exact body sent, built in the event's transaction so it shows the
-- account as the event left it (a deleted account has no row to read later).
CREATE TABLE webhook_deliveries (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  seq BIGINT GENERATED ALWAYS AS IDENTITY,
  endpoint_id UUID NOT NULL,
  event_id UUID NOT NULL,
  account_event_id UUID,
  account_id UUID,
  stream UUID GENERATED ALWAYS AS (
    COALESCE(account_id, '00000000-0000-0000-0000-000000000000'::uuid)
  ) STORED,
  event_type VARCHAR(40) NOT NULL,
  payload TEXT NOT NULL,
  status VARCHAR(10) NOT NULL DEFAULT 'pending',
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
  lease_until TIMESTAMPTZ,
  first_attempt_at TIMESTAMPTZ,
  last_attempt_at TIMESTAMPTZ,
  last_status_code INTEGER,
  last_error VARCHAR(200),
  created_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
  delivered_at TIMESTAMPTZ,
  CONSTRAINT webhook_deliveries_endpoint_fk
    FOREIGN KEY (endpoint_id) REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
  -- A data-deletion request erases the account's events; their deliveries (payloads with the
  -- account's profile) go with them.
  CONSTRAINT webhook_deliveries_account_event_fk
    FOREIGN KEY (account_event_id) REFERENCES account_events (id) ON DELETE CASCADE,
  CONSTRAINT webhook_deliveries_event_unique UNIQUE (endpoint_id, event_id),
  CONSTRAINT webhook_deliveries_seq_unique UNIQUE (seq),
  CONSTRAINT webhook_deliveries_status_check CHECK (status IN ('pending', 'delivered', 'failed')),
  CONSTRAINT webhook_deliveries_event_id_check CHECK (
    account_event_id IS NULL OR account_event_id = event_id
  )
);

-- The head of each (endpoint, account) queue: the drain's one lookup.
CREATE INDEX webhook_deliveries_pending_idx
  ON webhook_deliveries (endpoint_id, stream, seq) WHERE status = 'pending';
-- The periodic sweep: pending deliveries that are due, whatever their pair.
CREATE INDEX webhook_deliveries_due_idx
  ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
-- GET /webhooks/:id/deliveries, newest first.
CREATE INDEX webhook_deliveries_log_idx
  ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);
CREATE INDEX webhook_deliveries_account_event_idx
  ON webhook_deliveries (account_event_id) WHERE account_event_id IS NOT NULL;

-- Down Migration

DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
