-- Coordinators' reports: what each thread's timeline needs beyond the timestamps it already
-- has (first_inbound_at, acknowledged_at, first_human_reply_at, closed_at), and the indexes
-- that let reports aggregate in SQL. Keep in step with migrations/postgres.

-- Who sent the first human reply (the navigator a thread is reported under).
ALTER TABLE threads ADD COLUMN first_reply_by INTEGER REFERENCES users (id);
-- Human replies sent on the thread (exchanges), and how often a closed thread was reopened.
ALTER TABLE threads ADD COLUMN n_replies INTEGER NOT NULL DEFAULT 0;
ALTER TABLE threads ADD COLUMN n_reopens INTEGER NOT NULL DEFAULT 0;
-- 1 when a navigator marked the thread spam / not a conversation: it leaves the reports.
ALTER TABLE threads ADD COLUMN excluded INTEGER NOT NULL DEFAULT 0;
CREATE INDEX threads_first_inbound ON threads (first_inbound_at);
CREATE INDEX messages_received ON messages (received_at);

-- The navigator who queued a reply (NULL for acknowledgements).
ALTER TABLE outbox ADD COLUMN sent_by INTEGER REFERENCES users (id);

-- The team whose business hours apply to a navigator's replies (reports.teams in the config).
ALTER TABLE users ADD COLUMN team TEXT NOT NULL DEFAULT '';

-- Reading a report is written to the access log like opening a thread: thread_id becomes
-- optional and `target` says what was read. SQLite cannot drop NOT NULL, so the table is rebuilt.
CREATE TABLE access_log_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id),
    thread_id INTEGER REFERENCES threads (id),
    action TEXT NOT NULL,
    target TEXT,
    at INTEGER NOT NULL
);
INSERT INTO access_log_new (id, user_id, thread_id, action, at)
    SELECT id, user_id, thread_id, action, at FROM access_log;
DROP TABLE access_log;
ALTER TABLE access_log_new RENAME TO access_log;
CREATE INDEX access_log_thread ON access_log (thread_id, at);
CREATE INDEX access_log_at ON access_log (at);
