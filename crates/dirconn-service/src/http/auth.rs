//! The mail-server routes: `POST /v1/auth` (log a user in) and `GET /v1/users/{address}` (does this address
//! exist and is it active: LMTP delivery, userdb).

use std::net::IpAddr;

use axum::{
    Json,
    extract::{RawQuery, State},
    http::StatusCode,
};
use dirconn_views::{Accepted, Refused, UserFound};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use zeroize::Zeroizing;

use super::{ApiError, AppState, Body, MailServer, PathValue};
use crate::core::{Attempt, Interface, Verdict};

pub(super) fn routes(api: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    api.routes(routes!(auth)).routes(routes!(user))
}

/// A login attempt as a mail server forwards it.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthBody {
    /// The login as the user typed it (`alice`, `alice@example.org`, `EXAMPLE\alice`).
    login: String,
    /// The password.
    #[schema(value_type = String, format = Password)]
    password: Zeroizing<String>,
    /// The mail server's service (`imap`, `pop3`, `smtp`, `submission`…).
    #[serde(default)]
    service: Option<String>,
    /// The client's IP address.
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "192.0.2.10")]
    client_ip: Option<IpAddr>,
    /// The local IP address the client connected to (routes bare logins to a domain's `bind_ip`).
    #[serde(default)]
    #[schema(value_type = Option<String>, example = "192.0.2.1")]
    local_ip: Option<IpAddr>,
    /// Whether the client's connection is encrypted.
    #[serde(default)]
    secured: bool,
}

/// Logs a user in. 200: the canonical account, which the mail server must use as the mailbox name. 401:
/// denied (wrong password, locked, unknown…) with what the user is told. 429 with `Retry-After`: held back by
/// the throttle (DC-819) without contacting the directory. 503 with `Retry-After`: the directory or the store
/// is unreachable: a temporary failure, never a wrong password.
#[utoipa::path(post, path = "/v1/auth", tag = "mail-server", request_body = AuthBody,
    responses(
        (status = 200, description = "Logged in", body = Accepted),
        (status = 400, description = "The body is not valid JSON of this shape (DC-812)", body = Refused),
        (status = 401, description = "Denied, or no valid token (DC-810)", body = Refused),
        (status = 413, description = "The body is over max_body_bytes (DC-813)", body = Refused),
        (status = 429, description = "Held back by the throttle (DC-819): retry after Retry-After seconds", body = Refused),
        (status = 503, description = "Temporary failure: retry after Retry-After seconds", body = Refused),
    ))]
async fn auth(
    State(service): State<AppState>,
    _caller: MailServer,
    Body(body): Body<AuthBody>,
) -> Result<Json<Accepted>, ApiError> {
    let attempt = Attempt {
        login: body.login,
        password: body.password,
        service: body.service.unwrap_or_else(|| "http".into()),
        client_ip: body.client_ip,
        local_ip: body.local_ip,
        secured: body.secured,
        interface: Interface::Http,
    };
    let retry = service.live().config.retry_after_seconds;
    match service.authenticate(attempt).await {
        Verdict::Accepted(a) => Ok(Json(*a)),
        Verdict::Denied(r) => Err(ApiError::new(StatusCode::UNAUTHORIZED, r)),
        Verdict::Temporary(r) => Err(ApiError::temporary(r, retry)),
        Verdict::Throttled(r, wait) => Err(ApiError::throttled(r, wait)),
    }
}

/// Where the address was received, for domains bound to local IPs.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    /// The local IP address (routes a bare login to the domain whose `bind_ip` lists it).
    #[param(value_type = Option<String>)]
    local_ip: Option<IpAddr>,
}

impl UserQuery {
    fn parse(query: Option<&str>) -> Result<UserQuery, crate::Error> {
        let mut q = UserQuery { local_ip: None };
        for pair in query.unwrap_or_default().split('&').filter(|p| !p.is_empty()) {
            let bad = |problem: String| crate::Error::BadRequest { problem };
            match pair.split_once('=') {
                Some(("local_ip", v)) => {
                    let v = super::nginx::percent_decode(v);
                    q.local_ip = Some(v.parse().map_err(|_| bad(format!("local_ip `{v}` is not an IP address")))?);
                }
                _ => return Err(bad(format!("unknown query parameter `{pair}`"))),
            }
        }
        Ok(q)
    }
}

/// Whether an address is an active account. 200 with the canonical account and the userdb fields; 404 when
/// it is unknown or deactivated; 503 with `Retry-After` when the store or the directory is unreachable.
#[utoipa::path(get, path = "/v1/users/{address}", tag = "mail-server",
    params(("address" = String, Path, description = "`user@domain`, or a login routed as logins are"), UserQuery),
    responses(
        (status = 200, description = "An active account", body = UserFound),
        (status = 401, description = "No valid token (DC-810)", body = Refused),
        (status = 404, description = "No such active account", body = Refused),
        (status = 503, description = "Temporary failure", body = Refused),
    ))]
async fn user(
    State(service): State<AppState>,
    _caller: MailServer,
    PathValue(address): PathValue<String>,
    RawQuery(query): RawQuery,
) -> Result<Json<UserFound>, ApiError> {
    let q = UserQuery::parse(query.as_deref())?;
    let retry = service.live().config.retry_after_seconds;
    match service.user(&address, q.local_ip).await {
        Ok(found) => Ok(Json(found)),
        Err((true, r)) => Err(ApiError::temporary(r, retry)),
        Err((false, r)) => Err(ApiError::new(StatusCode::NOT_FOUND, r)),
    }
}
