-- One row per authentication attempt, from every interface (http, dovecot, nginx, cli…). Never a password.
-- `domain` and `account` are empty when routing or the lookup failed; `outcome` is `ok` or the error code
-- (`DC-203`), `kind` the error kind's name or `ok`; `at` is Unix milliseconds.
CREATE TABLE auth_audit (
    id              TEXT PRIMARY KEY,
    at              BIGINT NOT NULL,
    interface       TEXT NOT NULL,
    domain          TEXT,
    login           TEXT NOT NULL,
    account         TEXT,
    client_ip       TEXT,
    local_ip        TEXT,
    service         TEXT,
    outcome         TEXT NOT NULL,
    kind            TEXT NOT NULL,
    latency_us      BIGINT NOT NULL
);
CREATE INDEX auth_audit_at ON auth_audit (at);
CREATE INDEX auth_audit_domain ON auth_audit (domain, at);
