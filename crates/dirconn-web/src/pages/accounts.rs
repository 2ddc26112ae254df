//! The account store: accounts (search, show), the local administrators, migrating local accounts to the
//! directory; and the audit of recent logins with their outcomes.

use askama::Template;
use axum::extract::{Path as UrlPath, Query, State as AxState};
use dirconn_store::AuditQuery;
use dirconn_views::{AccountView, AuditRecordView, MigrationView};
use serde::Deserialize;

use super::{Frame, Page, html, render_problem, when};
use crate::{Admin, Change, Fail, State};

#[derive(Deserialize, Default)]
pub(crate) struct Search {
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    q: Option<String>,
}

#[derive(Template)]
#[template(path = "accounts.html")]
struct Accounts {
    frame: Frame,
    domains: Vec<String>,
    domain: String,
    q: String,
    accounts: Vec<AccountView>,
    total: usize,
    admins: Vec<AccountView>,
    migration: Option<MigrationView>,
    problem: String,
}

const SHOWN: usize = 200;

async fn render(web: &State, admin: &Admin, search: Search, migration: Option<MigrationView>, problem: String) -> Page {
    let live = web.service.live();
    let domain = search.domain.filter(|d| !d.is_empty());
    let domain = match domain {
        Some(d) => Some(live.host.domain(&d)?.name.clone()),
        None => None,
    };
    let all = live.store.accounts(domain.as_deref()).await.map_err(|e| Fail::from(dirconn_host::Error::from(e)))?;
    let q = search.q.unwrap_or_default().trim().to_lowercase();
    let matching: Vec<&dirconn_store::Account> = all
        .iter()
        .filter(|a| {
            q.is_empty()
                || a.login.to_lowercase().contains(&q)
                || a.all_addresses().iter().any(|m| m.contains(&q))
                || a.fields.text(dirconn_store::Field::LastName).is_some_and(|n| n.to_lowercase().contains(&q))
        })
        .collect();
    let page = Accounts {
        frame: Frame::new(admin, "Accounts"),
        domains: live.host.domains().iter().map(|d| d.name.clone()).collect(),
        domain: domain.unwrap_or_default(),
        q,
        total: matching.len(),
        accounts: matching.iter().take(SHOWN).map(|a| AccountView::from(*a)).collect(),
        admins: all.iter().filter(|a| a.admin).map(AccountView::from).collect(),
        migration,
        problem,
    };
    Ok(html(&page))
}

/// The accounts page.
pub(crate) async fn list(AxState(web): AxState<State>, admin: Admin, Query(search): Query<Search>) -> Page {
    render(&web, &admin, search, None, String::new()).await
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    frame: Frame,
    a: AccountView,
    created: String,
    last_login: String,
}

/// One account.
pub(crate) async fn show(
    AxState(web): AxState<State>,
    admin: Admin,
    UrlPath((domain, login)): UrlPath<(String, String)>,
) -> Page {
    let live = web.service.live();
    let d = live.host.domain(&domain)?;
    let account = live.store.account(&d.name, &login).await.map_err(|e| Fail::from(dirconn_host::Error::from(e)))?;
    let Some(account) = account else {
        return Err(Fail::from(dirconn_host::Error::NoAccount { domain: d.name.clone(), login }));
    };
    let page = AccountPage {
        frame: Frame::new(&admin, "Accounts"),
        created: when(account.created_at),
        last_login: account.last_login.map_or_else(|| "never".to_owned(), when),
        a: AccountView::from(&account),
    };
    Ok(html(&page))
}

/// Turns a domain's local accounts (or the logins given) into directory-backed ones.
pub(crate) async fn migrate(AxState(web): AxState<State>, change: Change) -> Page {
    let live = web.service.live();
    let domain = change.get("domain").unwrap_or_default().to_owned();
    let logins: Vec<String> = change
        .get("logins")
        .unwrap_or_default()
        .split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    tracing::info!(admin = %change.admin.session.who, domain = %domain, ?logins, "migration asked for from the web pages");
    let (migration, problem) = match live.host.migrate(&live.store, &domain, &logins).await {
        Ok(m) => (Some(MigrationView::from(&m)), String::new()),
        Err(err) => (None, render_problem(&dirconn_views::Refused::host(&err, None).problem)),
    };
    render(&web, &change.admin, Search { domain: Some(domain), q: None }, migration, problem).await
}

#[derive(Deserialize, Default)]
pub(crate) struct AuditSearch {
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    login: Option<String>,
    #[serde(default)]
    outcome: Option<String>,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct Audit {
    frame: Frame,
    domains: Vec<String>,
    domain: String,
    login: String,
    outcome: String,
    rows: Vec<(String, AuditRecordView)>,
}

/// The audit of recent logins.
pub(crate) async fn audit(AxState(web): AxState<State>, admin: Admin, Query(s): Query<AuditSearch>) -> Page {
    let live = web.service.live();
    let domain = match s.domain.filter(|d| !d.is_empty()) {
        Some(d) => Some(live.host.domain(&d)?.name.clone()),
        None => None,
    };
    let login = s.login.filter(|l| !l.trim().is_empty());
    let outcome = s.outcome.filter(|o| !o.is_empty());
    web.service.flush().await;
    let q = AuditQuery {
        domain: domain.clone(),
        login: login.clone(),
        outcome: outcome.clone(),
        since_ms: None,
        limit: 200,
    };
    let rows = live.store.audit(&q).await.map_err(|e| Fail::from(dirconn_host::Error::from(e)))?;
    let page = Audit {
        frame: Frame::new(&admin, "Audit"),
        domains: live.host.domains().iter().map(|d| d.name.clone()).collect(),
        domain: domain.unwrap_or_default(),
        login: login.unwrap_or_default(),
        outcome: outcome.unwrap_or_default(),
        rows: rows.iter().map(|r| (when(r.at / 1000), AuditRecordView::from(r))).collect(),
    };
    Ok(html(&page))
}
