//! The tests an administrator runs from a domain's settings, on the form's values (unsaved): the staged
//! connection test, a test login with known credentials (the entry, the mapped fields and the attributes
//! they came from, the groups and app groups, what the user would be told), the effective filters as the
//! fields change, and the attribute picker filled from the server. Test logins and refused service binds are
//! throttled ([`crate::session::Throttle::strict`]) so that testing cannot lock a directory account out.

use std::{collections::BTreeMap, net::IpAddr, time::Instant};

use askama::Template;
use axum::{
    extract::{Path as UrlPath, State as AxState},
    http::StatusCode,
    response::{Html, IntoResponse},
};
use dirconn_abi::{ClientContext, ErrorKind};
use dirconn_host::mapping::apply_entry;
use dirconn_service::throttle::{Admission, Key, Settle};
use dirconn_store::{Account, Source};
use dirconn_views::{AttributesView, AuthView, Refusal, Refused, StageStatusView, TestReportView};
use zeroize::Zeroizing;

use super::{
    Frame, Page, html, render_problem,
    settings::{answer, draft, loaded, shown_at, test_host},
};
use dirconn_host::Host;

use crate::{Admin, Change, Error, Fail, State, Web, edit, fields};

#[derive(Template)]
#[template(path = "stages.html")]
struct Stages<'a> {
    report: &'a TestReportView,
}

impl Stages<'_> {
    fn status(s: &StageStatusView) -> &'static str {
        match s {
            StageStatusView::Passed => "passed",
            StageStatusView::Failed => "failed",
            StageStatusView::Skipped => "skipped",
        }
    }
}

/// The host of a test on the form's values, unless the throttle (`ip`, `key`, what is tested) holds it
/// back.
fn draft_host(
    web: &Web,
    domain: &str,
    change: &Change,
    throttle: Option<(Option<IpAddr>, &str, &'static str)>,
) -> Result<Host, Fail> {
    if let Some((ip, key, what)) = throttle {
        let wait = web.service_binds.wait(ip, key);
        if wait > 0 {
            return Err(Error::Throttled { what, retry_after: wait }.into());
        }
    }
    let mut d = draft(web, domain, change)?;
    let host = test_host(web, &mut d)?;
    tracing::debug!(admin = %change.admin.session.who, domain, changed = ?d.changed, "a test on the form's values");
    Ok(host)
}

/// Runs the staged connection test on the form's values.
pub(crate) async fn test_connection(
    AxState(web): AxState<State>,
    UrlPath(domain): UrlPath<String>,
    change: Change,
) -> Page {
    let admin = &change.admin;
    let key = format!("service bind {domain}");
    let throttle = (None, key.as_str(), "connection tests with a refused service password");
    let host = match draft_host(&web, &domain, &change, Some(throttle)) {
        Ok(h) => h,
        Err(e) => return shown_at(&web, admin, &domain, &change, e),
    };
    let target = host.domain(&domain)?;
    let report = target.test_connection(None, None).await?;
    let view = TestReportView::new(&target.name, &report);
    let refused_bind =
        view.stages.iter().any(|s| s.error.as_ref().is_some_and(|e| e.kind == ErrorKind::InvalidCredentials.into()));
    if refused_bind {
        web.service_binds.failed(None, &key);
    } else if view.ok {
        web.service_binds.succeeded(&key);
    }
    web.last_tests
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(target.name.clone(), (dirconn_store::now(), view.ok));
    tracing::info!(admin = %admin.session.who, domain = %target.name, ok = view.ok, "connection tested from the web pages");
    let result = Stages { report: &view }.render().map_err(|e| {
        Fail::Web(StatusCode::INTERNAL_SERVER_ERROR, Error::BadValue { key: "template".into(), problem: e.to_string() })
    })?;
    answer(&web, admin, &domain, &change, result)
}

/// One mapped field of a test login: the account field, the attribute, the value.
pub(crate) struct Mapped {
    pub field: String,
    pub attribute: String,
    pub value: String,
}

#[derive(Template)]
#[template(path = "auth.html")]
struct AuthResult<'a> {
    view: Option<&'a AuthView>,
    refusal: Option<&'a Refusal>,
    mapped: Vec<Mapped>,
    addresses: Vec<String>,
    groups: Vec<String>,
    app_groups: Vec<String>,
    told: String,
}

