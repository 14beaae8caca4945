-- Navigators, coordinators and admins; sessions in the database so that several web nodes
-- share them; the access log (this is mental-health data). Keep in step with migrations/postgres.

CREATE TABLE users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    display_name TEXT NOT NULL,
    -- navigator | coordinator | admin
    role TEXT NOT NULL,
    -- argon2id, PHC string format
    password_hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    disabled_at INTEGER
);

CREATE TABLE sessions (
    -- sha256 of the cookie value: a stolen database does not hold usable cookies.
    token_hash TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE login_attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- the lowercase email tried (not the password)
    email_key TEXT NOT NULL,
    succeeded INTEGER NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX login_attempts_recent ON login_attempts (email_key, at);

CREATE TABLE access_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id),
    thread_id INTEGER NOT NULL REFERENCES threads (id),
    action TEXT NOT NULL,
    at INTEGER NOT NULL
);
CREATE INDEX access_log_thread ON access_log (thread_id, at);
