-- Retention (`retention.purge_after_days`, `concierge purge`): the content of old closed
-- conversations is removed, their rows stay. `purged_at` says when a row's content went: the
-- raw bytes (an empty blob is left, the dedupe key and the source positions stay, so the same
-- mail seen again is known and not ingested again), a message's text, subject and triage
-- evidence details, what we sent, a note's text, and the thread's subject; drafts left on the
-- thread are deleted. Timestamps, counters, codes and Message-IDs stay for the reports and for threading.
-- Keep in step with migrations/sqlite.
ALTER TABLE raw_messages ADD COLUMN purged_at BIGINT;
ALTER TABLE messages ADD COLUMN purged_at BIGINT;
ALTER TABLE threads ADD COLUMN purged_at BIGINT;
ALTER TABLE outbox ADD COLUMN purged_at BIGINT;
ALTER TABLE notes ADD COLUMN purged_at BIGINT;
