-- dirconn account store, version 1. One schema for SQLite and PostgreSQL: portable types only
-- (TEXT, BIGINT, BYTEA, which SQLite stores as a blob), ids made by the application.

CREATE TABLE accounts (
    id              TEXT PRIMARY KEY,
    domain          TEXT NOT NULL,
    login           TEXT NOT NULL,
    auth_name       TEXT NOT NULL,
    source          TEXT NOT NULL,
    directory_key   TEXT,
    dn              TEXT,
    active          BIGINT NOT NULL,
    admin           BIGINT NOT NULL,
    first_name      TEXT,
    last_name       TEXT,
    email           TEXT,
    phone           TEXT,
    organization    TEXT,
    notes           TEXT,
    city            TEXT,
    state           TEXT,
    country         TEXT,
    photo           BYTEA,
    custom1         TEXT,
    custom2         TEXT,
    custom3         TEXT,
    password_hash   TEXT,
    cached_hash     TEXT,
    cached_at       BIGINT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    last_login      BIGINT,
    deactivated_at  BIGINT
);
CREATE UNIQUE INDEX accounts_login ON accounts (domain, login);
CREATE UNIQUE INDEX accounts_key ON accounts (domain, directory_key);
CREATE INDEX accounts_auth_name ON accounts (domain, auth_name);

-- Directory groups (kind 'directory', the group's DN) and app groups (kind 'app', a name).
CREATE TABLE memberships (
    account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    name            TEXT NOT NULL,
    PRIMARY KEY (account_id, kind, name)
);

-- One row per sync run: what it did and how it ended.
CREATE TABLE sync_reports (
    id              TEXT PRIMARY KEY,
    domain          TEXT NOT NULL,
    started_at      BIGINT NOT NULL,
    duration_ms     BIGINT NOT NULL,
    mode            TEXT NOT NULL,
    dry_run         BIGINT NOT NULL,
    outcome         TEXT NOT NULL,
    seen            BIGINT NOT NULL,
    created         BIGINT NOT NULL,
    updated         BIGINT NOT NULL,
    unchanged       BIGINT NOT NULL,
    deactivated     BIGINT NOT NULL,
    reactivated     BIGINT NOT NULL,
    skipped         BIGINT NOT NULL,
    errors          BIGINT NOT NULL,
    message         TEXT,
    details         TEXT
);
CREATE INDEX sync_reports_domain ON sync_reports (domain, started_at);

-- The incremental sync state of each domain (a syncrepl cookie on LDAP).
CREATE TABLE sync_state (
    domain          TEXT PRIMARY KEY,
    cookie          BYTEA,
    updated_at      BIGINT NOT NULL
);
