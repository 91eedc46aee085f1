-- Accounts managed from the office app: a password an admin set (a first one, a reset) is
-- changed by its person at their next sign-in; every admin action is kept in its own log.
ALTER TABLE users ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE admin_log (
    id       TEXT COLLATE "C" PRIMARY KEY,
    at       TIMESTAMPTZ NOT NULL,
    by_user  TEXT COLLATE "C" NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT NOT NULL,
    detail   TEXT NOT NULL
);
CREATE INDEX admin_log_at ON admin_log (at);
