-- A device's local cache: the records in scope as the server last said, the outbox (which is
-- also the device's own history: rows are settled, never deleted), files waiting to upload, the
-- review items that concern this user, and drafts.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE records (
    record_id   TEXT PRIMARY KEY,
    record_type TEXT NOT NULL,
    number      TEXT,
    owner       TEXT NOT NULL,
    owner_epoch INTEGER NOT NULL,
    state       TEXT NOT NULL,
    job_id      TEXT,
    -- Ownership moved away from this user: shown, not editable.
    read_only   INTEGER NOT NULL DEFAULT 0,
    -- Created on this device and not yet accepted by the server.
    local_only  INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX records_by_type ON records (record_type, updated_at);
CREATE INDEX records_by_job ON records (job_id);

-- Each group's values and version as the server last confirmed them; pending changes in the
-- outbox are laid over them when a record is read.
CREATE TABLE groups (
    record_id TEXT NOT NULL,
    grp       TEXT NOT NULL,
    version   INTEGER NOT NULL,
    vals      TEXT NOT NULL,
    PRIMARY KEY (record_id, grp)
) WITHOUT ROWID;

CREATE TABLE outbox (
    position     INTEGER PRIMARY KEY AUTOINCREMENT,
    change_id    TEXT NOT NULL UNIQUE,
    record_type  TEXT NOT NULL,
    record_id    TEXT NOT NULL,
    grp          TEXT,
    op           TEXT NOT NULL,
    base_version INTEGER NOT NULL,
    vals         TEXT NOT NULL,
    owner_epoch  INTEGER NOT NULL,
    device_time  TEXT NOT NULL,
    lane         TEXT NOT NULL,
    file_sha256  TEXT,
    -- pending | synced | held | rejected
    state        TEXT NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    code         TEXT,
    reason       TEXT,
    review_id    TEXT,
    outcome      TEXT,
    saved_at     TEXT NOT NULL,
    settled_at   TEXT
);
CREATE INDEX outbox_by_state ON outbox (state, position);
CREATE INDEX outbox_by_record ON outbox (record_id, position);

CREATE TABLE files (
    sha256   TEXT PRIMARY KEY,
    path     TEXT NOT NULL,
    length   INTEGER NOT NULL,
    uploaded INTEGER NOT NULL DEFAULT 0,
    complete INTEGER NOT NULL DEFAULT 0,
    saved_at TEXT NOT NULL
);

CREATE TABLE review (
    review_id TEXT PRIMARY KEY,
    item      TEXT NOT NULL
);

CREATE TABLE ownership_moves (
    seq       INTEGER PRIMARY KEY,
    record_id TEXT NOT NULL,
    item      TEXT NOT NULL
);

CREATE TABLE drafts (
    draft_id    TEXT PRIMARY KEY,
    record_type TEXT NOT NULL,
    vals        TEXT NOT NULL,
    saved_at    TEXT NOT NULL
);
