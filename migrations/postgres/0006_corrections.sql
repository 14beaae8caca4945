-- A navigator's correction of a triage decision: kept for audit and for the evaluation.
-- Keep in step with migrations/sqlite.
CREATE TABLE corrections (
    id BIGSERIAL PRIMARY KEY,
    thread_id BIGINT NOT NULL REFERENCES threads (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    -- language | country | risk
    field TEXT NOT NULL,
    old_value TEXT,
    new_value TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX corrections_thread ON corrections (thread_id);
