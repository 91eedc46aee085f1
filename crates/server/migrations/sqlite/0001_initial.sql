-- Fieldsync's embedded store. Nothing here is ever hard-deleted: records are voided or archived,
-- devices are revoked, review items are resolved, and the change log only grows.

CREATE TABLE users (
    name          TEXT PRIMARY KEY,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL,
    team          TEXT,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    disabled_at   TEXT
);

CREATE TABLE devices (
    device_id      TEXT PRIMARY KEY,
    user_name      TEXT NOT NULL REFERENCES users(name),
    name           TEXT NOT NULL,
    token_hash     TEXT NOT NULL UNIQUE,
    created_at     TEXT NOT NULL,
    last_seen      TEXT,
    revoked_at     TEXT,
    outbox_depth   INTEGER,
    oldest_pending TEXT,
    last_pull_seq  INTEGER,
    UNIQUE (user_name, name)
);

CREATE TABLE records (
    record_id    TEXT PRIMARY KEY,
    record_type  TEXT NOT NULL,
    number       TEXT UNIQUE,
    owner        TEXT NOT NULL,
    owner_epoch  INTEGER NOT NULL,
    state        TEXT NOT NULL,
    job_id       TEXT,
    customer_id  TEXT,
    site         TEXT,
    window_start TEXT,
    created_at   TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX records_by_owner ON records (record_type, owner);
CREATE INDEX records_by_job ON records (job_id);
CREATE INDEX records_by_customer ON records (customer_id, record_type);

CREATE TABLE record_groups (
    record_id      TEXT NOT NULL REFERENCES records(record_id),
    grp            TEXT NOT NULL,
    version        INTEGER NOT NULL,
    vals           TEXT NOT NULL,
    contested      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (record_id, grp)
);

CREATE TABLE owner_history (
    record_id TEXT NOT NULL REFERENCES records(record_id),
    epoch     INTEGER NOT NULL,
    owner     TEXT NOT NULL,
    PRIMARY KEY (record_id, epoch)
);

CREATE TABLE counters (
    record_type TEXT PRIMARY KEY,
    last        INTEGER NOT NULL
);

-- The change log: every outcome, applied or not. `seq` orders what a pull returns; it is the
-- row id, so commit order is pull order (one writer at a time in SQLite).
CREATE TABLE changes (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    change_id    TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    record_type  TEXT NOT NULL,
    record_id    TEXT NOT NULL,
    grp          TEXT,
    op           TEXT NOT NULL,
    base_version INTEGER NOT NULL,
    vals         TEXT NOT NULL,
    owner_epoch  INTEGER NOT NULL,
    device_time  TEXT NOT NULL,
    author       TEXT NOT NULL,
    device_id    TEXT,
    server_time  TEXT NOT NULL,
    status       TEXT NOT NULL,
    version      INTEGER,
    number       TEXT,
    owner        TEXT NOT NULL,
    state        TEXT NOT NULL,
    scope_job    TEXT,
    review_id    TEXT,
    code         TEXT,
    outcome      TEXT NOT NULL
);
CREATE INDEX changes_by_record ON changes (record_id, seq);
CREATE INDEX changes_by_scope_job ON changes (scope_job, seq);
CREATE INDEX changes_applied ON changes (status, seq);

CREATE TABLE ownership_moves (
    seq         INTEGER PRIMARY KEY,
    record_type TEXT NOT NULL,
    record_id   TEXT NOT NULL,
    from_owner  TEXT NOT NULL,
    to_owner    TEXT NOT NULL,
    owner_epoch INTEGER NOT NULL,
    by_user     TEXT NOT NULL,
    at          TEXT NOT NULL
);

CREATE TABLE review_items (
    review_id          TEXT PRIMARY KEY,
    kind               TEXT NOT NULL,
    record_type        TEXT NOT NULL,
    record_id          TEXT NOT NULL,
    grp                TEXT,
    change_id          TEXT NOT NULL,
    change_json        TEXT NOT NULL,
    base               TEXT,
    current            TEXT,
    incoming           TEXT NOT NULL,
    matched_record_id  TEXT,
    incoming_author    TEXT NOT NULL,
    created_at         TEXT NOT NULL,
    state              TEXT NOT NULL,
    resolution         TEXT,
    resolved_by        TEXT,
    resolved_at        TEXT
);
CREATE INDEX review_open ON review_items (state, created_at);
CREATE INDEX review_by_record ON review_items (record_id, grp, state);

CREATE TABLE files (
    sha256      TEXT PRIMARY KEY,
    length      INTEGER NOT NULL,
    received    INTEGER NOT NULL,
    complete    INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    completed_at TEXT
);
