-- Reply drafts (they survive a reload) and internal notes. Keep in step with migrations/postgres.

CREATE TABLE drafts (
    thread_id INTEGER NOT NULL REFERENCES threads (id),
    user_id INTEGER NOT NULL REFERENCES users (id),
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    template TEXT,
    language TEXT,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (thread_id, user_id)
);

CREATE TABLE notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    thread_id INTEGER NOT NULL REFERENCES threads (id),
    user_id INTEGER NOT NULL REFERENCES users (id),
    body_text TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX notes_thread ON notes (thread_id, created_at);
