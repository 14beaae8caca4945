-- The walking skeleton: raw mail first, then parsed messages on threads.
-- Times are integer Unix milliseconds written from Rust. Keep in step with migrations/postgres.

CREATE TABLE raw_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- sha256 of Message-ID + body, or of the whole message when it has no Message-ID.
    dedupe_key TEXT NOT NULL UNIQUE,
    raw BLOB NOT NULL,
    size_bytes INTEGER NOT NULL,
    received_at INTEGER NOT NULL,
    -- Set once the message is parsed, triaged and on a thread.
    processed_at INTEGER,
    -- What went wrong when parsing, shown to navigators; NULL when nothing did.
    problem TEXT
);
CREATE INDEX raw_messages_unprocessed ON raw_messages (processed_at, id);

-- Every place a raw message was seen: imap:<mailbox>:<uidvalidity>:<uid>, maildir:<name>, ...
CREATE TABLE source_positions (
    source_key TEXT PRIMARY KEY,
    raw_message_id INTEGER NOT NULL REFERENCES raw_messages (id),
    seen_at INTEGER NOT NULL
);

CREATE TABLE mailbox_checkpoints (
    mailbox TEXT PRIMARY KEY,
    uid_validity INTEGER NOT NULL,
    last_uid INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE contacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The lowercase address: the identity of a returning sender.
    email_key TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    display_name TEXT,
    -- Confirmed by a navigator; strong evidence for triage.
    known_country TEXT,
    known_language TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE threads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    token TEXT NOT NULL UNIQUE,
    contact_id INTEGER REFERENCES contacts (id),
    subject TEXT NOT NULL,
    status TEXT NOT NULL,
    risk TEXT NOT NULL,
    risk_rank INTEGER NOT NULL,
    language TEXT,
    country TEXT,
    auto_kind TEXT NOT NULL,
    n_messages INTEGER NOT NULL,
    first_inbound_at INTEGER NOT NULL,
    last_inbound_at INTEGER NOT NULL,
    -- Since when the person has been waiting for us; NULL when they are not.
    waiting_since INTEGER,
    acknowledged_at INTEGER,
    first_human_reply_at INTEGER,
    closed_at INTEGER,
    claimed_by INTEGER,
    claim_expires_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX threads_queue ON threads (status, risk_rank, waiting_since);

CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    raw_message_id INTEGER NOT NULL UNIQUE REFERENCES raw_messages (id),
    thread_id INTEGER NOT NULL REFERENCES threads (id),
    direction TEXT NOT NULL,
    message_id TEXT,
    in_reply_to TEXT,
    references_header TEXT,
    from_address TEXT,
    from_name TEXT,
    subject TEXT NOT NULL,
    -- The Date header, when it could be read.
    sent_at INTEGER,
    received_at INTEGER NOT NULL,
    body_text TEXT NOT NULL,
    new_text TEXT NOT NULL,
    has_html INTEGER NOT NULL,
    n_attachments INTEGER NOT NULL,
    parse_problem TEXT,
    language TEXT,
    language_confidence REAL,
    country TEXT,
    risk TEXT NOT NULL,
    auto_kind TEXT NOT NULL,
    -- The whole triage decision with its evidence, as JSON.
    triage_json TEXT NOT NULL
);
CREATE INDEX messages_thread ON messages (thread_id, received_at);

-- Every Message-ID we know, inbound and outbound, and the thread it belongs to.
CREATE TABLE thread_message_ids (
    message_id TEXT PRIMARY KEY,
    thread_id INTEGER NOT NULL REFERENCES threads (id)
);
