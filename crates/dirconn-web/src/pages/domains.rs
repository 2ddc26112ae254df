//! The domains: each with its connector, enabled state, last connection test (from these pages), last
//! sync and its recent login outcomes.

use askama::Template;
use axum::extract::State as AxState;
use dirconn_store::AuditQuery;

use super::{Frame, Page, html, when};
use crate::{Admin, Fail, State};

pub(crate) struct Row {
    name: String,
    display_name: String,
    connector: String,
    plugin: String,
    enabled: bool,
    last_test: String,
    last_sync: String,
    logins: String,
}

#[derive(Template)]
#[template(path = "domains.html")]
struct Domains {
    frame: Frame,
    config: String,
    domains: Vec<Row>,
}

/// The domains page.
pub(crate) async fn list(AxState(web): AxState<State>, admin: Admin) -> Page {
    let live = web.service.live();
    web.service.flush().await;
    let mut rows = Vec::new();
    for d in live.host.domains() {
        let last_test = match web.last_tests.lock().unwrap_or_else(|e| e.into_inner()).get(&d.name) {
            Some((at, true)) => format!("passed, {}", when(*at)),
            Some((at, false)) => format!("failed, {}", when(*at)),
            None => "not tested from these pages".to_owned(),
        };
        let reports = live.store.reports(&d.name, 1).await.map_err(|e| Fail::from(dirconn_host::Error::from(e)))?;
        let last_sync = reports.first().map_or_else(
            || "never".to_owned(),
            |r| {
                format!(
                    "{} ({}{}), {}",
                    r.outcome.name(),
                    r.mode,
                    if r.dry_run { ", dry run" } else { "" },
                    when(r.started_at)
                )
            },
        );
        let q = AuditQuery { domain: Some(d.name.clone()), login: None, outcome: None, since_ms: None, limit: 20 };
        let audit = live.store.audit(&q).await.map_err(|e| Fail::from(dirconn_host::Error::from(e)))?;
        let ok = audit.iter().filter(|r| r.outcome == "ok").count();
        let logins =
            if audit.is_empty() { "none yet".to_owned() } else { format!("{ok} of the last {} accepted", audit.len()) };
        rows.push(Row {
            name: d.name.clone(),
            display_name: d.display_name.clone(),
            connector: d.kind.clone(),
            plugin: d.plugin.clone(),
            enabled: d.enabled(),
            last_test,
            last_sync,
            logins,
        });
    }
    let page = Domains {
        frame: Frame::new(&admin, "Domains"),
        config: live.host.config().path.display().to_string(),
        domains: rows,
    };
    Ok(html(&page))
}
