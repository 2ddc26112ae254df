-- The login throttle's ledger, shared by the nodes of a PostgreSQL store (a node on a SQLite store keeps it in
-- memory). Never a password nor a digest of one. Times are Unix milliseconds.
-- One row per account under watch: locked by each admission, so that nodes decide one at a time.
CREATE TABLE throttle_accounts (
    domain          TEXT NOT NULL,
    login           TEXT NOT NULL,
    PRIMARY KEY (domain, login)
);
-- An account's failures the directory counted, and its attempts in flight (pending = 1) until answered.
CREATE TABLE throttle_marks (
    id              TEXT PRIMARY KEY,
    domain          TEXT NOT NULL,
    login           TEXT NOT NULL,
    at              BIGINT NOT NULL,
    familiar        BIGINT NOT NULL,
    pending         BIGINT NOT NULL
);
CREATE INDEX throttle_marks_account ON throttle_marks (domain, login, at);
-- A client network's failures (any account).
CREATE TABLE throttle_networks (
    network         TEXT NOT NULL,
    at              BIGINT NOT NULL
);
CREATE INDEX throttle_networks_at ON throttle_networks (network, at);
-- The networks an account logged in from, with the last time.
CREATE TABLE throttle_familiar (
    domain          TEXT NOT NULL,
    login           TEXT NOT NULL,
    network         TEXT NOT NULL,
    at              BIGINT NOT NULL,
    PRIMARY KEY (domain, login, network)
);
