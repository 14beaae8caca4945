-- Scale-out: which instance polls each mailbox. One holder at a time; it renews the lease
-- every few seconds, and another instance takes it once it expired (its holder died) or was
-- released (a clean stop). Keep in step with the other backend's migration.
CREATE TABLE mailbox_leases (
    -- `imap:HOST/FOLDER`: configuration, never a person's address.
    mailbox TEXT PRIMARY KEY,
    -- host name, process id and a random part: which instance holds it.
    holder TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
