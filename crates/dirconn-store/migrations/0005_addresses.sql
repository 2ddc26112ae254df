-- The mail addresses of each account, lowercase: position 0 is the canonical `login@domain`, then the
-- addresses the directory gives (the primary first). Postfix's lookup tables read it by address.
CREATE TABLE addresses (
    account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    address         TEXT NOT NULL,
    position        BIGINT NOT NULL,
    PRIMARY KEY (account_id, address)
);
CREATE INDEX addresses_address ON addresses (address);

-- Existing accounts get their canonical address and their mapped mail at once; the next sync (whose digests
-- all change with the address mapping) fills in the rest.
INSERT INTO addresses (account_id, address, position) SELECT id, login || '@' || domain, 0 FROM accounts;
INSERT INTO addresses (account_id, address, position)
    SELECT id, lower(email), 1 FROM accounts
    WHERE email LIKE '_%@_%' AND lower(email) <> login || '@' || domain;
