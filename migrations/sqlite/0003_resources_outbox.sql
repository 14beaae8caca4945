-- The resource directory and the outbox. Keep in step with migrations/postgres.

CREATE TABLE resources (
    id TEXT PRIMARY KEY,
    -- The whole record as JSON (config/resources/README.md describes its fields).
    data TEXT NOT NULL,
    status TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Nothing is sent except through this table.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    thread_id INTEGER NOT NULL REFERENCES threads (id),
    -- acknowledgement | crisis_acknowledgement | reply
    kind TEXT NOT NULL,
    to_address TEXT NOT NULL,
    from_address TEXT NOT NULL,
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    message_id TEXT NOT NULL UNIQUE,
    in_reply_to TEXT,
    references_header TEXT,
    -- 1 for automatic mail (RFC 3834 Auto-Submitted: auto-replied).
    auto_submitted INTEGER NOT NULL,
    language TEXT,
    template TEXT,
    -- Why another language's template was used, when it was.
    template_note TEXT,
    -- queued | sending | sent | failed
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    lease_until INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL,
    sent_at INTEGER,
    bounced_at INTEGER
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_recipient ON outbox (to_address, kind, created_at);
CREATE INDEX outbox_thread ON outbox (thread_id);
