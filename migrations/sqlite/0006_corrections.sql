-- A navigator's correction of a triage decision: kept for audit and for the evaluation.
-- Keep in step with migrations/postgres.
CREATE TABLE corrections (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    thread_id INTEGER NOT NULL REFERENCES threads (id),
    user_id INTEGER NOT NULL REFERENCES users (id),
    -- language | country | risk
    field TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX corrections_thread ON corrections (thread_id);
