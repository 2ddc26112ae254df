//! The HTTP API v1: the router (every route registered through utoipa-axum, so a route cannot exist
//! without its OpenAPI description), bearer-token callers by role, the JSON body extractor with its caps,
//! and the one way errors become responses.

mod admin;
mod auth;
#[doc(hidden)]
pub mod fuzzing;
mod maps;
mod nginx;
pub mod serve;

use std::sync::Arc;

use axum::{
    Json, Router,
    extract::{FromRequest, FromRequestParts, MatchedPath, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    middleware::Next,
    response::{IntoResponse, Response},
};
use dirconn_views::Refused;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq as _;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};
use utoipa_axum::router::OpenApiRouter;

use crate::{
    Error, Service,
    config::{Role, token_hash},
};

/// The shared state of every handler.
pub type AppState = Arc<Service>;

#[derive(OpenApi)]
#[openapi(
    info(title = "dirconn API", version = "1", description = "Logins, user lookups and administration of dirconn: \
        the service mail servers (Dovecot, Postfix, nginx) and administrators talk to. Every route but \
        /v1/openapi.json needs `Authorization: Bearer <token>` of a [[service.client]]. Every error is a \
        JSON body with code, kind, message and fix."),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    tags((name = "mail-server", description = "Routes for mail servers (role mail-server or admin)."),
         (name = "admin", description = "Administration (role admin)."))
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The router and the OpenAPI document describing exactly its routes.
pub fn router(state: AppState) -> (Router, utoipa::openapi::OpenApi) {
    let api = OpenApiRouter::with_openapi(ApiDoc::openapi());
    let api = auth::routes(api);
    let api = nginx::routes(api);
    let api = maps::routes(api);
    let api = admin::routes(api);
    let api = api.routes(utoipa_axum::routes!(openapi));
    let (router, doc) = api.split_for_parts();
    let json = OpenApiJson(Arc::new(doc.to_pretty_json().unwrap_or_default()));
    let router = router
        .layer(axum::Extension(json))
        .method_not_allowed_fallback(|| async {
            let err = Error::NotFound { what: "This method on this route".into() };
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, crate::error::refusal(&err))
        })
        .fallback(|| async { ApiError::from(Error::NotFound { what: "This route".into() }) })
        .layer(axum::middleware::from_fn_with_state(state.clone(), count))
        .with_state(state);
    (router, doc)
}

/// The document's JSON, served by [`openapi`].
#[derive(Clone)]
struct OpenApiJson(Arc<String>);

/// This OpenAPI 3.1 document. The one route that needs no token.
#[utoipa::path(get, path = "/v1/openapi.json", security(()),
    responses((status = 200, description = "The OpenAPI document of the API", body = Object,
        content_type = "application/json")))]
async fn openapi(axum::Extension(OpenApiJson(json)): axum::Extension<OpenApiJson>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], json.as_ref().clone()).into_response()
}

/// Counts every request by its matched route and status.
async fn count(State(service): State<AppState>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("(unmatched)", |m| m.as_str()).to_owned();
    let response = next.run(request).await;
    service.metrics.request(&route, response.status().as_u16());
    response
}

/// An error response: a status, the JSON body, and headers such as `Retry-After`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: serde_json::Value,
    retry_after: Option<u32>,
}

impl ApiError {
    /// A status and a body.
    pub fn new(status: StatusCode, body: impl serde::Serialize) -> ApiError {
        ApiError { status, body: serde_json::to_value(body).unwrap_or_default(), retry_after: None }
    }

    /// A temporary failure: 503 with `Retry-After`.
    pub fn temporary(body: impl serde::Serialize, retry_after: u32) -> ApiError {
        ApiError { retry_after: Some(retry_after), ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, body) }
    }

    /// A login held back by the throttle: 429 with `Retry-After`.
    pub fn throttled(body: impl serde::Serialize, retry_after: u64) -> ApiError {
        let retry_after = Some(u32::try_from(retry_after).unwrap_or(u32::MAX));
        ApiError { retry_after, ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, body) }
    }

    /// A host error on an administration route, with the status [`host_status`] gives it (`Retry-After` on
    /// 503) and the one error body.
    pub fn host(err: &dirconn_host::Error, retry_after: u32) -> ApiError {
        ApiError::host_with(err, retry_after, Refused::host(err, None))
    }

    /// A host error answered with the view the CLI prints for it (a refused test login, a refused password
    /// change), with the status [`host_status`] gives it.
    pub fn host_with(err: &dirconn_host::Error, retry_after: u32, body: impl serde::Serialize) -> ApiError {
        let status = host_status(err);
        let retry_after = (status == StatusCode::SERVICE_UNAVAILABLE).then_some(retry_after);
        ApiError { retry_after, ..ApiError::new(status, body) }
    }

    /// The same error with another status (a route that knows better, e.g. 404 for an account it looked for).
    pub fn with_status(self, status: StatusCode) -> ApiError {
        ApiError { status, ..self }
    }

    /// The response's status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

