-- Sender history (triage) looks threads up by contact.
CREATE INDEX threads_contact ON threads (contact_id);
