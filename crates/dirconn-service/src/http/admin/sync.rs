//! The sync routes: run a domain's sync to completion within the request (`dirconn sync`), and read its
//! reports (`dirconn sync-report`).

use axum::{Json, extract::State};
use dirconn_host::{SyncOptions, sync_domain};
use dirconn_views::{Refused, SyncReportView};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Request, bad_query};
use crate::http::{Admin, ApiError, AppState, OptionalBody, Params, PathValue};

pub(super) fn routes(api: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    api.routes(routes!(sync)).routes(routes!(reports))
}

/// How to sync (every option off when the body is left out).
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SyncBody {
    /// Plan only: report what would change, write nothing but the report.
    #[serde(default)]
    dry_run: bool,
    /// List every user even when an incremental sync is possible.
    #[serde(default)]
    full: bool,
    /// Deactivate accounts even beyond the deactivation guard.
    #[serde(default)]
    force: bool,
}

/// Syncs a domain's directory users into the account store (`dirconn sync`).
///
/// In one transaction; answers with the report when it is done, and runs to its end even if the client
/// goes away. A guard stop (409, `DC-705`) or a failure midway (`DC-706`, with the status of its cause)
/// writes nothing but a report (see the sync reports).
#[utoipa::path(post, path = "/v1/domains/{domain}/sync", tag = "admin",
    params(("domain" = String, Path, description = "The mail domain")),
    request_body(content = Option<SyncBody>, description = "Optional: dry_run, full, force (all false by default)"),
    responses(
        (status = 200, description = "The sync completed (per-user errors are counted)", body = SyncReportView),
        (status = 400, description = "The body is refused (DC-812)", body = Refused),
        (status = 403, description = "Not an admin client (DC-811)", body = Refused),
        (status = 404, description = "No such domain (DC-010)", body = Refused),
        (status = 409, description = "The deactivation guard stopped it (DC-705)", body = Refused),
        (status = 503, description = "The directory or the store failed (DC-706, DC-6xx)", body = Refused),
    ))]
async fn sync(
    State(service): State<AppState>,
    admin: Admin,
    PathValue(domain): PathValue<String>,
    OptionalBody(body): OptionalBody<SyncBody>,
) -> Result<Json<SyncReportView>, ApiError> {
    let r = Request::new(&service);
    let name = r.domain(&domain)?.name.clone();
    let body = body.unwrap_or_default();
    let opts = SyncOptions { dry_run: body.dry_run, full: body.full, force: body.force };
    tracing::info!(client = %admin.0.name, domain = %name, ?opts, "sync asked for");
    // On its own task, so that a client hanging up does not cut the sync short.
    let live = r.live.clone();
    let task = tokio::spawn(async move {
        let domain = live.host.domain(&name)?;
        sync_domain(domain, &live.store, opts, |_| {}).await
    });
    let outcome = task.await.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    let report = outcome.map_err(|e| r.fail(&e))?;
    Ok(Json(SyncReportView::from(&report)))
}

/// How many reports.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReportsQuery {
    /// How many reports, newest first (1 to 1000, default 5).
    last: Option<i64>,
}

/// The last sync reports of a domain, newest first (`dirconn sync-report`).
#[utoipa::path(get, path = "/v1/domains/{domain}/sync-reports", tag = "admin",
    params(("domain" = String, Path, description = "The mail domain"), ReportsQuery),
    responses(
        (status = 200, description = "The reports, newest first", body = Vec<SyncReportView>),
        (status = 400, description = "A bad query (DC-812)", body = Refused),
        (status = 403, description = "Not an admin client (DC-811)", body = Refused),
        (status = 404, description = "No such domain (DC-010)", body = Refused),
        (status = 503, description = "The store is unreachable", body = Refused),
    ))]
async fn reports(
    State(service): State<AppState>,
    _admin: Admin,
    PathValue(domain): PathValue<String>,
    Params(query): Params<ReportsQuery>,
) -> Result<Json<Vec<SyncReportView>>, ApiError> {
    let last = query.last.unwrap_or(5);
    if !(1..=1000).contains(&last) {
        return Err(bad_query(format!("last must be from 1 to 1000, not {last}")));
    }
    let r = Request::new(&service);
    let domain = r.domain(&domain)?;
    let list = r.live.store.reports(&domain.name, last).await.map_err(|e| r.fail(&e.into()))?;
    Ok(Json(list.iter().map(SyncReportView::from).collect()))
}
