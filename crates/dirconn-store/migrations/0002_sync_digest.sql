-- A digest of what the directory last set on an account (identity, mapped fields, groups), so that a sync
-- recognizes unchanged users without reading their rows.
ALTER TABLE accounts ADD COLUMN sync_digest TEXT;
