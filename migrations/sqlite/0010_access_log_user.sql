-- The admins' access-log page filters by user, newest first. Keep in step with migrations/postgres.
CREATE INDEX access_log_user ON access_log (user_id, at);
