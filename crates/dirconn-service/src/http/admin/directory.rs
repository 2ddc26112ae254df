//! The directory routes: plugins, domains, connection and login tests, lookups, attributes, filters, and
//! directory passwords (reset or change). The views are those of `dirconn plugins`, `domains`,
//! `test-connection`, `test-auth`, `lookup`, `attributes`, `filter` and `passwd`.

use std::time::Instant;

use abi_stable::std_types::ROption;
use axum::{Json, extract::State};
use dirconn_abi::ClientContext;
use dirconn_views::{
    AttributesView, AuthView, DomainsView, FilterView, LookupView, PasswordOperation, PasswordView, PluginsView,
    Refusal, Refused, TestReportView,
};
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};
use zeroize::Zeroizing;

use super::{Request, bad_body};
use crate::http::{Admin, ApiError, AppState, Body, OptionalBody, PathValue};

pub(super) fn routes(api: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    api.routes(routes!(plugins))
        .routes(routes!(domains))
        .routes(routes!(test_connection))
        .routes(routes!(test_auth))
        .routes(routes!(lookup))
        .routes(routes!(attributes))
        .routes(routes!(filter))
        .routes(routes!(password))
}

/// What the directory is told about an administrator's test login.
fn api_client() -> ClientContext {
    ClientContext { address: ROption::RNone, protocol: ROption::RSome("api".into()) }
}

/// The loaded plugins and the files refused (`dirconn plugins`).
#[utoipa::path(get, path = "/v1/plugins", tag = "admin",
    responses(
        (status = 200, description = "The plugins", body = PluginsView),
        (status = 401, description = "No valid token (DC-810)", body = Refused),
        (status = 403, description = "Not an admin client (DC-811)", body = Refused),
    ))]
async fn plugins(State(service): State<AppState>, _admin: Admin) -> Json<PluginsView> {
    let r = Request::new(&service);
    Json(PluginsView::new(&r.live.host.config().plugin_dir, r.live.host.registry()))
}

/// The configured domains and their connectors (`dirconn domains`).
#[utoipa::path(get, path = "/v1/domains", tag = "admin",
    responses(
        (status = 200, description = "The domains, in the configuration's order", body = DomainsView),
        (status = 401, description = "No valid token (DC-810)", body = Refused),
        (status = 403, description = "Not an admin client (DC-811)", body = Refused),
    ))]
async fn domains(State(service): State<AppState>, _admin: Admin) -> Json<DomainsView> {
    Json(DomainsView::from(&Request::new(&service).live.host))
}

/// Optionally, a user to look up (and, with a password, to bind as) after the service account's stages.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestConnectionBody {
    /// Also look this user up.
    #[serde(default)]
    login: Option<String>,
    /// And bind as them with this password (needs `login`).
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    password: Option<Zeroizing<String>>,
}

/// Tests a domain's directory stage by stage (`dirconn test-connection`).
///
/// URL, resolve, TCP, TLS, service bind, search base, filter, and with a `login` the user's lookup (and
/// with its `password`, bind). 200 with the report even when a stage failed: its `ok` is false and the
/// stage carries the error.
#[utoipa::path(post, path = "/v1/domains/{domain}/test-connection", tag = "admin",
    params(("domain" = String, Path, description = "The mail domain")),
    request_body(content = Option<TestConnectionBody>, description = "Optional: a user to look up and bind as"),
    responses(
        (status = 200, description = "The report, stage by stage", body = TestReportView),
        (status = 400, description = "The body is refused (DC-812)", body = Refused),
        (status = 403, description = "Not an admin client (DC-811)", body = Refused),
        (status = 404, description = "No such domain (DC-010)", body = Refused),
    ))]
async fn test_connection(
    State(service): State<AppState>,
    _admin: Admin,
    PathValue(domain): PathValue<String>,
    OptionalBody(body): OptionalBody<TestConnectionBody>,
) -> Result<Json<TestReportView>, ApiError> {
    let r = Request::new(&service);
    let domain = r.domain(&domain)?;
    let (login, password) = body.map_or((None, None), |b| (b.login, b.password));
    if password.is_some() && login.is_none() {
        return Err(bad_body("a password needs its login"));
    }
    let report = domain
        .test_connection(login.as_deref(), password.as_deref().map(String::as_str))
        .await
        .map_err(|e| r.fail(&e))?;
    Ok(Json(TestReportView::new(&domain.name, &report)))
}

/// A login and password to test.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestAuthBody {
    /// The login within the domain.
    login: String,
    /// The password.
    #[schema(value_type = String, format = Password)]
    password: Zeroizing<String>,
}

/// Tests a login against the domain's directory (`dirconn test-auth`).
///
/// The directory only, not the account store; shows what the directory returned. A refusal is the CLI's
/// refusal view, with the status of its kind: 422 denied, 404 unknown user, 503 (with `Retry-After`)
/// unreachable.
#[utoipa::path(post, path = "/v1/domains/{domain}/test-auth", tag = "admin",
    params(("domain" = String, Path, description = "The mail domain")),
    request_body = TestAuthBody,
    responses(
        (status = 200, description = "Accepted: the directory's entry", body = AuthView),
        (status = 403, description = "Not an admin client (DC-811)", body = Refused),
        (status = 404, description = "No such domain or user", body = Refusal),
        (status = 422, description = "Denied (wrong password, locked…)", body = Refusal),
        (status = 503, description = "The directory is unreachable", body = Refusal),
    ))]
