-- Navigators, coordinators and admins; sessions in the database so that several web nodes
-- share them; the access log (this is mental-health data). Keep in step with migrations/sqlite.

CREATE TABLE users (
    id BIGSERIAL PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    -- navigator | coordinator | admin
    role TEXT NOT NULL,
    -- argon2id, PHC string format
    password_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    disabled_at BIGINT
);

CREATE TABLE sessions (
    -- sha256 of the cookie value: a stolen database does not hold usable cookies.
    token_hash TEXT PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    csrf_token TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE login_attempts (
    id BIGSERIAL PRIMARY KEY,
    -- the lowercase email tried (not the password)
    email_key TEXT NOT NULL,
    succeeded BIGINT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX login_attempts_recent ON login_attempts (email_key, at);

CREATE TABLE access_log (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    thread_id BIGINT NOT NULL REFERENCES threads (id),
    action TEXT NOT NULL,
    at BIGINT NOT NULL
);
CREATE INDEX access_log_thread ON access_log (thread_id, at);
