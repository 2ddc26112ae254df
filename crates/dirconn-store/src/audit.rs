//! The authentication audit: one row per login attempt from every interface, written in batches, read back
//! newest first and purged by age. Never a password.

use serde::{Deserialize, Serialize};
use sqlx::{AnyConnection, AssertSqlSafe, Row, any::AnyRow};

use crate::{Error, query::Marks};

/// The longest login kept, in characters (longer ones are cut: the attempt is still recorded).
pub const AUDIT_LOGIN_MAX: usize = 256;

/// The longest other text value kept, in characters.
const TEXT_MAX: usize = 512;

const COLUMNS: &str =
    "id, at, interface, domain, login, account, client_ip, local_ip, service, outcome, kind, latency_us";

/// The number of columns in [`COLUMNS`].
const NCOLUMNS: usize = 12;

/// Records per multi-row INSERT: 6,000 parameters, under SQLite's 32,766 and PostgreSQL's 65,535.
const ROWS_PER_INSERT: usize = 500;

/// One authentication attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// The record's id. Left empty, [`crate::Store::record_audit`] stores a fresh time-ordered one (UUIDv7).
    #[serde(default)]
    pub id: String,
    /// When the attempt started (Unix milliseconds, [`crate::now_ms`]).
    pub at: i64,
    /// Where it came from: `http`, `dovecot`, `nginx`, `cli`…
    pub interface: String,
    /// The domain it was routed to (stored lowercase); `None` when routing failed.
    pub domain: Option<String>,
    /// The login as typed (cut to [`AUDIT_LOGIN_MAX`] characters when stored).
    pub login: String,
    /// The account (`login@domain`, canonical); `None` when no account was found.
    pub account: Option<String>,
    /// The client's IP address.
    pub client_ip: Option<String>,
    /// The local IP address the client connected to.
    pub local_ip: Option<String>,
    /// The mail service (`imap`, `smtp`, `pop3`…).
    pub service: Option<String>,
    /// `ok` or the error code (`DC-203`).
    pub outcome: String,
    /// `ok` or the error kind's name (`InvalidCredentials`).
    pub kind: String,
    /// How long the attempt took, in microseconds.
    pub latency_us: i64,
}

/// Which records [`crate::Store::audit`] returns. Every filter given must match.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AuditQuery {
    /// Attempts routed to this domain.
    pub domain: Option<String>,
    /// Attempts whose login as typed is this, or whose account is this (lowercased).
    pub login: Option<String>,
    /// Attempts with this outcome (`ok`, `DC-203`).
    pub outcome: Option<String>,
    /// Attempts at or after this time (Unix milliseconds).
    pub since_ms: Option<i64>,
    /// At most this many (the newest).
    pub limit: i64,
}

/// A value as stored: cut to `max` characters, control characters (PostgreSQL refuses NUL in text; terminal
/// escapes must not reach whoever reads the audit) replaced by U+FFFD.
fn clean(value: &str, max: usize) -> String {
    value.chars().take(max).map(|c| if c.is_control() { '\u{FFFD}' } else { c }).collect()
}

fn clean_opt(value: Option<&String>) -> Option<String> {
    value.map(|v| clean(v, TEXT_MAX))
}

/// A record with its id filled in and its text values as stored.
fn stored(r: &AuditRecord) -> AuditRecord {
    AuditRecord {
        id: if r.id.is_empty() { uuid::Uuid::now_v7().to_string() } else { clean(&r.id, TEXT_MAX) },
        at: r.at,
        interface: clean(&r.interface, TEXT_MAX),
        domain: clean_opt(r.domain.as_ref()).map(|d| d.to_ascii_lowercase()),
        login: clean(&r.login, AUDIT_LOGIN_MAX),
        account: clean_opt(r.account.as_ref()),
        client_ip: clean_opt(r.client_ip.as_ref()),
        local_ip: clean_opt(r.local_ip.as_ref()),
        service: clean_opt(r.service.as_ref()),
        outcome: clean(&r.outcome, TEXT_MAX),
        kind: clean(&r.kind, TEXT_MAX),
        latency_us: r.latency_us,
    }
}

