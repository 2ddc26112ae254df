//! Sign-in with a local administrator account of the store (argon2id hash), and sign-out. Failures are
//! throttled by address and by login; an unknown login costs the same hash check as a wrong password.

use askama::Template;
use axum::{
    extract::{ConnectInfo, Request, State as AxState},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
};
use dirconn_host::accounts::{account_name, verify_password};
use dirconn_store::Source;

use super::{Page, html, render_problem};
use crate::{Change, Error, Fail, State, read_form, session};

#[derive(Template)]
#[template(path = "signin.html")]
struct SignIn {
    login: String,
    problem: String,
}

/// The sign-in form.
pub(crate) async fn form() -> Response {
    html(&SignIn { login: String::new(), problem: String::new() })
}

/// An argon2id hash of nothing anyone types, checked for unknown logins so that they take as long.
const DECOY: &str = "$argon2id$v=19$m=19456,t=2,p=1$ZGlyY29ubmRlY295c2FsdA$0vQ3lrnm5xKxYgqvWUlf2D6o2Q8uYfTqUQ3vE1mQnhE";

/// Checks the login and password; starts a session.
pub(crate) async fn submit(AxState(web): AxState<State>, request: Request) -> Page {
    let ip = request.extensions().get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    let (_, form) = read_form(request).await?;
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let (login, password) = (get("login").trim().to_owned(), zeroize::Zeroizing::new(get("password")));
    let refuse = |err: Error, status: StatusCode| -> Page {
        let page = SignIn { login: login.clone(), problem: render_problem(&err.problem()) };
        Ok((status, html(&page)).into_response())
    };
    let wait = web.sign_ins.wait(ip, &login);
    if wait > 0 {
        return refuse(Error::Throttled { what: "sign-in", retry_after: wait }, StatusCode::TOO_MANY_REQUESTS);
    }
    if login.is_empty() || password.is_empty() {
        return refuse(Error::SignIn, StatusCode::UNAUTHORIZED);
    }
    let live = web.service.live();
    let account = match live.host.route(&login) {
        Ok(route) => live
            .store
            .account(&route.domain.name, &account_name(route.login))
            .await
            .map_err(|e| Fail::from(dirconn_host::Error::from(e)))?,
        Err(_) => None,
    };
    let admin = account.filter(|a| a.source == Source::Local && a.admin && a.active);
    let hash = admin.as_ref().and_then(|a| a.password_hash.clone()).unwrap_or_else(|| DECOY.to_owned());
    let typed = password.clone();
    let matches = tokio::task::spawn_blocking(move || verify_password(&typed, &hash)).await.unwrap_or(false);
    match admin {
        Some(a) if matches => {
            web.sign_ins.succeeded(&login);
            let who = format!("{}@{}", a.login, a.domain);
            let id = web.sessions.start(&who);
            tracing::info!(admin = %who, "signed in to the web pages");
            let mut r = Redirect::to("/ui/domains").into_response();
            r.headers_mut().insert(
                header::SET_COOKIE,
                HeaderValue::from_str(&session::set_cookie(&id)).expect("a token is ASCII"),
            );
            Ok(r)
        }
        _ => {
            web.sign_ins.failed(ip, &login);
            tracing::info!(login = %login, "web sign-in refused");
            refuse(Error::SignIn, StatusCode::UNAUTHORIZED)
        }
    }
}

/// Ends the session.
pub(crate) async fn signout(AxState(web): AxState<State>, change: Change) -> Response {
    web.sessions.end_for(&change.admin.session);
    let mut r = Redirect::to("/ui/signin").into_response();
    r.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_static(session::CLEAR_COOKIE));
    r
}
