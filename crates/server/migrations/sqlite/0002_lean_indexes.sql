-- Fewer B-tree writes per pushed change.

-- A pull pages by `seq` (the primary key) and filters on status as it goes, so this index only
-- cost every push a second write per change.
DROP INDEX changes_applied;

-- Owner and customer look-ups are only ever about jobs: index jobs alone, not every note.
DROP INDEX records_by_owner;
CREATE INDEX records_by_owner ON records (owner) WHERE record_type = 'job';
DROP INDEX records_by_customer;
CREATE INDEX records_by_customer ON records (customer_id) WHERE record_type = 'job';
DROP INDEX records_by_job;
CREATE INDEX records_by_job ON records (job_id) WHERE job_id IS NOT NULL;

-- A group is always found by its key: keep the rows in the key's B-tree (no separate rowid
-- table). The rows are copied over, not dropped.
CREATE TABLE record_groups_by_key (
    record_id      TEXT NOT NULL REFERENCES records(record_id),
    grp            TEXT NOT NULL,
    version        INTEGER NOT NULL,
    vals           TEXT NOT NULL,
    contested      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (record_id, grp)
) WITHOUT ROWID;
INSERT INTO record_groups_by_key (record_id, grp, version, vals, contested)
    SELECT record_id, grp, version, vals, contested FROM record_groups;
DROP TABLE record_groups;
ALTER TABLE record_groups_by_key RENAME TO record_groups;
