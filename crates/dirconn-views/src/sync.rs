//! Sync reports: what each sync run did.

use dirconn_store::{Counts, Outcome, SyncReport};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// How a sync run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum SyncOutcome {
    /// It ran to the end (per-user errors are counted).
    #[serde(rename = "completed")]
    Completed,
    /// The deactivation guard stopped it; nothing was written.
    #[serde(rename = "stopped by the guard")]
    Guarded,
    /// The directory or the store failed midway; nothing was written.
    #[serde(rename = "failed")]
    Failed,
}

impl From<Outcome> for SyncOutcome {
    fn from(outcome: Outcome) -> SyncOutcome {
        match outcome {
            Outcome::Completed => SyncOutcome::Completed,
            Outcome::Guarded => SyncOutcome::Guarded,
            Outcome::Failed => SyncOutcome::Failed,
        }
    }
}

/// What a sync run counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CountsView {
    /// Users read from the directory.
    pub seen: u64,
    /// Accounts created.
    pub created: u64,
    /// Accounts changed.
    pub updated: u64,
    /// Accounts already up to date.
    pub unchanged: u64,
    /// Accounts deactivated.
    pub deactivated: u64,
    /// Accounts reactivated.
    pub reactivated: u64,
    /// Users skipped (outside the mapped groups, no login…).
    pub skipped: u64,
    /// Users whose account could not be written.
    pub errors: u64,
}

impl From<&Counts> for CountsView {
    fn from(c: &Counts) -> CountsView {
        CountsView {
            seen: c.seen,
            created: c.created,
            updated: c.updated,
            unchanged: c.unchanged,
            deactivated: c.deactivated,
            reactivated: c.reactivated,
            skipped: c.skipped,
            errors: c.errors,
        }
    }
}

/// One sync run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SyncReportView {
    /// The run's id.
    pub id: String,
    /// The mail domain.
    pub domain: String,
    /// When it started (Unix seconds).
    pub started_at: i64,
    /// How long it took.
    pub duration_ms: i64,
    /// `full` or `incremental`.
    #[schema(example = "incremental")]
    pub mode: String,
    /// Whether it only planned (wrote nothing but this report).
    pub dry_run: bool,
    /// How it ended.
    pub outcome: SyncOutcome,
    /// Why it stopped or failed.
    pub message: Option<String>,
    /// One line per user error (and, for dry runs, per planned change).
    pub details: Vec<String>,
    /// The counts.
    pub counts: CountsView,
}

impl From<&SyncReport> for SyncReportView {
    fn from(r: &SyncReport) -> SyncReportView {
        SyncReportView {
            id: r.id.clone(),
            domain: r.domain.clone(),
            started_at: r.started_at,
            duration_ms: r.duration_ms,
            mode: r.mode.clone(),
            dry_run: r.dry_run,
            outcome: r.outcome.into(),
            message: r.message.clone(),
            details: r.details.clone(),
            counts: (&r.counts).into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{keys, schema_keys, set};

    #[test]
    fn outcomes_have_the_stored_names() {
        for outcome in [Outcome::Completed, Outcome::Guarded, Outcome::Failed] {
            assert_eq!(serde_json::to_value(SyncOutcome::from(outcome)).unwrap(), outcome.name());
        }
    }

    #[test]
    fn a_report_has_its_counts() {
        let report = SyncReport {
            id: "r1".into(),
            domain: "a.org".into(),
            started_at: 1_700_000_000,
            duration_ms: 12,
            mode: "full".into(),
            dry_run: true,
            outcome: Outcome::Completed,
            counts: Counts { seen: 5, created: 4, ..Counts::default() },
            message: None,
            details: vec!["create bob".into()],
        };
        let view = SyncReportView::from(&report);
        let expected =
            ["id", "domain", "started_at", "duration_ms", "mode", "dry_run", "outcome", "message", "details", "counts"];
        assert_eq!(keys(&view), set(&expected));
        assert_eq!(schema_keys::<SyncReportView>(), set(&expected));
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!((json["outcome"].as_str(), json["dry_run"].as_bool()), (Some("completed"), Some(true)));
        assert_eq!(
            json["counts"],
            serde_json::json!({ "seen": 5, "created": 4, "updated": 0, "unchanged": 0, "deactivated": 0,
                "reactivated": 0, "skipped": 0, "errors": 0 })
        );
    }
}