/// Writes records with multi-row INSERTs (the caller holds the transaction).
pub(crate) async fn insert(conn: &mut AnyConnection, records: &[AuditRecord]) -> Result<(), Error> {
    let rows: Vec<AuditRecord> = records.iter().map(stored).collect();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut marks = Marks::new(conn);
        let mut sql = format!("INSERT INTO auth_audit ({COLUMNS}) VALUES ");
        for i in 0..chunk.len() {
            sql.push_str(if i == 0 { "(" } else { ", (" });
            sql.push_str(&marks.list(NCOLUMNS));
            sql.push(')');
        }
        let mut q = sqlx::query(AssertSqlSafe(sql));
        for r in chunk {
            q = q
                .bind(r.id.as_str())
                .bind(r.at)
                .bind(r.interface.as_str())
                .bind(r.domain.as_deref())
                .bind(r.login.as_str())
                .bind(r.account.as_deref())
                .bind(r.client_ip.as_deref())
                .bind(r.local_ip.as_deref())
                .bind(r.service.as_deref())
                .bind(r.outcome.as_str())
                .bind(r.kind.as_str())
                .bind(r.latency_us);
        }
        q.execute(&mut *conn).await.map_err(Error::query("write the authentication audit"))?;
    }
    Ok(())
}

fn decode(row: &AnyRow) -> Result<AuditRecord, sqlx::Error> {
    Ok(AuditRecord {
        id: row.try_get("id")?,
        at: row.try_get("at")?,
        interface: row.try_get("interface")?,
        domain: row.try_get("domain")?,
        login: row.try_get("login")?,
        account: row.try_get("account")?,
        client_ip: row.try_get("client_ip")?,
        local_ip: row.try_get("local_ip")?,
        service: row.try_get("service")?,
        outcome: row.try_get("outcome")?,
        kind: row.try_get("kind")?,
        latency_us: row.try_get("latency_us")?,
    })
}

/// The records matching a query, newest first.
pub(crate) async fn list(conn: &mut AnyConnection, filter: &AuditQuery) -> Result<Vec<AuditRecord>, Error> {
    let mut marks = Marks::new(conn);
    let mut conditions = Vec::new();
    if filter.domain.is_some() {
        conditions.push(format!("domain = {}", marks.one()));
    }
    if filter.login.is_some() {
        conditions.push(format!("(login = {} OR account = {})", marks.one(), marks.one()));
    }
    if filter.outcome.is_some() {
        conditions.push(format!("outcome = {}", marks.one()));
    }
    if filter.since_ms.is_some() {
        conditions.push(format!("at >= {}", marks.one()));
    }
    let mut sql = format!("SELECT {COLUMNS} FROM auth_audit");
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql.push_str(&format!(" ORDER BY at DESC, id DESC LIMIT {}", marks.one()));
    let mut q = sqlx::query(AssertSqlSafe(sql));
    if let Some(domain) = &filter.domain {
        q = q.bind(domain.to_ascii_lowercase());
    }
    if let Some(login) = &filter.login {
        q = q.bind(login.as_str()).bind(login.to_lowercase());
    }
    if let Some(outcome) = &filter.outcome {
        q = q.bind(outcome.as_str());
    }
    if let Some(since) = filter.since_ms {
        q = q.bind(since);
    }
    let rows = q.bind(filter.limit.max(0)).fetch_all(&mut *conn).await.map_err(Error::query("read the audit"))?;
    rows.iter().map(decode).collect::<Result<_, _>>().map_err(|e| Error::Corrupt { what: e.to_string() })
}

/// Deletes the records from before `older_than_ms`; returns how many.
pub(crate) async fn purge(conn: &mut AnyConnection, older_than_ms: i64) -> Result<u64, Error> {
    let done = sqlx::query("DELETE FROM auth_audit WHERE at < $1")
        .bind(older_than_ms)
        .execute(&mut *conn)
        .await
        .map_err(Error::query("purge the audit"))?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_are_cut_and_control_characters_replaced() {
        let long: String = "é".repeat(300);
        assert_eq!(clean(&long, AUDIT_LOGIN_MAX).chars().count(), 256);
        assert_eq!(clean("a\0b\x1b[31mc\n", 64), "a\u{FFFD}b\u{FFFD}[31mc\u{FFFD}");
        assert_eq!(clean("Zoë@例え.jp", 64), "Zoë@例え.jp");
    }

    #[test]
    fn an_empty_id_gets_a_time_ordered_one() {
        let r = AuditRecord {
            id: String::new(),
            at: 1,
            interface: "cli".into(),
            domain: None,
            login: "x".into(),
            account: None,
            client_ip: None,
            local_ip: None,
            service: None,
            outcome: "ok".into(),
            kind: "ok".into(),
            latency_us: 0,
        };
        let (a, b) = (stored(&r), stored(&r));
        assert!(!a.id.is_empty() && a.id < b.id, "{} then {}", a.id, b.id);
        assert_eq!(stored(&AuditRecord { id: "given".into(), ..r }).id, "given");
    }
}
