-- Operability: when each mailbox was last polled successfully (an IMAP sync round, a Maildir
-- scan), so that every instance and web node can tell a stalled inbox (/metrics, /healthz,
-- the queue's banner). Keep in step with migrations/sqlite.
CREATE TABLE mailbox_polls (
    -- `imap:HOST/FOLDER` or `maildir:PATH`: configuration, never a person's address.
    mailbox TEXT PRIMARY KEY,
    last_success_at BIGINT NOT NULL
);

-- The metrics count inbound messages by risk and by auto-mail kind at every scrape: a
-- covering index keeps that off the message bodies.
CREATE INDEX messages_triage ON messages (direction, risk, auto_kind);
