//! The login throttle's ledger in the store, for nodes that share it (PostgreSQL): an admission reads an
//! account's marks, its network's failures and whether the network is familiar, lets the caller decide, and
//! records the attempt as in flight, in one transaction holding the account's row, so that no two nodes
//! decide for one account at once. Never a password nor a digest of one.

use sqlx::{AnyConnection, Row};

use crate::{Error, Store};

/// Which account, from which network.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleKey<'a> {
    /// The domain.
    pub domain: &'a str,
    /// The login as the throttle counts it.
    pub login: &'a str,
    /// The client network (`192.0.2.0/24`).
    pub network: &'a str,
}

/// What the ledger holds for an admission.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ThrottleRead {
    /// The account's marks since the lockout window began: (Unix ms, from a familiar network, in flight).
    pub marks: Vec<(i64, bool, bool)>,
    /// The network's failures since its window began (Unix ms).
    pub network: Vec<i64>,
    /// Whether the network logged in as the account since `familiar_since`.
    pub familiar: bool,
}

/// What became of an attempt, for the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ThrottleOutcome {
    /// Logged in: the network becomes familiar; the failures of familiar networks are forgotten.
    Accepted,
    /// A wrong password: the mark stays, as a failure; the network failed.
    WrongPassword,
    /// Refused otherwise: the mark goes; the network failed.
    Denied,
    /// No answer: the mark goes.
    NoAnswer,
}

/// The windows an admission reads within (Unix ms: entries before these are forgotten).
#[derive(Debug, Clone, Copy)]
pub struct ThrottleSince {
    /// The account's lockout window.
    pub marks: i64,
    /// The network's window.
    pub network: i64,
    /// The familiar networks' window.
    pub familiar: i64,
}

async fn exec(
    conn: &mut AnyConnection,
    sql: &str,
    binds: &[&str],
    numbers: &[i64],
    what: &'static str,
) -> Result<u64, Error> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for b in binds {
        q = q.bind(*b);
    }
    for n in numbers {
        q = q.bind(*n);
    }
    Ok(q.execute(&mut *conn).await.map_err(Error::query(what))?.rows_affected())
}

