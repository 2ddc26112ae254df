//! The scheduler: each domain with a `sync_schedule` is synced on its interval (once at start, then after
//! each interval) or at its cron times, one sync per domain at a time, until the host stops.

use std::future::Future;

use dirconn_store::Store;

use crate::{Host, Schedule, SyncOptions, sync_domain};

/// Runs the scheduled syncs of every enabled domain until `stop` completes.
pub async fn run(host: &Host, store: &Store, stop: impl Future<Output = ()>) {
    let scheduled: Vec<_> =
        host.domains().iter().filter(|d| d.enabled()).filter_map(|d| Some((d, d.policy.schedule.clone()?))).collect();
    if scheduled.is_empty() {
        tracing::warn!("no domain has a sync_schedule: nothing to run (set [domain.accounts] sync_schedule)");
        stop.await;
        return;
    }
    let loops = scheduled.into_iter().map(|(domain, schedule)| async move {
        tracing::info!(domain = %domain.name, schedule = %schedule, "sync scheduled");
        // An interval schedule syncs once at start, then every interval; a cron one only at its times.
        let mut first = true;
        loop {
            if !(first && matches!(schedule, Schedule::Every(_))) {
                tokio::time::sleep(schedule.wait_from(chrono::Utc::now())).await;
            }
            first = false;
            match sync_domain(domain, store, SyncOptions::default(), |_| {}).await {
                Ok(report) => tracing::info!(domain = %domain.name, created = report.counts.created, updated = report.counts.updated, deactivated = report.counts.deactivated, errors = report.counts.errors, "scheduled sync done"),
                Err(err) => tracing::error!(domain = %domain.name, code = err.code(), "scheduled sync failed: {err}"),
            }
        }
    });
    let all = futures::future::join_all(loops);
    tokio::select! {
        _ = all => {}
        () = stop => tracing::info!("stopping the scheduler"),
    }
}
