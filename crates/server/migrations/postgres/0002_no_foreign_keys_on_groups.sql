-- A push writes a field-group row for every group of every record it creates, and PostgreSQL
-- checks a foreign key with a trigger per row: about a quarter of the database's CPU per
-- pushed change in the push benchmark. The store only writes a record's groups and earlier
-- owners in the transaction that inserts the record or holds its row locked, and records are
-- never deleted, so these references cannot dangle; the SQLite store keeps its (in-process,
-- cheap) checks.
ALTER TABLE record_groups DROP CONSTRAINT record_groups_record_id_fkey;
ALTER TABLE owner_history DROP CONSTRAINT owner_history_record_id_fkey;
