-- Up Migration

-- Sessions signed out or deleted (a deleted user's go by cascade) within the last hours. Bearer
-- JWTs are verified without a database read, so each process keeps these ids in memory: it
-- hears of each one by NOTIFY and reloads this table whenever its listener (re)connects, so a
-- revocation made while it was not listening is not missed. A JWT lives at most an hour after
-- its session was revoked, so rows older than that are pruned.
CREATE TABLE session_revocations (
  session_id UUID PRIMARY KEY,
  revoked_at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX session_revocations_revoked_at_idx ON session_revocations (revoked_at);

CREATE OR REPLACE FUNCTION sessions_record_revocation()
RETURNS TRIGGER AS $$
DECLARE
  revoked UUID := CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END;
BEGIN
  INSERT INTO session_revocations (session_id) VALUES (revoked)
    ON CONFLICT (session_id) DO NOTHING;
  -- Delivered at commit, to every listening process.
  PERFORM pg_notify('ssell_session_revoked', revoked::text);
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER sessions_revoked
  AFTER UPDATE OF revoked_at ON sessions
  FOR EACH ROW
  WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
  EXECUTE FUNCTION sessions_record_revocation();

-- Also fires for the cascade of a deleted user. A session revoked before is already recorded.
CREATE TRIGGER sessions_deleted
  AFTER DELETE ON sessions
  FOR EACH ROW
  WHEN (OLD.revoked_at IS NULL)
  EXECUTE FUNCTION sessions_record_revocation();

-- Meta may deliver one data-deletion request more than once (a retry, or a replay within the
-- freshness window): the same person (`instagram_user_id`) and the same `issued_at` are the same
-- request, and get the same confirmation code instead of a second deletion.
ALTER TABLE data_deletion_requests ADD COLUMN issued_at TIMESTAMPTZ;

CREATE UNIQUE INDEX data_deletion_requests_request_key
  ON data_deletion_requests (instagram_user_id, issued_at);

-- Down Migration

DROP INDEX data_deletion_requests_request_key;
ALTER TABLE data_deletion_requests DROP COLUMN issued_at;
DROP TRIGGER sessions_deleted ON sessions;
DROP TRIGGER sessions_revoked ON sessions;
DROP FUNCTION sessions_record_revocation();
DROP TABLE session_revocations;
