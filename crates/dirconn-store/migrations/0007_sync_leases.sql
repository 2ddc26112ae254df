-- Which node of a cluster (several `dirconn serve` on one PostgreSQL store) leads each domain's scheduled
-- sync: `holder` runs it while `until` (Unix ms) is ahead, renewing it as the sync goes; `due` is when the next
-- scheduled sync of the domain is due, for whichever node claims it. A node that dies leaves its lease to
-- expire, and `due` unchanged, so another node runs the sync soon after.
CREATE TABLE sync_leases (
    domain          TEXT PRIMARY KEY,
    holder          TEXT NOT NULL,
    until           BIGINT NOT NULL,
    due             BIGINT NOT NULL
);
