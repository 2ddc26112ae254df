//! The account routes: the store's accounts (`dirconn accounts list|show`), local accounts (`dirconn local
//! add|passwd|remove`) and the migration of local accounts to the directory (`dirconn migrate`).

use axum::{Json, extract::State, http::StatusCode};
use dirconn_host::accounts::account_name;
use dirconn_store::Account;
use dirconn_views::{AccountView, DoneView, MigrationView, Refused};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};
use zeroize::Zeroizing;

use super::{Request, bad_body};
use crate::http::{Admin, ApiError, AppState, Body, Params, PathValue};

pub(super) fn routes(api: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    api.routes(routes!(list))
        .routes(routes!(show))
        .routes(routes!(add_local))
        .routes(routes!(set_local_password))
        .routes(routes!(remove_local))
        .routes(routes!(migrate))
}

/// Which accounts to list.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only this domain's (all domains when left out).
    domain: Option<String>,
}

/// The accounts of one domain, or of all, ordered by domain and name (`dirconn accounts list`).
#[utoipa::path(get, path = "/v1/accounts", tag = "admin", params(ListQuery),
    responses(
        (status = 200, description = "The accounts", body = Vec<AccountView>),
        (status = 400, description = "An unknown query parameter (DC-812)", body = Refused),
        (status = 403, description = "Not an admin client (DC-811)", body = Refused),
        (status = 404, description = "No such domain (DC-010)", body = Refused),
        (status = 503, description = "The store is unreachable", body = Refused),
    ))]
async fn list(
    State(service): State<AppState>,
    _admin: Admin,
    Params(query): Params<ListQuery>,
) -> Result<Json<Vec<AccountView>>, ApiError> {
    let r = Request::new(&service);
    let domain = query.domain.as_deref().map(|d| r.domain(d)).transpose()?;
    let list = r.live.store.accounts(domain.map(|d| d.name.as_str())).await.map_err(|e| r.fail(&e.into()))?;
    Ok(Json(list.iter().map(AccountView::from).collect()))
}

impl Request {
    /// The stored account an address (`user@domain`) names, or 404 with the CLI's `DC-707`.
    async fn account(&self, address: &str) -> Result<Account, ApiError> {
        let route = self.live.host.route(address).map_err(|e| self.fail(&e))?;
        let name = account_name(route.login);
        let found = self.live.store.account(&route.domain.name, &name).await.map_err(|e| self.fail(&e.into()))?;
        found.ok_or_else(|| {
            let err = dirconn_host::Error::Account {
                message: format!("There is no account {name}@{}.", route.domain.name),
                fix: "`dirconn accounts list` shows the accounts.".into(),
            };
            self.fail(&err).with_status(StatusCode::NOT_FOUND)
        })
    }
}

/// One account with its fields and groups (`dirconn accounts show`).
#[utoipa::path(get, path = "/v1/accounts/{address}", tag = "admin",
    params(("address" = String, Path, description = "`user@domain`")),
    responses(
        (status = 200, description = "The account", body = AccountView),
        (status = 403, description = "Not an admin client (DC-811)", body = Refused),
        (status = 404, description = "No such domain (DC-010) or account (DC-707)", body = Refused),
        (status = 503, description = "The store is unreachable", body = Refused),
    ))]
async fn show(
    State(service): State<AppState>,
    _admin: Admin,
    PathValue(address): PathValue<String>,
) -> Result<Json<AccountView>, ApiError> {
    let account = Request::new(&service).account(&address).await?;
    Ok(Json(AccountView::from(&account)))
}

/// A local account to create.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewLocalAccount {
    /// `user@domain`.
    login: String,
    /// Its password (kept as an argon2id hash).
    #[schema(value_type = String, format = Password)]
    password: Zeroizing<String>,
    /// Whether it is an administrator.
    #[serde(default)]
    admin: bool,
}

/// Creates a local account, an administrator with `admin` (`dirconn local add`).
#[utoipa::path(post, path = "/v1/local-accounts", tag = "admin", request_body = NewLocalAccount,
    responses(
        (status = 201, description = "Created", body = DoneView),
        (status = 400, description = "The body is refused (DC-812)", body = Refused),
        (status = 403, description = "Not an admin client (DC-811)", body = Refused),
        (status = 404, description = "No such domain (DC-010)", body = Refused),
        (status = 409, description = "The account exists already (DC-707)", body = Refused),
        (status = 422, description = "The password is refused (empty: DC-201)", body = Refused),
    ))]
async fn add_local(
    State(service): State<AppState>,
    admin: Admin,
    Body(body): Body<NewLocalAccount>,
) -> Result<(StatusCode, Json<DoneView>), ApiError> {
    let r = Request::new(&service);
    let account =
        r.live.host.add_local(&r.live.store, &body.login, &body.password, body.admin).await.map_err(|e| r.fail(&e))?;
    tracing::info!(client = %admin.0.name, account = %format!("{}@{}", account.login, account.domain),
        admin = account.admin, "local account created");
    let done = DoneView::new(format!("created the local account {}@{}", account.login, account.domain));
    Ok((StatusCode::CREATED, Json(done)))
}

