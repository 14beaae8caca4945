-- Coordinators' reports: what each thread's timeline needs beyond the timestamps it already
-- has (first_inbound_at, acknowledged_at, first_human_reply_at, closed_at), and the indexes
-- that let reports aggregate in SQL. Keep in step with migrations/sqlite.

-- Who sent the first human reply (the navigator a thread is reported under).
ALTER TABLE threads ADD COLUMN first_reply_by BIGINT REFERENCES users (id);
-- Human replies sent on the thread (exchanges), and how often a closed thread was reopened.
ALTER TABLE threads ADD COLUMN n_replies BIGINT NOT NULL DEFAULT 0;
ALTER TABLE threads ADD COLUMN n_reopens BIGINT NOT NULL DEFAULT 0;
-- 1 when a navigator marked the thread spam / not a conversation: it leaves the reports.
ALTER TABLE threads ADD COLUMN excluded BIGINT NOT NULL DEFAULT 0;
CREATE INDEX threads_first_inbound ON threads (first_inbound_at);
CREATE INDEX messages_received ON messages (received_at);

-- The navigator who queued a reply (NULL for acknowledgements).
ALTER TABLE outbox ADD COLUMN sent_by BIGINT REFERENCES users (id);

-- The team whose business hours apply to a navigator's replies (reports.teams in the config).
ALTER TABLE users ADD COLUMN team TEXT NOT NULL DEFAULT '';

-- Reading a report is written to the access log like opening a thread: thread_id becomes
-- optional and `target` says what was read.
ALTER TABLE access_log ALTER COLUMN thread_id DROP NOT NULL;
ALTER TABLE access_log ADD COLUMN target TEXT;
CREATE INDEX access_log_at ON access_log (at);
