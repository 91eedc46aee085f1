-- Which records name which file, so a download finds the records that refer to a hash (and so
-- who may see it) with one index seek instead of a scan of every group's JSON. A row is added
-- when a group that names a file (a photo's `file.sha256`, a job's `signature.image_sha256`) is
-- written, and never removed: a record's history shows its earlier files too, so whoever may
-- see the record may fetch them.
CREATE TABLE file_refs (
    sha256    TEXT NOT NULL,
    record_id TEXT NOT NULL,
    PRIMARY KEY (sha256, record_id)
) WITHOUT ROWID;

INSERT OR IGNORE INTO file_refs (sha256, record_id)
    SELECT json_extract(vals, '$.sha256'), record_id FROM record_groups
    WHERE grp = 'file' AND json_extract(vals, '$.sha256') IS NOT NULL;
INSERT OR IGNORE INTO file_refs (sha256, record_id)
    SELECT json_extract(vals, '$.image_sha256'), record_id FROM record_groups
    WHERE grp = 'signature' AND json_extract(vals, '$.image_sha256') IS NOT NULL;
