-- Accounts managed from the office app: a password an admin set (a first one, a reset) is
-- changed by its person at their next sign-in; every admin action is kept in its own log.
ALTER TABLE users ADD COLUMN must_change_password INTEGER NOT NULL DEFAULT 0;

CREATE TABLE admin_log (
    id       TEXT PRIMARY KEY,
    at       TEXT NOT NULL,
    by_user  TEXT NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT NOT NULL,
    detail   TEXT NOT NULL
);
CREATE INDEX admin_log_at ON admin_log (at);
