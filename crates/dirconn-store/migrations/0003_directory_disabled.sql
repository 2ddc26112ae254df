-- Set while the directory says an account's entry is disabled (the entry still exists): such an account
-- is never claimed by another entry of the same name, unlike the account of a deleted entry.
ALTER TABLE accounts ADD COLUMN directory_disabled INTEGER NOT NULL DEFAULT 0;
