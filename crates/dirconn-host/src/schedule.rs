//! The scheduler: each domain with a `sync_schedule` is synced on its interval (once at start, then after
//! each interval) or at its cron times, one sync per domain at a time, until the host stops. With a
//! [`Lease`] (nodes sharing a PostgreSQL store), each scheduled sync runs once across the nodes: the node that
//! claims a due sync leads it, renewing its lease as it goes; the others wait, and take over when a leader's
//! lease ends without a release (it died: its sync's transaction was rolled back).

use std::{future::Future, time::Duration};

use dirconn_store::{Claim, Store};

use crate::{Domain, Host, Schedule, SyncOptions, sync_domain};

/// This node's part in a cluster: its name and how long its lease of a sync lasts unless renewed.
#[derive(Debug, Clone)]
pub struct Lease {
    /// The node's name (unique per process).
    pub node: String,
    /// The lease's length; renewed every third of it while the sync runs.
    pub ttl: Duration,
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Runs one sync and logs its outcome.
async fn sync_once(domain: &Domain, store: &Store, node: &str) {
    tracing::info!(domain = %domain.name, node, "scheduled sync started");
    match sync_domain(domain, store, SyncOptions::default(), |_| {}).await {
        Ok(report) => {
            tracing::info!(domain = %domain.name, node, created = report.counts.created, updated = report.counts.updated, deactivated = report.counts.deactivated, errors = report.counts.errors, "scheduled sync done")
        }
        Err(err) => tracing::error!(domain = %domain.name, node, code = err.code(), "scheduled sync failed: {err}"),
    }
}

/// One domain's schedule on a node of a cluster: claim each due sync, run it under a renewed lease, release
/// it with the next due time; otherwise wait for the holder or the due time (at most the lease's length, so
/// a dead leader is noticed).
async fn leased(domain: &Domain, schedule: &Schedule, store: &Store, lease: &Lease) {
    let first_due = match schedule {
        Schedule::Every(_) => 0,
        Schedule::Cron(..) => dirconn_store::now_ms() + ms(schedule.wait_from(chrono::Utc::now())),
    };
    loop {
        let now = dirconn_store::now_ms();
        let wait = match store.claim_sync(&domain.name, &lease.node, now, ms(lease.ttl), first_due).await {
            Ok(Claim::Mine) => {
                let renew = async {
                    loop {
                        tokio::time::sleep(lease.ttl / 3).await;
                        let until = dirconn_store::now_ms() + ms(lease.ttl);
                        match store.renew_sync(&domain.name, &lease.node, until).await {
                            Ok(true) => {}
                            Ok(false) => tracing::warn!(domain = %domain.name, "another node took this sync's lease"),
                            Err(err) => {
                                tracing::warn!(domain = %domain.name, code = err.code(), "the sync lease was not renewed: {err}")
                            }
                        }
                    }
                };
                tokio::select! {
                    () = sync_once(domain, store, &lease.node) => {}
                    () = renew => {}
                }
                let next = dirconn_store::now_ms() + ms(schedule.wait_from(chrono::Utc::now()));
                if let Err(err) = store.release_sync(&domain.name, &lease.node, next).await {
                    tracing::warn!(domain = %domain.name, code = err.code(), "the sync lease was not released: {err}");
                }
                continue;
            }
            Ok(Claim::Held { holder, until }) => {
                tracing::debug!(domain = %domain.name, holder, "another node leads this sync");
                until - now
            }
            Ok(Claim::NotDue { due }) => due - now,
            Err(err) => {
                tracing::warn!(domain = %domain.name, code = err.code(), "the sync lease cannot be read: {err}");
                ms(lease.ttl)
            }
        };
        let wait = Duration::from_millis(u64::try_from(wait.clamp(50, ms(lease.ttl).max(50))).unwrap_or(1000));
        tokio::time::sleep(wait).await;
    }
}

/// Runs the scheduled syncs of every enabled domain until `stop` completes; with a `lease`, once across the
/// nodes that share the store.
pub async fn run(host: &Host, store: &Store, lease: Option<Lease>, stop: impl Future<Output = ()>) {
    let scheduled: Vec<_> =
        host.domains().iter().filter(|d| d.enabled()).filter_map(|d| Some((d, d.policy.schedule.clone()?))).collect();
    if scheduled.is_empty() {
        tracing::warn!("no domain has a sync_schedule: nothing to run (set [domain.accounts] sync_schedule)");
        stop.await;
        return;
    }
    let lease = &lease;
    let loops = scheduled.into_iter().map(|(domain, schedule)| async move {
        tracing::info!(domain = %domain.name, schedule = %schedule, "sync scheduled");
        if let Some(lease) = lease {
            return leased(domain, &schedule, store, lease).await;
        }
        // An interval schedule syncs once at start, then every interval; a cron one only at its times.
        let mut first = true;
        loop {
            if !(first && matches!(schedule, Schedule::Every(_))) {
                tokio::time::sleep(schedule.wait_from(chrono::Utc::now())).await;
            }
            first = false;
            sync_once(domain, store, "-").await;
        }
    });
    let all = futures::future::join_all(loops);
    tokio::select! {
        _ = all => {}
        () = stop => tracing::info!("stopping the scheduler"),
    }
}
