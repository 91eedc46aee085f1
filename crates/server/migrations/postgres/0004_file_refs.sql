-- Which records name which file, so a download finds the records that refer to a hash (and so
-- who may see it) with one index seek instead of a scan of every group's JSON. A row is added
-- when a group that names a file (a photo's `file.sha256`, a job's `signature.image_sha256`) is
-- written, and never removed: a record's history shows its earlier files too, so whoever may
-- see the record may fetch them. A side table rather than an expression index on
-- `record_groups.vals`: an index over `vals` would make every group update non-HOT.
CREATE TABLE file_refs (
    sha256    TEXT COLLATE "C" NOT NULL,
    record_id TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (sha256, record_id)
);

INSERT INTO file_refs (sha256, record_id)
    SELECT vals::jsonb ->> 'sha256', record_id FROM record_groups
    WHERE grp = 'file' AND vals::jsonb ->> 'sha256' IS NOT NULL
    ON CONFLICT DO NOTHING;
INSERT INTO file_refs (sha256, record_id)
    SELECT vals::jsonb ->> 'image_sha256', record_id FROM record_groups
    WHERE grp = 'signature' AND vals::jsonb ->> 'image_sha256' IS NOT NULL
    ON CONFLICT DO NOTHING;