/// A local account's new password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    /// The new password.
    #[schema(value_type = String, format = Password)]
    password: Zeroizing<String>,
}

/// Sets a local account's password (`dirconn local passwd`).
#[utoipa::path(put, path = "/v1/local-accounts/{address}/password", tag = "admin",
    params(("address" = String, Path, description = "`user@domain`")),
    request_body = NewPassword,
    responses(
        (status = 200, description = "Set", body = DoneView),
        (status = 403, description = "Not an admin client (DC-811)", body = Refused),
        (status = 404, description = "No such domain (DC-010) or account (DC-707)", body = Refused),
        (status = 409, description = "A directory account (DC-707)", body = Refused),
        (status = 422, description = "The password is refused (empty: DC-201)", body = Refused),
    ))]
async fn set_local_password(
    State(service): State<AppState>,
    admin: Admin,
    PathValue(address): PathValue<String>,
    Body(body): Body<NewPassword>,
) -> Result<Json<DoneView>, ApiError> {
    let r = Request::new(&service);
    r.account(&address).await?;
    let account =
        r.live.host.set_local_password(&r.live.store, &address, &body.password).await.map_err(|e| r.fail(&e))?;
    tracing::info!(client = %admin.0.name, account = %format!("{}@{}", account.login, account.domain),
        "local password set");
    Ok(Json(DoneView::new(format!("set the password of {}@{}", account.login, account.domain))))
}

/// Deletes a local account (`dirconn local remove`).
///
/// Directory accounts are never deleted, only deactivated by a sync.
#[utoipa::path(delete, path = "/v1/local-accounts/{address}", tag = "admin",
    params(("address" = String, Path, description = "`user@domain`")),
    responses(
        (status = 200, description = "Deleted", body = DoneView),
        (status = 403, description = "Not an admin client (DC-811)", body = Refused),
        (status = 404, description = "No such domain (DC-010) or account (DC-707)", body = Refused),
        (status = 409, description = "A directory account (DC-707)", body = Refused),
    ))]
async fn remove_local(
    State(service): State<AppState>,
    admin: Admin,
    PathValue(address): PathValue<String>,
) -> Result<Json<DoneView>, ApiError> {
    let r = Request::new(&service);
    r.account(&address).await?;
    let account = r.live.host.remove_local(&r.live.store, &address).await.map_err(|e| r.fail(&e))?;
    tracing::info!(client = %admin.0.name, account = %format!("{}@{}", account.login, account.domain),
        "local account deleted");
    Ok(Json(DoneView::new(format!("deleted the local account {}@{}", account.login, account.domain))))
}

/// Which local accounts to migrate: `logins`, or `all`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MigrateBody {
    /// The accounts (logins within the domain).
    #[serde(default)]
    logins: Vec<String>,
    /// Every local account of the domain except administrators.
    #[serde(default)]
    all: bool,
}

/// Migrates local accounts to the directory (`dirconn migrate`).
///
/// Turns local accounts into directory-backed ones where a directory entry matches their login, then their
/// email; each keeps its id and data. 200 even when some are unmatched or in conflict: the view lists them.
#[utoipa::path(post, path = "/v1/domains/{domain}/migrate", tag = "admin",
    params(("domain" = String, Path, description = "The mail domain")),
    request_body = MigrateBody,
    responses(
        (status = 200, description = "What was migrated, unmatched or in conflict", body = MigrationView),
        (status = 400, description = "Neither or both of logins and all (DC-812)", body = Refused),
        (status = 403, description = "Not an admin client (DC-811)", body = Refused),
        (status = 404, description = "No such domain (DC-010)", body = Refused),
        (status = 409, description = "A login names no local account (DC-707)", body = Refused),
        (status = 503, description = "The directory or the store is unreachable", body = Refused),
    ))]
async fn migrate(
    State(service): State<AppState>,
    admin: Admin,
    PathValue(domain): PathValue<String>,
    Body(body): Body<MigrateBody>,
) -> Result<Json<MigrationView>, ApiError> {
    // Exactly one of them: `all`, or logins (all with logins, or neither, is refused).
    if body.all != body.logins.is_empty() {
        return Err(bad_body("give either `logins` (not empty) or `all: true`"));
    }
    let r = Request::new(&service);
    let domain = r.domain(&domain)?;
    let report = r.live.host.migrate(&r.live.store, &domain.name, &body.logins).await.map_err(|e| r.fail(&e))?;
    tracing::info!(client = %admin.0.name, domain = %domain.name, migrated = report.migrated.len(),
        unmatched = report.unmatched.len(), conflicts = report.conflicts.len(), "local accounts migrated");
    Ok(Json(MigrationView::from(&report)))
}
