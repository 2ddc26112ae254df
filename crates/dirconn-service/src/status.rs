//! The metrics and health listener (no token; bind it to loopback or a management network): `/metrics`,
//! `/healthz` (the process answers) and `/readyz` (the store answers, plugins are loaded, and each enabled
//! domain's directory answered recently), and the prober that asks an idle directory a cheap question so
//! that readiness reflects it.

use std::{fmt::Write as _, sync::Arc, time::Duration};

use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse, routing::get};
use serde::Serialize;

use crate::{Service, metrics::label};

/// One readiness check.
#[derive(Debug, Serialize)]
pub struct Check {
    /// What was checked (`store`, `plugins`, `directory:example.org`).
    pub name: String,
    /// Whether it passed.
    pub ok: bool,
    /// What was seen.
    pub detail: String,
}

/// The `/readyz` answer.
#[derive(Debug, Serialize)]
pub struct Readiness {
    /// Whether every check passed.
    pub ready: bool,
    /// The checks.
    pub checks: Vec<Check>,
}

/// The router of the metrics listener.
pub fn router(service: Arc<Service>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(service)
}

/// How recent a directory's answer must be for readiness: three probe intervals.
fn window(service: &Service) -> Duration {
    service.live().config.probe_interval * 3
}

/// Runs the readiness checks.
pub async fn readiness(service: &Service) -> Readiness {
    let live = service.live();
    let mut checks = Vec::new();
    let store = tokio::time::timeout(Duration::from_secs(3), live.store.ping()).await;
    checks.push(match store {
        Ok(Ok(())) => Check { name: "store".into(), ok: true, detail: "answered".into() },
        Ok(Err(e)) => Check { name: "store".into(), ok: false, detail: e.to_string() },
        Err(_) => Check { name: "store".into(), ok: false, detail: "no answer within 3 s".into() },
    });
    let registry = live.host.registry();
    checks.push(Check {
        name: "plugins".into(),
        ok: !registry.loaded.is_empty(),
        detail: format!("{} loaded, {} refused", registry.loaded.len(), registry.refused.len()),
    });
    for d in live.host.domains().iter().filter(|d| d.enabled()) {
        let ok = service.health.recent(&d.name, window(service));
        let detail = if ok { "answered recently" } else { "no answer recently" };
        checks.push(Check { name: format!("directory:{}", d.name), ok, detail: detail.into() });
    }
    Readiness { ready: checks.iter().all(|c| c.ok), checks }
}

async fn readyz(State(service): State<Arc<Service>>) -> impl IntoResponse {
    let r = readiness(&service).await;
    (if r.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(r))
}

async fn metrics(State(service): State<Arc<Service>>) -> impl IntoResponse {
    let live = service.live();
    let mut extra = String::new();
    extra.push_str("# HELP dirconn_directory_up Whether the domain's directory answered recently.\n");
    extra.push_str("# TYPE dirconn_directory_up gauge\n");
    for d in live.host.domains().iter().filter(|d| d.enabled()) {
        let up = u8::from(service.health.recent(&d.name, window(&service)));
        let _ = writeln!(extra, "dirconn_directory_up{{domain=\"{}\"}} {up}", label(&d.name));
    }
    extra.push_str("# HELP dirconn_sync_last_run_timestamp_seconds When the domain's last sync started.\n");
    extra.push_str("# TYPE dirconn_sync_last_run_timestamp_seconds gauge\n");
    let mut ok_lines = String::from(
        "# HELP dirconn_sync_last_ok Whether the domain's last sync succeeded.\n# TYPE dirconn_sync_last_ok gauge\n",
    );
    for d in live.host.domains() {
        if let Ok(reports) = live.store.reports(&d.name, 1).await
            && let Some(r) = reports.first()
        {
            let name = label(&d.name);
            let _ = writeln!(extra, "dirconn_sync_last_run_timestamp_seconds{{domain=\"{name}\"}} {}", r.started_at);
            let ok = u8::from(r.outcome.name() == "ok");
            let _ = writeln!(ok_lines, "dirconn_sync_last_ok{{domain=\"{name}\"}} {ok}");
        }
    }
    extra.push_str(&ok_lines);
    let _ = writeln!(
        extra,
        "# HELP dirconn_plugins_loaded Plugins loaded.\n# TYPE dirconn_plugins_loaded gauge\ndirconn_plugins_loaded {}",
        live.host.registry().loaded.len()
    );
    ([("content-type", "text/plain; version=0.0.4")], service.metrics.render(&extra))
}

/// Asks each enabled domain whose directory has not answered for a probe interval a cheap question (a
/// lookup of a login nobody has), until the task is dropped.
pub async fn probe_loop(service: Arc<Service>) {
    loop {
        let live = service.live();
        let interval = live.config.probe_interval;
        for d in live.host.domains().iter().filter(|d| d.enabled()) {
            if service.health.recent(&d.name, interval) {
                continue;
            }
            match d.lookup("dirconn-readiness-probe").await {
                Err(e) if crate::core::is_temporary(&e) => {
                    tracing::warn!(domain = %d.name, code = e.code(), "the directory did not answer the probe: {e}");
                    service.health.failed(&d.name);
                }
                _ => service.health.answered(&d.name),
            }
        }
        drop(live);
        tokio::time::sleep(interval).await;
    }
}
