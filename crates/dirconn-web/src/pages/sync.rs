//! A domain's sync: a dry run shown as a diff (created, updated with the changed fields, deactivated,
//! errors) with the deactivation guard's verdict, "run now", and the last reports, every error listed at
//! the end of each.

use askama::Template;
use axum::{
    extract::{Path as UrlPath, State as AxState},
    response::IntoResponse,
};
use dirconn_host::{SyncOptions, sync_domain};
use dirconn_views::{SyncOutcome, SyncReportView};

use super::{Frame, Page, html, render_problem, when};
use crate::{Admin, Change, Fail, State};

/// A report as the page shows it: the diff lines by kind.
pub(crate) struct Shown {
    view: SyncReportView,
    started: String,
    created: Vec<String>,
    updated: Vec<String>,
    deactivated: Vec<String>,
    notes: Vec<String>,
    errors: Vec<String>,
}

impl Shown {
    fn new(view: SyncReportView) -> Shown {
        let mut s = Shown {
            started: when(view.started_at),
            created: Vec::new(),
            updated: Vec::new(),
            deactivated: Vec::new(),
            notes: Vec::new(),
            errors: Vec::new(),
            view,
        };
        for line in &s.view.details {
            let line = line.clone();
            if let Some(rest) = line.strip_prefix("create ") {
                s.created.push(rest.to_owned());
            } else if let Some(rest) = line.strip_prefix("update ") {
                s.updated.push(rest.to_owned());
            } else if let Some(rest) = line.strip_prefix("deactivate ") {
                s.deactivated.push(rest.to_owned());
            } else if let Some(rest) = line.strip_prefix("error: ") {
                s.errors.push(rest.to_owned());
            } else {
                s.notes.push(line);
            }
        }
        s
    }

    fn outcome(&self) -> &'static str {
        match self.view.outcome {
            SyncOutcome::Completed => "completed",
            SyncOutcome::Guarded => "stopped by the deactivation guard",
            SyncOutcome::Failed => "failed",
        }
    }
}

#[derive(Template)]
#[template(path = "sync.html")]
struct SyncPage {
    frame: Frame,
    domain: String,
    result: Option<Shown>,
    problem: String,
    reports: Vec<Shown>,
}

async fn render(web: &State, admin: &Admin, domain: &str, result: Option<Shown>, problem: String) -> Page {
    let live = web.service.live();
    let d = live.host.domain(domain)?;
    let reports = live.store.reports(&d.name, 10).await.map_err(|e| Fail::from(dirconn_host::Error::from(e)))?;
    let page = SyncPage {
        frame: Frame::new(admin, "Domains"),
        domain: d.name.clone(),
        result,
        problem,
        reports: reports.iter().map(|r| Shown::new(SyncReportView::from(r))).collect(),
    };
    Ok(html(&page))
}

/// The sync page.
pub(crate) async fn page(AxState(web): AxState<State>, admin: Admin, UrlPath(domain): UrlPath<String>) -> Page {
    render(&web, &admin, &domain, None, String::new()).await
}

/// A dry run (`dry_run`), or a sync now; `full` and `force` as the CLI's.
pub(crate) async fn run(AxState(web): AxState<State>, UrlPath(domain): UrlPath<String>, change: Change) -> Page {
    let on = |k: &str| change.get(k).is_some_and(|v| !v.is_empty());
    let opts = SyncOptions { dry_run: change.get("action") != Some("run"), full: on("full"), force: on("force") };
    let live = web.service.live();
    let name = live.host.domain(&domain)?.name.clone();
    tracing::info!(admin = %change.admin.session.who, domain = %name, ?opts, "sync asked for from the web pages");
    // On its own task, so that a browser going away does not cut the sync short.
    let task = tokio::spawn({
        let live = live.clone();
        let name = name.clone();
        async move { sync_domain(live.host.domain(&name)?, &live.store, opts, |_| {}).await }
    });
    let outcome = task.await.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    let (result, problem) = match outcome {
        Ok(report) => (Some(Shown::new(SyncReportView::from(&report))), String::new()),
        Err(err) => (None, render_problem(&dirconn_views::Refused::host(&err, None).problem)),
    };
    let page = render(&web, &change.admin, &name, result, problem).await?;
    Ok(page.into_response())
}