async fn test_auth(
    State(service): State<AppState>,
    _admin: Admin,
    PathValue(domain): PathValue<String>,
    Body(body): Body<TestAuthBody>,
) -> Result<Json<AuthView>, ApiError> {
    let r = Request::new(&service);
    let domain = r.domain(&domain)?;
    let started = Instant::now();
    match domain.authenticate(&body.login, &body.password, api_client()).await {
        Ok(user) => Ok(Json(AuthView::new(&domain.name, &body.login, started.elapsed(), &user))),
        Err(err) => {
            let refusal = Refusal::new(domain, &body.login, started.elapsed(), &err);
            Err(ApiError::host_with(&err, r.retry(), refusal))
        }
    }
}

/// Looks a user up with the service account, no password (`dirconn lookup`).
#[utoipa::path(get, path = "/v1/domains/{domain}/users/{login}", tag = "admin",
    params(("domain" = String, Path, description = "The mail domain"),
           ("login" = String, Path, description = "The login within it (`alice`, `alice@upn-suffix`, `EXAMPLE\\alice`)")),
    responses(
        (status = 200, description = "The user", body = LookupView),
        (status = 403, description = "Not an admin client (DC-811)", body = Refused),
        (status = 404, description = "No such domain or user", body = Refused),
        (status = 503, description = "The directory is unreachable", body = Refused),
    ))]
async fn lookup(
    State(service): State<AppState>,
    _admin: Admin,
    PathValue((domain, login)): PathValue<(String, String)>,
) -> Result<Json<LookupView>, ApiError> {
    let r = Request::new(&service);
    let domain = r.domain(&domain)?;
    let user = domain.lookup(&login).await.map_err(|e| r.fail(&e))?;
    Ok(Json(LookupView::new(&domain.name, &user)))
}

/// The attribute names of the schema and of a sample user (`dirconn attributes`).
///
/// For the attribute mapping; password attributes are redacted.
#[utoipa::path(get, path = "/v1/domains/{domain}/attributes", tag = "admin",
    params(("domain" = String, Path, description = "The mail domain")),
    responses(
        (status = 200, description = "The attributes", body = AttributesView),
        (status = 403, description = "Not an admin client (DC-811)", body = Refused),
        (status = 404, description = "No such domain (DC-010)", body = Refused),
        (status = 503, description = "The directory is unreachable", body = Refused),
    ))]
async fn attributes(
    State(service): State<AppState>,
    _admin: Admin,
    PathValue(domain): PathValue<String>,
) -> Result<Json<AttributesView>, ApiError> {
    let r = Request::new(&service);
    let domain = r.domain(&domain)?;
    let report = domain.attributes().await.map_err(|e| r.fail(&e))?;
    Ok(Json(AttributesView::new(&domain.name, &report)))
}

/// The URLs, search base, scope and filters a domain uses (`dirconn filter`).
#[utoipa::path(get, path = "/v1/domains/{domain}/filter", tag = "admin",
    params(("domain" = String, Path, description = "The mail domain")),
    responses(
        (status = 200, description = "The filters", body = FilterView),
        (status = 403, description = "Not an admin client (DC-811)", body = Refused),
        (status = 404, description = "No such domain (DC-010)", body = Refused),
    ))]
async fn filter(
    State(service): State<AppState>,
    _admin: Admin,
    PathValue(domain): PathValue<String>,
) -> Result<Json<FilterView>, ApiError> {
    let r = Request::new(&service);
    let domain = r.domain(&domain)?;
    let report = domain.filter().map_err(|e| r.fail(&e))?;
    Ok(Json(FilterView::new(&domain.name, &report)))
}

/// A directory password to reset (no `old_password`: with the service account) or to change (as the user).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    /// The login within the domain (`alice`, `alice@upn-suffix`, `EXAMPLE\alice`).
    login: String,
    /// The user's current password: the password is changed as the user. Left out: reset.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Password)]
    old_password: Option<Zeroizing<String>>,
    /// The new password.
    #[schema(value_type = String, format = Password)]
    new_password: Zeroizing<String>,
}

/// Resets or changes a directory user's password (`dirconn passwd`).
///
/// Without `old_password`, the service account resets it; with it, the password is changed as the user
/// (`--change`). Active Directory: over LDAPS or StartTLS only. A refusal is the CLI's password view (`ok`
/// false, with the error), with the status of its kind.
#[utoipa::path(post, path = "/v1/domains/{domain}/password", tag = "admin",
    params(("domain" = String, Path, description = "The mail domain")),
    request_body = PasswordBody,
    responses(
        (status = 200, description = "The password was set", body = PasswordView),
        (status = 403, description = "Not an admin client (DC-811)", body = Refused),
        (status = 404, description = "No such domain or user", body = PasswordView),
        (status = 422, description = "Refused: policy, wrong current password…", body = PasswordView),
        (status = 500, description = "Refused by the configuration (plain LDAP, a Global Catalog)", body = PasswordView),
        (status = 501, description = "The connector cannot set passwords (DC-507)", body = PasswordView),
        (status = 503, description = "The directory is unreachable", body = PasswordView),
    ))]
async fn password(
    State(service): State<AppState>,
    admin: Admin,
    PathValue(domain): PathValue<String>,
    Body(body): Body<PasswordBody>,
) -> Result<Json<PasswordView>, ApiError> {
    let r = Request::new(&service);
    let domain = r.domain(&domain)?;
    let old = body.old_password.as_deref().map(String::as_str);
    let operation = if old.is_some() { PasswordOperation::Changed } else { PasswordOperation::Reset };
    let outcome = domain.set_password(&body.login, old, &body.new_password).await;
    let view = PasswordView::new(&domain.name, &body.login, operation, &outcome);
    match outcome {
        Ok(()) => {
            tracing::info!(client = %admin.0.name, domain = %domain.name, login = %body.login, ?operation,
                "directory password set");
            Ok(Json(view))
        }
        Err(err) => Err(ApiError::host_with(&err, r.retry(), view)),
    }
}
