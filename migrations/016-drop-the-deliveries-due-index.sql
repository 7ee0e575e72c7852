-- Up Migration

-- webhook_deliveries_due_idx was made for the periodic sweep, which has since asked for heads only
-- (the pending index, in pair order): no query needs it. It cost an entry on every insert and every
-- claim that left its page, and it misled plans: with statistics taken when nothing was pending
-- (a new database, a quiet moment), both it and the pending index look empty, and the claim's head
-- lookup read it, every pending delivery, for each pair it claimed.
DROP INDEX webhook_deliveries_due_idx;

-- Down Migration

CREATE INDEX webhook_deliveries_due_idx
  ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
