//! Sync reports: what each sync run did, kept in the store.

use sqlx::{AnyConnection, Row};

use crate::Error;

/// How a sync run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It ran to the end (per-user errors are counted in the report).
    Completed,
    /// The deactivation guard stopped it; nothing was written.
    Guarded,
    /// The directory or the store failed midway; nothing was written.
    Failed,
}

impl Outcome {
    /// The stored name.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Guarded => "stopped by the guard",
            Outcome::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Outcome {
        match s {
            "completed" => Outcome::Completed,
            "stopped by the guard" => Outcome::Guarded,
            _ => Outcome::Failed,
        }
    }
}

/// What a sync did, account by account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Directory users read.
    pub seen: u64,
    /// Accounts created.
    pub created: u64,
    /// Accounts whose fields, groups or names changed.
    pub updated: u64,
    /// Accounts already up to date (not written).
    pub unchanged: u64,
    /// Accounts deactivated (not seen in the directory).
    pub deactivated: u64,
    /// Inactive accounts that came back.
    pub reactivated: u64,
    /// Users skipped (outside the mapped groups, or local accounts of the same name).
    pub skipped: u64,
    /// Users that failed; the rest went on.
    pub errors: u64,
}

/// One sync run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncReport {
    /// The run's id.
    pub id: String,
    /// The domain.
    pub domain: String,
    /// When it started (Unix seconds).
    pub started_at: i64,
    /// How long it took.
    pub duration_ms: i64,
    /// `full` or `incremental`.
    pub mode: String,
    /// Whether it only planned.
    pub dry_run: bool,
    /// How it ended.
    pub outcome: Outcome,
    /// The counts.
    pub counts: Counts,
    /// Why it stopped or failed.
    pub message: Option<String>,
    /// One line per user error (and, for dry runs, per planned change).
    pub details: Vec<String>,
}

pub(crate) async fn save(conn: &mut AnyConnection, r: &SyncReport) -> Result<(), Error> {
    let c = &r.counts;
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    sqlx::query(
        "INSERT INTO sync_reports (id, domain, started_at, duration_ms, mode, dry_run, outcome, seen, created, \
         updated, unchanged, deactivated, reactivated, skipped, errors, message, details) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(r.id.as_str())
    .bind(r.domain.as_str())
    .bind(r.started_at)
    .bind(r.duration_ms)
    .bind(r.mode.as_str())
    .bind(i64::from(r.dry_run))
    .bind(r.outcome.name())
    .bind(n(c.seen))
    .bind(n(c.created))
    .bind(n(c.updated))
    .bind(n(c.unchanged))
    .bind(n(c.deactivated))
    .bind(n(c.reactivated))
    .bind(n(c.skipped))
    .bind(n(c.errors))
    .bind(r.message.as_deref())
    .bind(r.details.iter().map(|d| d.replace('\n', " ")).collect::<Vec<_>>().join("\n"))
    .execute(&mut *conn)
    .await
    .map_err(Error::query("write the sync report"))?;
    Ok(())
}

pub(crate) async fn list(conn: &mut AnyConnection, domain: &str, limit: i64) -> Result<Vec<SyncReport>, Error> {
    let rows = sqlx::query(
        "SELECT id, domain, started_at, duration_ms, mode, dry_run, outcome, seen, created, updated, unchanged, \
         deactivated, reactivated, skipped, errors, message, details FROM sync_reports WHERE domain = $1 \
         ORDER BY started_at DESC, id DESC LIMIT $2",
    )
    .bind(domain)
    .bind(limit)
    .fetch_all(&mut *conn)
    .await
    .map_err(Error::query("read sync reports"))?;
    let u = |v: i64| u64::try_from(v).unwrap_or(0);
    rows.iter()
        .map(|r| {
            let details: Option<String> = r.try_get("details")?;
            Ok(SyncReport {
                id: r.try_get("id")?,
                domain: r.try_get("domain")?,
                started_at: r.try_get("started_at")?,
                duration_ms: r.try_get("duration_ms")?,
                mode: r.try_get("mode")?,
                dry_run: r.try_get::<i64, _>("dry_run")? != 0,
                outcome: Outcome::parse(&r.try_get::<String, _>("outcome")?),
                counts: Counts {
                    seen: u(r.try_get("seen")?),
                    created: u(r.try_get("created")?),
                    updated: u(r.try_get("updated")?),
                    unchanged: u(r.try_get("unchanged")?),
                    deactivated: u(r.try_get("deactivated")?),
                    reactivated: u(r.try_get("reactivated")?),
                    skipped: u(r.try_get("skipped")?),
                    errors: u(r.try_get("errors")?),
                },
                message: r.try_get("message")?,
                details: details
                    .filter(|d| !d.is_empty())
                    .map(|d| d.lines().map(str::to_owned).collect())
                    .unwrap_or_default(),
            })
        })
        .collect::<Result<_, sqlx::Error>>()
        .map_err(Error::query("read sync reports"))
}
