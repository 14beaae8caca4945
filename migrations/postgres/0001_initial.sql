-- The walking skeleton: raw mail first, then parsed messages on threads.
-- Times are integer Unix milliseconds written from Rust. Keep in step with migrations/sqlite.

CREATE TABLE raw_messages (
    id BIGSERIAL PRIMARY KEY,
    -- sha256 of Message-ID + body, or of the whole message when it has no Message-ID.
    dedupe_key TEXT NOT NULL UNIQUE,
    raw BYTEA NOT NULL,
    size_bytes BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    -- Set once the message is parsed, triaged and on a thread.
    processed_at BIGINT,
    -- What went wrong when parsing, shown to navigators; NULL when nothing did.
    problem TEXT
);
CREATE INDEX raw_messages_unprocessed ON raw_messages (processed_at, id);

-- Every place a raw message was seen: imap:<mailbox>:<uidvalidity>:<uid>, maildir:<name>, ...
CREATE TABLE source_positions (
    source_key TEXT PRIMARY KEY,
    raw_message_id BIGINT NOT NULL REFERENCES raw_messages (id),
    seen_at BIGINT NOT NULL
);

CREATE TABLE mailbox_checkpoints (
    mailbox TEXT PRIMARY KEY,
    uid_validity BIGINT NOT NULL,
    last_uid BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE contacts (
    id BIGSERIAL PRIMARY KEY,
    -- The lowercase address: the identity of a returning sender.
    email_key TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL,
    display_name TEXT,
    -- Confirmed by a navigator; strong evidence for triage.
    known_country TEXT,
    known_language TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

CREATE TABLE threads (
    id BIGSERIAL PRIMARY KEY,
    token TEXT NOT NULL UNIQUE,
    contact_id BIGINT REFERENCES contacts (id),
    subject TEXT NOT NULL,
    status TEXT NOT NULL,
    risk TEXT NOT NULL,
    risk_rank BIGINT NOT NULL,
    language TEXT,
    country TEXT,
    auto_kind TEXT NOT NULL,
    n_messages BIGINT NOT NULL,
    first_inbound_at BIGINT NOT NULL,
    last_inbound_at BIGINT NOT NULL,
    -- Since when the person has been waiting for us; NULL when they are not.
    waiting_since BIGINT,
    acknowledged_at BIGINT,
    first_human_reply_at BIGINT,
    closed_at BIGINT,
    claimed_by BIGINT,
    claim_expires_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX threads_queue ON threads (status, risk_rank, waiting_since);

CREATE TABLE messages (
    id BIGSERIAL PRIMARY KEY,
    raw_message_id BIGINT NOT NULL UNIQUE REFERENCES raw_messages (id),
    thread_id BIGINT NOT NULL REFERENCES threads (id),
    direction TEXT NOT NULL,
    message_id TEXT,
    in_reply_to TEXT,
    references_header TEXT,
    from_address TEXT,
    from_name TEXT,
    subject TEXT NOT NULL,
    -- The Date header, when it could be read.
    sent_at BIGINT,
    received_at BIGINT NOT NULL,
    body_text TEXT NOT NULL,
    new_text TEXT NOT NULL,
    has_html BIGINT NOT NULL,
    n_attachments BIGINT NOT NULL,
    parse_problem TEXT,
    language TEXT,
    language_confidence DOUBLE PRECISION,
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
    thread_id BIGINT NOT NULL REFERENCES threads (id)
);
