-- Up Migration

-- A delivery of an account event goes when its event goes (a data-deletion request erases the
-- account's events, and the deliveries hold the account's profile). That was a foreign key with
-- ON DELETE CASCADE, and a foreign key is checked on every insert: a lookup of the event and a
-- lock on its row, for every delivery, with a plan each connection caches. A connection that
-- cached its plan while account_events was still small read the whole table for every delivery
-- (bench:sync on a new database, 2026-12-08: 5,074 sequential scans of account_events reading
-- 78.9 million rows for 20,000 deliveries, 82 buffers read per event inserted). Without the key,
-- everything else the same, the sweep went from 179 and 205 accounts a second (PostgreSQL's CPU
-- 53 and 44 s) to 262-282 in three runs (25-26 s).
--
-- The fan-out writes each delivery in its event's transaction, so the reference cannot dangle
-- when it is made; what the key still did is the cascade, and a statement trigger does that:
-- one delete per deleting statement (also the cascade from a deleted user), nothing on insert.
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_account_event_fk;

CREATE FUNCTION webhook_deliveries_follow_account_events()
RETURNS TRIGGER AS $$
BEGIN
  DELETE FROM webhook_deliveries d USING gone g WHERE d.account_event_id = g.id;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER account_events_take_their_deliveries
  AFTER DELETE ON account_events
  REFERENCING OLD TABLE AS gone
  FOR EACH STATEMENT
  EXECUTE FUNCTION webhook_deliveries_follow_account_events();

-- Down Migration

DROP TRIGGER account_events_take_their_deliveries ON account_events;
DROP FUNCTION webhook_deliveries_follow_account_events();
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_account_event_fk
  FOREIGN KEY (account_event_id) REFERENCES account_events (id) ON DELETE CASCADE;
