//! The audit route: the authentication attempts of every interface, newest first (`dirconn audit`).

use std::time::Duration;

use axum::{Json, extract::State};
use dirconn_store::AuditQuery;
use dirconn_views::{AUDIT_DEFAULT_LAST, AUDIT_MAX_LAST, AuditRecordView, Refused};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{Request, bad_query};
use crate::http::{Admin, ApiError, AppState, Params};

pub(super) fn routes(api: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    api.routes(routes!(audit))
}

/// Which attempts: every filter given must match.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// Attempts routed to this domain.
    domain: Option<String>,
    /// Attempts whose login as typed, or whose account (`login@domain`), is this.
    login: Option<String>,
    /// Attempts with this outcome: `ok` or an error code (`DC-203`).
    outcome: Option<String>,
    /// Attempts within this long before now (`90s`, `15m`, `1h`, `7d`).
    since: Option<String>,
    /// At most this many, the newest (1 to 10000, default 50).
    last: Option<i64>,
}

/// The store's query for these parameters, at `now_ms`; what is wrong with them otherwise.
fn query(p: AuditParams, now_ms: i64) -> Result<AuditQuery, String> {
    let limit = p.last.unwrap_or(AUDIT_DEFAULT_LAST);
    if !(1..=AUDIT_MAX_LAST).contains(&limit) {
        return Err(format!("last must be from 1 to {AUDIT_MAX_LAST}, not {limit}"));
    }
    let since_ms = match p.since.as_deref() {
        None => None,
        Some(text) => {
            let age: Duration = humantime::parse_duration(text)
                .map_err(|e| format!("since `{text}` is not a duration like 15m, 1h or 7d ({e})"))?;
            Some(now_ms.saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX)))
        }
    };
    Ok(AuditQuery { domain: p.domain, login: p.login, outcome: p.outcome, since_ms, limit })
}

/// The authentication audit, newest first (`dirconn audit`).
///
/// One record per login attempt of every interface (`http`, `dovecot`, `nginx`, the CLI's `login` as
/// `cli`), never a password. Attempts answered before this request are included: the audit rows still
/// queued are written first.
#[utoipa::path(get, path = "/v1/audit", tag = "admin", params(AuditParams),
    responses(
        (status = 200, description = "The attempts, newest first", body = Vec<AuditRecordView>),
        (status = 400, description = "A bad query (DC-812)", body = Refused),
        (status = 403, description = "Not an admin client (DC-811)", body = Refused),
        (status = 404, description = "No such domain (DC-010)", body = Refused),
        (status = 503, description = "The store is unreachable", body = Refused),
    ))]
async fn audit(
    State(service): State<AppState>,
    _admin: Admin,
    Params(params): Params<AuditParams>,
) -> Result<Json<Vec<AuditRecordView>>, ApiError> {
    let r = Request::new(&service);
    let mut q = query(params, dirconn_store::now_ms()).map_err(bad_query)?;
    if let Some(d) = &q.domain {
        q.domain = Some(r.domain(d)?.name.clone());
    }
    service.flush().await;
    let rows = r.live.store.audit(&q).await.map_err(|e| r.fail(&e.into()))?;
    Ok(Json(rows.iter().map(AuditRecordView::from).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_become_the_stores_query() {
        let p = AuditParams { login: Some("bob".into()), since: Some("1h".into()), ..AuditParams::default() };
        let q = query(p, 10_000_000).unwrap();
        assert_eq!((q.since_ms, q.limit, q.login.as_deref()), (Some(10_000_000 - 3_600_000), 50, Some("bob")));
        let bad = query(AuditParams { last: Some(0), ..AuditParams::default() }, 0).unwrap_err();
        assert!(bad.contains("from 1 to 10000"), "{bad}");
        let bad = query(AuditParams { since: Some("yesterday".into()), ..AuditParams::default() }, 0).unwrap_err();
        assert!(bad.contains("`yesterday`"), "{bad}");
    }
}