/// Tests a login with known credentials on the form's values: the entry found, the mapped fields with
/// their attributes, the groups and the app groups they map to, and what the user would be told.
pub(crate) async fn test_auth(AxState(web): AxState<State>, UrlPath(domain): UrlPath<String>, change: Change) -> Page {
    let admin = &change.admin;
    let login = change.get("t.login").unwrap_or_default().trim().to_owned();
    let password = Zeroizing::new(change.get("t.password").unwrap_or_default().to_owned());
    if login.is_empty() || password.is_empty() {
        let err =
            Error::BadValue { key: "t.login".into(), problem: "a test login needs a login and its password".into() };
        return shown_at(&web, admin, &domain, &change, err.into());
    }
    let host = match draft_host(&web, &domain, &change, None) {
        Ok(h) => h,
        Err(e) => return shown_at(&web, admin, &domain, &change, e),
    };
    let target = host.domain(&domain)?;
    // The service's throttle, as for a mail login from the administrator's address: a test cannot make the
    // directory lock the account.
    let live = web.service.live();
    let config = &live.config.throttle;
    let key = Key::new(&target.name, &login, change.client, config);
    let ticket = match web.service.throttle.admit(&live.store, target, key, &password, config).await {
        Admission::Go(ticket) => Some(ticket),
        Admission::Off => None,
        Admission::StoreDown(err) => return Err(dirconn_host::Error::from(err).into()),
        Admission::Repeated(_) => {
            let what = "test authentication with the same wrong password (not sent to the directory again)";
            let retry_after = config.repeat_window.as_secs();
            return shown_at(&web, admin, &domain, &change, Error::Throttled { what, retry_after }.into());
        }
        Admission::Held(held, _) => {
            let retry_after = held.retry_after.as_secs();
            return shown_at(
                &web,
                admin,
                &domain,
                &change,
                Error::Throttled { what: "test authentication", retry_after }.into(),
            );
        }
    };
    let client = ClientContext {
        address: abi_stable::std_types::ROption::RNone,
        protocol: abi_stable::std_types::ROption::RSome("web".into()),
    };
    let started = Instant::now();
    let outcome = target.authenticate(&login, &password, client).await;
    if let Some(ticket) = ticket {
        let settle = Settle::of(outcome.as_ref().err());
        let refused = outcome.as_ref().err().map(|e| Refused::host(e, Some(target)));
        web.service.throttle.settle(&live.store, ticket, settle, &password, refused.as_ref(), config).await;
    }
    let result = match outcome {
        Ok(user) => {
            let view = AuthView::new(&target.name, &login, started.elapsed(), &user);
            let mut account = Account::new(&target.name, &login, &login, Source::Directory, dirconn_store::now());
            let _notes = apply_entry(&mut account, &user, &target.policy);
            let mapped = target
                .policy
                .mapping
                .fields
                .iter()
                .map(|(field, attr)| Mapped {
                    field: field.name().to_owned(),
                    attribute: attr.clone(),
                    value: match account.fields.get(*field) {
                        Some(dirconn_store::Value::Text(t)) => t.clone(),
                        Some(dirconn_store::Value::Bytes(b)) => format!("({} bytes)", b.len()),
                        None => "(absent)".to_owned(),
                    },
                })
                .collect();
            AuthResult {
                view: Some(&view),
                refusal: None,
                mapped,
                addresses: account.all_addresses(),
                groups: account.groups.iter().cloned().collect(),
                app_groups: account.app_groups.iter().cloned().collect(),
                told: "Nothing: the login is accepted.".into(),
            }
            .render()
        }
        Err(err) => {
            let refusal = Refusal::new(target, &login, started.elapsed(), &err);
            AuthResult {
                view: None,
                told: refusal.user_message.clone(),
                refusal: Some(&refusal),
                mapped: Vec::new(),
                addresses: Vec::new(),
                groups: Vec::new(),
                app_groups: Vec::new(),
            }
            .render()
        }
    };
    tracing::info!(admin = %admin.session.who, domain = %target.name, login = %login, "login tested from the web pages");
    let result = result.map_err(|e| {
        Fail::Web(StatusCode::INTERNAL_SERVER_ERROR, Error::BadValue { key: "template".into(), problem: e.to_string() })
    })?;
    answer(&web, admin, &domain, &change, result)
}

#[derive(Template)]
#[template(path = "preview.html")]
struct Preview {
    items: Vec<(String, String)>,
}

/// The effective filters and values of a domain (`dirconn filter`'s), in order.
pub(super) fn filter_items(domain: Option<&dirconn_host::Domain>) -> Vec<(String, String)> {
    domain
        .and_then(|d| d.filter().ok())
        .map(|r| r.items.iter().map(|i| (i.name.to_string(), i.value.to_string())).collect())
        .unwrap_or_default()
}

/// The preview of those.
pub(super) fn preview_html(items: Vec<(String, String)>) -> String {
    Preview { items }.render().unwrap_or_default()
}

/// The filters the form's values make, as they change (no connection is opened).
pub(crate) async fn preview(AxState(web): AxState<State>, UrlPath(domain): UrlPath<String>, change: Change) -> Page {
    let mut l = loaded(&web, &domain)?;
    let all = fields::fields(&l.kind, &BTreeMap::new());
    let out = match l.doc.apply(l.index, &all, &change.form) {
        Err(e) => render_problem(&e.problem()),
        Ok(_) => {
            l.doc.set(l.index, "enabled", None);
            let live = web.service.live();
            let config = live.host.config();
            match edit::load(&config.path, &l.doc.text(), &config.plugin_dir, live.host.registry()) {
                Ok(host) => preview_html(filter_items(host.domain(&domain).ok())),
                Err(e) => render_problem(&edit::invalid(&e).problem()),
            }
        }
    };
    Ok(Html(out).into_response())
}

#[derive(Template)]
#[template(path = "picker.html")]
struct Picker<'a> {
    view: &'a AttributesView,
}

/// The attribute picker: the schema's attribute names and a sample entry, from the domain's server.
/// (Without JavaScript, the list comes as a page of its own.)
pub(crate) async fn attributes(AxState(web): AxState<State>, admin: Admin, UrlPath(domain): UrlPath<String>) -> Page {
    let live = web.service.live();
    let d = live.host.domain(&domain)?;
    let report = d.attributes().await?;
    let view = AttributesView::new(&d.name, &report);
    let body = Picker { view: &view }.render().unwrap_or_default();
    if admin.htmx {
        return Ok(Html(body).into_response());
    }
    Ok(html(&AttributesPage { frame: Frame::new(&admin, "Domains"), domain: d.name.clone(), body }))
}

#[derive(Template)]
#[template(path = "attributes.html")]
struct AttributesPage {
    frame: Frame,
    domain: String,
    body: String,
}
