//! `GET /v1/maps/{map}/{key}`: a lookup in one of Postfix's tables over HTTP, the answer socketmap gives
//! (for MTAs that can ask HTTP and for scripts); the same view `dirconn --json postmap` prints.

use axum::{Json, extract::State};
use dirconn_host::MailMap;
use dirconn_views::{MapLookup, Refused};
use utoipa_axum::{router::OpenApiRouter, routes};

use super::{ApiError, AppState, MailServer, PathValue};
use crate::Error;

pub(super) fn routes(api: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    api.routes(routes!(lookup))
}

/// Looks a key up in the `mailbox`, `alias`, `domains` or `senders` table, from the store. 200 whether or
/// not the key is found (`found`, `value`, and the socketmap `reply`); 400 for a table that does not exist
/// (DC-818); 503 with `Retry-After` when the store fails.
#[utoipa::path(get, path = "/v1/maps/{map}/{key}", tag = "mail-server",
    params(
        ("map" = String, Path, description = "mailbox, alias, domains or senders"),
        ("key" = String, Path, description = "An address (`user@domain`), or a domain for `domains`"),
    ),
    responses(
        (status = 200, description = "The lookup's answer", body = MapLookup),
        (status = 400, description = "No such table (DC-818)", body = Refused),
        (status = 401, description = "No valid token (DC-810)", body = Refused),
        (status = 503, description = "The store failed: retry after Retry-After seconds", body = Refused),
    ))]
async fn lookup(
    State(service): State<AppState>,
    _caller: MailServer,
    PathValue((map, key)): PathValue<(String, String)>,
) -> Result<Json<MapLookup>, ApiError> {
    let table: MailMap = map.parse().map_err(|problem| {
        let err = Error::BadLookup { problem };
        ApiError::new(axum::http::StatusCode::BAD_REQUEST, crate::error::refusal(&err))
    })?;
    let retry = service.live().config.retry_after_seconds;
    match service.lookup(table, &key).await {
        Ok(value) => Ok(Json(MapLookup::new(table.name(), &key, value))),
        Err(err) => Err(ApiError::temporary(Refused::host(&err, None), retry)),
    }
}
