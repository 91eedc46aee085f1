-- A change the server keeps failing on (a 5xx for that change alone) is set aside on its own
-- retry schedule, so it does not hold up the changes behind it.
ALTER TABLE outbox ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN retry_at TEXT;
