-- Reply drafts (they survive a reload) and internal notes. Keep in step with migrations/sqlite.

CREATE TABLE drafts (
    thread_id BIGINT NOT NULL REFERENCES threads (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    subject TEXT NOT NULL,
    body_text TEXT NOT NULL,
    template TEXT,
    language TEXT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (thread_id, user_id)
);

CREATE TABLE notes (
    id BIGSERIAL PRIMARY KEY,
    thread_id BIGINT NOT NULL REFERENCES threads (id),
    user_id BIGINT NOT NULL REFERENCES users (id),
    body_text TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX notes_thread ON notes (thread_id, created_at);
