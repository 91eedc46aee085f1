-- A draft that became a record (or that its author discarded) is kept, marked with what it
-- became, and no longer offered: not to reopen its form, not as a match before a create.
ALTER TABLE drafts ADD COLUMN used_by TEXT;
