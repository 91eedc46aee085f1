-- Fieldsync on PostgreSQL: the same tables as the embedded store, shared by every server
-- instance. Nothing here is ever hard-deleted: records are voided or archived, devices are
-- revoked, review items are resolved, and the change log only grows.
--
-- Ids, owner keys and hashes are the text the wire carries, compared byte by byte
-- (COLLATE "C"), whatever the database's locale. JSON values are kept as the text the server
-- wrote: nothing queries inside them, and a value reads back exactly as it was logged.

CREATE TABLE users (
    name          TEXT COLLATE "C" PRIMARY KEY,
    display_name  TEXT NOT NULL,
    role          TEXT NOT NULL,
    team          TEXT,
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    disabled_at   TIMESTAMPTZ
);

CREATE TABLE devices (
    device_id      TEXT COLLATE "C" PRIMARY KEY,
    user_name      TEXT COLLATE "C" NOT NULL REFERENCES users(name),
    name           TEXT NOT NULL,
    token_hash     TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at     TIMESTAMPTZ NOT NULL,
    last_seen      TIMESTAMPTZ,
    revoked_at     TIMESTAMPTZ,
    outbox_depth   BIGINT,
    oldest_pending TIMESTAMPTZ,
    last_pull_seq  BIGINT,
    UNIQUE (user_name, name)
);

CREATE TABLE records (
    record_id    TEXT COLLATE "C" PRIMARY KEY,
    record_type  TEXT NOT NULL,
    number       TEXT UNIQUE,
    owner        TEXT COLLATE "C" NOT NULL,
    owner_epoch  BIGINT NOT NULL,
    state        TEXT NOT NULL,
    job_id       TEXT COLLATE "C",
    customer_id  TEXT COLLATE "C",
    site         TEXT,
    window_start TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    created_by   TEXT NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
-- Owner and customer look-ups are only ever about jobs.
CREATE INDEX records_by_owner ON records (owner) WHERE record_type = 'job';
CREATE INDEX records_by_customer ON records (customer_id) WHERE record_type = 'job';
CREATE INDEX records_by_job ON records (job_id) WHERE job_id IS NOT NULL;

CREATE TABLE record_groups (
    record_id TEXT COLLATE "C" NOT NULL REFERENCES records(record_id),
    grp       TEXT COLLATE "C" NOT NULL,
    version   BIGINT NOT NULL,
    vals      TEXT NOT NULL,
    contested BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (record_id, grp)
);

CREATE TABLE owner_history (
    record_id TEXT COLLATE "C" NOT NULL REFERENCES records(record_id),
    epoch     BIGINT NOT NULL,
    owner     TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (record_id, epoch)
);

-- Human numbers (J-000248), one sequence per record type: taking one never waits for another
-- transaction, and a number is never handed out twice. A number taken by a transaction that
-- rolls back (or by a create refused later in the same batch) is not reused: a gap, never a
-- duplicate.
CREATE SEQUENCE numbers_customer;
CREATE SEQUENCE numbers_job;
CREATE SEQUENCE numbers_job_note;
CREATE SEQUENCE numbers_part_line;
CREATE SEQUENCE numbers_photo;
CREATE SEQUENCE numbers_invoice;
CREATE SEQUENCE numbers_inspection;
CREATE SEQUENCE numbers_activity;

-- The change log: every outcome, applied or not. `seq` orders what a pull returns; the store
-- hands it out under a lock that makes commit order seq order (see postgres.rs, claim_seq).
CREATE TABLE changes (
    seq          BIGINT PRIMARY KEY,
    change_id    TEXT COLLATE "C" NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    record_type  TEXT NOT NULL,
    record_id    TEXT COLLATE "C" NOT NULL,
    grp          TEXT COLLATE "C",
    op           TEXT NOT NULL,
    base_version BIGINT NOT NULL,
    vals         TEXT NOT NULL,
    owner_epoch  BIGINT NOT NULL,
    device_time  TIMESTAMPTZ NOT NULL,
    author       TEXT NOT NULL,
    device_id    TEXT COLLATE "C",
    server_time  TIMESTAMPTZ NOT NULL,
    status       TEXT NOT NULL,
    version      BIGINT,
    number       TEXT,
    owner        TEXT COLLATE "C" NOT NULL,
    state        TEXT NOT NULL,
    scope_job    TEXT COLLATE "C",
    review_id    TEXT COLLATE "C",
    code         TEXT,
    outcome      TEXT NOT NULL
);
CREATE INDEX changes_by_record ON changes (record_id, seq);
CREATE INDEX changes_by_scope_job ON changes (scope_job, seq);

CREATE TABLE ownership_moves (
    seq         BIGINT PRIMARY KEY,
    record_type TEXT NOT NULL,
    record_id   TEXT COLLATE "C" NOT NULL,
    from_owner  TEXT COLLATE "C" NOT NULL,
    to_owner    TEXT COLLATE "C" NOT NULL,
    owner_epoch BIGINT NOT NULL,
    by_user     TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL
);

CREATE TABLE review_items (
    review_id         TEXT COLLATE "C" PRIMARY KEY,
    kind              TEXT NOT NULL,
    record_type       TEXT NOT NULL,
    record_id         TEXT COLLATE "C" NOT NULL,
    grp               TEXT COLLATE "C",
    change_id         TEXT COLLATE "C" NOT NULL,
    change_json       TEXT NOT NULL,
    base              TEXT,
    current           TEXT,
    incoming          TEXT NOT NULL,
    matched_record_id TEXT COLLATE "C",
    incoming_author   TEXT NOT NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    state             TEXT NOT NULL,
    resolution        TEXT,
    resolved_by       TEXT,
    resolved_at       TIMESTAMPTZ
);
CREATE INDEX review_open ON review_items (state, created_at);
CREATE INDEX review_by_record ON review_items (record_id, grp, state);

CREATE TABLE files (
    sha256       TEXT COLLATE "C" PRIMARY KEY,
    length       BIGINT NOT NULL,
    received     BIGINT NOT NULL,
    complete     BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   TIMESTAMPTZ NOT NULL,
    created_by   TEXT NOT NULL,
    completed_at TIMESTAMPTZ
);