impl Store {
    /// Admits an attempt: `decide` gets what the ledger holds and answers `Some(familiar)` to record the
    /// attempt as in flight (the returned id settles it), or `None` to hold it back (nothing is written).
    pub async fn throttle_admit(
        &self,
        key: ThrottleKey<'_>,
        now: i64,
        since: ThrottleSince,
        record: bool,
        decide: impl FnOnce(&ThrottleRead) -> Option<bool>,
    ) -> Result<Option<String>, Error> {
        let mut tx = self.begin().await?;
        let conn = tx.conn();
        let postgres = conn.backend_name() == "PostgreSQL";
        exec(
            conn,
            if postgres {
                "INSERT INTO throttle_accounts (domain, login) VALUES ($1, $2) ON CONFLICT DO NOTHING"
            } else {
                "INSERT OR IGNORE INTO throttle_accounts (domain, login) VALUES ($1, $2)"
            },
            &[key.domain, key.login],
            &[],
            "record the account under watch",
        )
        .await?;
        if postgres {
            exec(
                conn,
                "SELECT 1 FROM throttle_accounts WHERE domain = $1 AND login = $2 FOR UPDATE",
                &[key.domain, key.login],
                &[],
                "lock the account's throttle row",
            )
            .await?;
        }
        exec(
            conn,
            "DELETE FROM throttle_marks WHERE domain = $1 AND login = $2 AND at < $3",
            &[key.domain, key.login],
            &[since.marks],
            "forget old failures",
        )
        .await?;
        let marks = sqlx::query("SELECT at, familiar, pending FROM throttle_marks WHERE domain = $1 AND login = $2")
            .bind(key.domain)
            .bind(key.login)
            .fetch_all(&mut *conn)
            .await
            .map_err(Error::query("read the account's failures"))?
            .iter()
            .map(|r| (r.get::<i64, _>(0), r.get::<i64, _>(1) != 0, r.get::<i64, _>(2) != 0))
            .collect();
        let network = sqlx::query("SELECT at FROM throttle_networks WHERE network = $1 AND at >= $2")
            .bind(key.network)
            .bind(since.network)
            .fetch_all(&mut *conn)
            .await
            .map_err(Error::query("read the network's failures"))?
            .iter()
            .map(|r| r.get::<i64, _>(0))
            .collect();
        let familiar = sqlx::query(
            "SELECT 1 FROM throttle_familiar WHERE domain = $1 AND login = $2 AND network = $3 AND at >= $4",
        )
        .bind(key.domain)
        .bind(key.login)
        .bind(key.network)
        .bind(since.familiar)
        .fetch_optional(&mut *conn)
        .await
        .map_err(Error::query("read the familiar networks"))?
        .is_some();
        let Some(familiar) = decide(&ThrottleRead { marks, network, familiar }) else {
            tx.commit().await?;
            return Ok(None);
        };
        let id = uuid::Uuid::now_v7().to_string();
        if record {
            exec(
                tx.conn(),
                "INSERT INTO throttle_marks (id, domain, login, at, familiar, pending) VALUES ($1, $2, $3, $4, $5, 1)",
                &[&id, key.domain, key.login],
                &[now, i64::from(familiar)],
                "record the attempt in flight",
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Some(id))
    }

    /// Records what became of an admitted attempt; `network_since` forgets the network's older failures.
    pub async fn throttle_settle(
        &self,
        key: ThrottleKey<'_>,
        id: &str,
        outcome: ThrottleOutcome,
        now: i64,
        network_since: i64,
    ) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        let conn = tx.conn();
        if matches!(outcome, ThrottleOutcome::WrongPassword | ThrottleOutcome::Denied) {
            exec(
                conn,
                "DELETE FROM throttle_networks WHERE network = $1 AND at < $2",
                &[key.network],
                &[network_since],
                "forget old network failures",
            )
            .await?;
            exec(
                conn,
                "INSERT INTO throttle_networks (network, at) VALUES ($1, $2)",
                &[key.network],
                &[now],
                "record the network's failure",
            )
            .await?;
        }
        match outcome {
            ThrottleOutcome::WrongPassword => {
                exec(conn, "UPDATE throttle_marks SET pending = 0 WHERE id = $1", &[id], &[], "record the failure")
                    .await?;
            }
            ThrottleOutcome::Denied | ThrottleOutcome::NoAnswer => {
                exec(conn, "DELETE FROM throttle_marks WHERE id = $1", &[id], &[], "forget the attempt").await?;
            }
            ThrottleOutcome::Accepted => {
                exec(
                    conn,
                    "DELETE FROM throttle_marks WHERE id = $1 OR (domain = $2 AND login = $3 AND familiar = 1 AND pending = 0)",
                    &[id, key.domain, key.login],
                    &[],
                    "forget the familiar failures",
                )
                .await?;
                exec(
                    conn,
                    "DELETE FROM throttle_familiar WHERE domain = $1 AND login = $2 AND network = $3",
                    &[key.domain, key.login, key.network],
                    &[],
                    "renew the familiar network",
                )
                .await?;
                exec(
                    conn,
                    "INSERT INTO throttle_familiar (domain, login, network, at) VALUES ($1, $2, $3, $4)",
                    &[key.domain, key.login, key.network],
                    &[now],
                    "record the familiar network",
                )
                .await?;
            }
        }
        tx.commit().await
    }

    /// Deletes the throttle's entries older than these times (the audit's purge runs it).
    pub async fn purge_throttle(&self, since: ThrottleSince) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        let conn = tx.conn();
        exec(conn, "DELETE FROM throttle_marks WHERE at < $1", &[], &[since.marks], "purge the throttle").await?;
        exec(conn, "DELETE FROM throttle_networks WHERE at < $1", &[], &[since.network], "purge the throttle").await?;
        exec(conn, "DELETE FROM throttle_familiar WHERE at < $1", &[], &[since.familiar], "purge the throttle").await?;
        exec(
            conn,
            "DELETE FROM throttle_accounts WHERE NOT EXISTS (SELECT 1 FROM throttle_marks m WHERE m.domain = throttle_accounts.domain AND m.login = throttle_accounts.login)",
            &[],
            &[],
            "purge the throttle",
        )
        .await?;
        tx.commit().await
    }
}
