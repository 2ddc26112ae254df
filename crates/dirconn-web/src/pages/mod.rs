//! The views, one module each, and what they share: the routes, the page frame (navigation, the signed-in
//! administrator, the CSRF token), the static files and the rendering of problems.

mod accounts;
mod checks;
mod domains;
mod groups;
mod plugins;
mod settings;
mod signin;
mod sync;

use askama::Template;
use axum::{
    Router,
    http::{StatusCode, header},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
};
use dirconn_views::Problem;

use crate::{Admin, Fail, State};

pub(crate) fn routes() -> Router<State> {
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/domains") }))
        .route("/ui/", get(|| async { Redirect::to("/ui/domains") }))
        .route("/ui/static/htmx.min.js", get(htmx))
        .route("/ui/static/app.css", get(css))
        .route("/ui/signin", get(signin::form).post(signin::submit))
        .route("/ui/signout", post(signin::signout))
        .route("/ui/domains", get(domains::list))
        .route("/ui/domains/{domain}", get(settings::page).post(settings::save))
        .route("/ui/domains/{domain}/test-connection", post(checks::test_connection))
        .route("/ui/domains/{domain}/test-auth", post(checks::test_auth))
        .route("/ui/domains/{domain}/preview", post(checks::preview))
        .route("/ui/domains/{domain}/attributes", get(checks::attributes))
        .route("/ui/domains/{domain}/groups", get(groups::page).post(groups::change))
        .route("/ui/domains/{domain}/sync", get(sync::page).post(sync::run))
        .route("/ui/accounts", get(accounts::list))
        .route("/ui/accounts/{domain}/{login}", get(accounts::show))
        .route("/ui/accounts/migrate", post(accounts::migrate))
        .route("/ui/audit", get(accounts::audit))
        .route("/ui/plugins", get(plugins::page))
}

const HTMX: &str = include_str!("../../static/htmx.min.js");
const CSS: &str = include_str!("../../static/app.css");

fn asset(kind: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, kind), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

async fn htmx() -> Response {
    asset("text/javascript; charset=utf-8", HTMX)
}

async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS)
}

/// What every page's frame shows: who is signed in, the token its forms carry, the view it is.
pub(crate) struct Frame {
    /// The administrator.
    pub who: String,
    /// The session's CSRF token.
    pub csrf: String,
    /// The navigation entry of this view.
    pub here: &'static str,
}

impl Frame {
    pub(crate) fn new(admin: &Admin, here: &'static str) -> Frame {
        Frame { who: admin.session.who.clone(), csrf: admin.session.csrf.clone(), here }
    }

    /// The navigation entries.
    pub(crate) fn nav(&self) -> &'static [(&'static str, &'static str)] {
        &NAV
    }
}

/// The navigation: (entry, address).
pub(crate) const NAV: [(&str, &str); 4] =
    [("Domains", "/ui/domains"), ("Accounts", "/ui/accounts"), ("Audit", "/ui/audit"), ("Plugins", "/ui/plugins")];

#[derive(Template)]
#[template(path = "problem.html")]
struct ProblemBox<'a> {
    problem: &'a Problem,
}

/// A problem as the box every page shows it in (code, message, fix, diagnostic).
pub(crate) fn render_problem(problem: &Problem) -> String {
    ProblemBox { problem }.render().unwrap_or_else(|e| format!("<p>{}</p>", e))
}

/// A rendered template, or a 500 naming the template error.
pub(crate) fn html(t: &impl Template) -> Response {
    match t.render() {
        Ok(body) => Html(body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("template: {e}")).into_response(),
    }
}

/// A Unix time as UTC text.
pub(crate) fn when(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map_or_else(|| unix.to_string(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

/// The page of a failure, or the failure.
pub(crate) type Page = Result<Response, Fail>;
