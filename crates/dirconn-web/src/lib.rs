//! The administrator's web pages, served by `dirconn serve` under `/ui/` beside the API: server-rendered
//! HTML (askama templates, escaping every value) with a vendored htmx for in-page updates; every control
//! is a plain link or form first, so the pages work without JavaScript.
//!
//! - [`session`]: sign-in sessions (cookie `__Host-dirconn`), CSRF tokens, the throttle.
//! - [`fields`]: the settings form's fields; [`edit`]: the configuration file edited in place.
//! - [`pages`]: one module per view (sign-in, domains, settings and tests, groups, sync, accounts, audit,
//!   plugins).
//!
//! Invariants: a page is only served to a signed-in local administrator of the store (the API's bearer
//! tokens do not reach it); every change (POST) carries the session's CSRF token and comes from this
//! origin; a stored bind password is never sent to the browser, and never to a server or bind DN it was not
//! set for; the configuration file is written only after the edited text loaded as the host would load it.

pub mod edit;
mod error;
pub mod fields;
mod pages;
pub mod session;

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
};

use axum::{
    Router,
    extract::{ConnectInfo, FromRequest, FromRequestParts, Request},
    http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts},
    middleware::Next,
    response::{Html, IntoResponse, Redirect, Response},
};
use dirconn_service::{Reloader, Service};
pub use error::{Error, examples};

use crate::session::{Session, Sessions, Throttle};

/// The state of every page.
pub struct Web {
    service: Arc<Service>,
    reloader: Reloader,
    sessions: Sessions,
    sign_ins: Throttle,
    /// Connection tests whose service bind was refused (the service account's lockout); test logins go
    /// through the service's own throttle.
    service_binds: Throttle,
    /// The last connection test of each domain from these pages: (when, passed).
    last_tests: Mutex<HashMap<String, (i64, bool)>>,
}

type State = Arc<Web>;

/// The pages' routes (under `/ui/`), over the service; `reloader` puts a saved configuration in force.
pub fn router(service: Arc<Service>, reloader: Reloader) -> Router {
    let web = Arc::new(Web {
        service,
        reloader,
        sessions: Sessions::default(),
        sign_ins: Throttle::new(5),
        service_binds: Throttle::strict(2),
        last_tests: Mutex::default(),
    });
    pages::routes().layer(axum::middleware::from_fn(headers)).with_state(web)
}

/// The security headers of every page: a strict CSP (scripts and styles only from this origin), no
/// framing, no sniffing, no referrer, no caching.
async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// A page's failure: rendered as a page (or, for htmx, a fragment) with the error's code, message and fix.
#[derive(Debug)]
pub(crate) enum Fail {
    /// Not signed in: to the sign-in page.
    SignIn,
    /// An error of the pages.
    Web(StatusCode, Error),
    /// A host error (a domain that is not there, the store down…).
    Host(StatusCode, dirconn_views::Problem),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        let status = match e {
            Error::NoSession => return Fail::SignIn,
            Error::Forged { .. } => StatusCode::FORBIDDEN,
            Error::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::SignIn => StatusCode::UNAUTHORIZED,
            Error::ReadOnly { .. } | Error::Changed { .. } => StatusCode::CONFLICT,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        Fail::Web(status, e)
    }
}

impl From<dirconn_host::Error> for Fail {
    fn from(e: dirconn_host::Error) -> Fail {
        Fail::Host(dirconn_service::http::host_status(&e), dirconn_views::Refused::host(&e, None).problem)
    }
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        let (status, problem) = match self {
            Fail::SignIn => {
                let mut r = Redirect::to("/ui/signin").into_response();
                r.headers_mut().insert("HX-Redirect", HeaderValue::from_static("/ui/signin"));
                return r;
            }
            Fail::Web(status, e) => (status, e.problem()),
            Fail::Host(status, p) => (status, p),
        };
        (status, Html(pages::render_problem(&problem))).into_response()
    }
}

/// A signed-in administrator, from the session cookie.
pub(crate) struct Admin {
    session: Session,
    htmx: bool,
}

fn session_of(web: &Web, headers: &HeaderMap) -> Option<Session> {
    let cookie =
        headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(session::cookie_value)?;
    web.sessions.get(cookie)
}

impl FromRequestParts<State> for Admin {
    type Rejection = Fail;

    async fn from_request_parts(parts: &mut Parts, web: &State) -> Result<Admin, Fail> {
        let session = session_of(web, &parts.headers).ok_or(Fail::SignIn)?;
        Ok(Admin { session, htmx: parts.headers.contains_key("HX-Request") })
    }
}

/// A change: a signed-in administrator's form, from this origin, with the session's CSRF token.
pub(crate) struct Change {
    admin: Admin,
    form: Vec<(String, String)>,
    client: Option<IpAddr>,
}

/// The largest form taken.
const MAX_FORM_BYTES: usize = 256 * 1024;

/// Refuses a change from another site: `Sec-Fetch-Site`, when the browser sends it, must say same-origin;
/// else `Origin`, when it names one, must be this host. (With `Referrer-Policy: no-referrer`, Chromium sends
/// `Origin: null` even for the pages' own forms, and always `Sec-Fetch-Site`.)
fn same_origin(headers: &HeaderMap) -> Result<(), Error> {
    if let Some(site) = headers.get("Sec-Fetch-Site").and_then(|v| v.to_str().ok()) {
        if site != "same-origin" {
            return Err(Error::Forged { problem: "it came from another site (Sec-Fetch-Site)" });
        }
        return Ok(());
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()).filter(|o| *o != "null") {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or_default();
        let bare = origin.split_once("://").map_or(origin, |(_, rest)| rest);
        if bare != host {
            return Err(Error::Forged { problem: "it came from another origin (Origin)" });
        }
    }
    Ok(())
}

fn client_ip(parts: &Parts) -> Option<IpAddr> {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())
}

/// A form body and the client's address.
async fn read_form(req: Request) -> Result<(Parts, Vec<(String, String)>), Fail> {
    let (parts, body) = req.into_parts();
    same_origin(&parts.headers)?;
    let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
        .await
        .map_err(|_| Error::BadValue { key: "form".into(), problem: format!("it is over {MAX_FORM_BYTES} bytes") })?;
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
        .map_err(|e| Error::BadValue { key: "form".into(), problem: e.to_string() })?;
    Ok((parts, form))
}

impl FromRequest<State> for Change {
    type Rejection = Fail;

    async fn from_request(req: Request, web: &State) -> Result<Change, Fail> {
        let (parts, form) = read_form(req).await?;
        let session = session_of(web, &parts.headers).ok_or(Fail::SignIn)?;
        let submitted = form
            .iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_str())
            .or_else(|| parts.headers.get("X-CSRF-Token").and_then(|v| v.to_str().ok()));
        if !session::csrf_ok(&session, submitted) {
            return Err(Error::Forged { problem: "the form's token is missing or wrong" }.into());
        }
        let client = client_ip(&parts);
        Ok(Change { admin: Admin { session, htmx: parts.headers.contains_key("HX-Request") }, form, client })
    }
}

impl Change {
    /// A posted value.
    fn get(&self, name: &str) -> Option<&str> {
        self.form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}
