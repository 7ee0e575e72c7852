-- Up Migration

-- Every delivery row is written three times: inserted, claimed (attempts, lease) and marked
-- delivered. Each write that cannot stay on its page, and each status change, adds an entry to
-- every index of the table.
--
-- The unique index on `seq` guarded nothing: the column is GENERATED ALWAYS AS IDENTITY, so
-- PostgreSQL itself draws every value once, and nothing looks a delivery up by it (the pairs'
-- order is read from webhook_deliveries_pending_idx).
--
-- Free space on each page (fillfactor 70) lets a claim, which changes no indexed column, often be
-- a heap-only update: its new version on the same page, and no index entries. Of 2,000 claims of
-- fresh 1.2 KB deliveries, 501 were, against 1 with full pages. (Marking one delivered changes its
-- status, which the partial indexes depend on: never heap-only.)
--
-- Together, in `npm run bench:sync` at 5,000 accounts (10,000 deliveries), PostgreSQL's CPU went
-- from 37.1 s to 34.5 s (2026-12-07).
ALTER TABLE webhook_deliveries DROP CONSTRAINT webhook_deliveries_seq_unique;
ALTER TABLE webhook_deliveries SET (fillfactor = 70);

-- Down Migration

ALTER TABLE webhook_deliveries RESET (fillfactor);
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_seq_unique UNIQUE (seq);