/// The status of a host error on the administration routes: 503 when the store or the directory is
/// unreachable (retry later), 404 when something named is not there, 409 when an account or the
/// deactivation guard stands in the way (`DC-707`, `DC-705`), 422 for other refusals (a wrong password, a
/// locked account, input the directory refused), 501 when the connector cannot do it, 500 for the rest
/// (configuration, a plugin's failure).
pub fn host_status(err: &dirconn_host::Error) -> StatusCode {
    use dirconn_abi::ErrorKind as K;
    use dirconn_host::Error as H;
    match err {
        H::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        H::Account { .. } | H::Guard { .. } => StatusCode::CONFLICT,
        _ => match err.kind() {
            K::Unreachable | K::Timeout | K::Tls => StatusCode::SERVICE_UNAVAILABLE,
            K::NotFound => StatusCode::NOT_FOUND,
            K::Unsupported => StatusCode::NOT_IMPLEMENTED,
            k if k.is_denial() => StatusCode::UNPROCESSABLE_ENTITY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        },
    }
}

impl From<Error> for ApiError {
    fn from(err: Error) -> ApiError {
        let status = match &err {
            Error::Unauthorized => StatusCode::UNAUTHORIZED,
            Error::Forbidden { .. } => StatusCode::FORBIDDEN,
            Error::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Error::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::BadLogin { .. } | Error::BadPassword { .. } => StatusCode::UNAUTHORIZED,
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::Stopping => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut e = ApiError::new(status, crate::error::refusal(&err));
        if matches!(err, Error::Stopping) {
            e.retry_after = Some(1);
        }
        e
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let token_problem = self.body.get("code").and_then(|c| c.as_str()) == Some("DC-810");
        let mut response = (self.status, Json(self.body)).into_response();
        if let Some(s) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        // Only a token problem asks for a token; a denied login is a 401 of its own.
        if self.status == StatusCode::UNAUTHORIZED && token_problem {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The caller, known by its token.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The client's name.
    pub name: String,
    /// Its role.
    pub role: Role,
}

/// Finds the client whose token the request carries; every client's hash is compared, in constant time.
fn caller(service: &Service, headers: &HeaderMap) -> Result<Caller, Error> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .ok_or(Error::Unauthorized)?;
    let hash = token_hash(token.as_bytes());
    let live = service.live();
    let mut found = None;
    for client in &live.config.clients {
        if bool::from(client.token_hash.ct_eq(&hash)) {
            found = Some(Caller { name: client.name.clone(), role: client.role });
        }
    }
    found.ok_or(Error::Unauthorized)
}

/// A caller of any role (mail servers and administrators).
pub struct MailServer(pub Caller);

/// A caller with the admin role.
pub struct Admin(pub Caller);

impl FromRequestParts<AppState> for MailServer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(MailServer(caller(state, &parts.headers)?))
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let c = caller(state, &parts.headers)?;
        if c.role != Role::Admin {
            return Err(Error::Forbidden { client: c.name, needs: "admin" }.into());
        }
        Ok(Admin(c))
    }
}

/// A path parameter; a value that cannot be decoded (invalid UTF-8 after `%`-decoding…) is refused as a
/// JSON [`Problem`](dirconn_views::Problem) (DC-812) like every other error, not axum's plain text.
pub struct PathValue<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<AppState> for PathValue<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(PathValue(value)),
            Err(rejection) => Err(Error::BadRequest { problem: rejection.body_text() }.into()),
        }
    }
}

/// A JSON body, read up to `max_body_bytes` and parsed strictly (unknown fields refused); every refusal is
/// a [`Problem`](dirconn_views::Problem) with its code.
pub struct Body<T>(pub T);

/// The body's bytes, at most `max_body_bytes`.
async fn read_body(req: Request, state: &AppState) -> Result<axum::body::Bytes, ApiError> {
    let limit = state.live().config.max_body_bytes;
    // A body announced over the cap is refused before it is waited for (the reader below only counts
    // what arrives).
    let announced = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(Error::TooLarge { limit }.into());
    }
    Ok(axum::body::to_bytes(req.into_body(), limit).await.map_err(|_| Error::TooLarge { limit })?)
}

/// A JSON object of the route's shape.
fn parse_body<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // serde's derived structs also take a JSON array of the fields in order (`["alice", "secret"]`):
    // only an object is the documented shape.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(Error::BadRequest { problem: "the body is not a JSON object".into() }.into());
    }
    Ok(serde_json::from_slice(bytes).map_err(|e| Error::BadRequest { problem: e.to_string() })?)
}

impl<T: DeserializeOwned> FromRequest<AppState> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        Ok(Body(parse_body(&read_body(req, state).await?)?))
    }
}

/// A JSON body that may be left out (an empty body or `null` is `None`), else as [`Body`].
pub struct OptionalBody<T>(pub Option<T>);

impl<T: DeserializeOwned> FromRequest<AppState> for OptionalBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = read_body(req, state).await?;
        if bytes.trim_ascii().is_empty() || bytes.trim_ascii() == b"null" {
            return Ok(OptionalBody(None));
        }
        Ok(OptionalBody(Some(parse_body(&bytes)?)))
    }
}

/// The query string, parsed strictly into `T` (declare it `#[serde(deny_unknown_fields)]`); a refusal is
/// `DC-812`.
pub struct Params<T>(pub T);

impl<T: DeserializeOwned> FromRequestParts<AppState> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, ApiError> {
        let axum::extract::Query(value) = axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map_err(|e| Error::BadRequest { problem: format!("its query: {}", e.body_text()) })?;
        Ok(Params(value))
    }
}
