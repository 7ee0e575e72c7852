-- Up Migration

-- account_events is the outbox outgoing webhooks read: every event a person or a system must hear
-- about is one row, written in the transaction of the change that causes it. Three kinds join it:
-- a warning that a token will lapse before it can be refreshed, the moment an account needs its
-- owner to reconnect (once until it recovers, so a flapping account does not flood), and the
-- return to `active` from any other status.
ALTER TABLE account_events DROP CONSTRAINT account_events_type_check;
ALTER TABLE account_events ADD CONSTRAINT account_events_type_check CHECK (type IN (
  'connected', 'reconnected', 'synced', 'status_changed', 'token_refreshed', 'updated', 'disconnected',
  'token_expiring', 'needs_reconnect', 'recovered'
));

-- Down Migration

ALTER TABLE account_events DROP CONSTRAINT account_events_type_check;
ALTER TABLE account_events ADD CONSTRAINT account_events_type_check CHECK (type IN (
  'connected', 'reconnected', 'synced', 'status_changed', 'token_refreshed', 'updated', 'disconnected'
));
