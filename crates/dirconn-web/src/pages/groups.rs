//! Group mappings: the domain's directory groups mapped to app groups, "assign all users", and a
//! directory group picked from the server (the groups of a member looked up there, and those the store's
//! synced accounts are in).

use std::collections::BTreeSet;

use askama::Template;
use axum::extract::{Path as UrlPath, Query, State as AxState};
use serde::Deserialize;

use super::{Frame, Page, html, render_problem};
use crate::{
    Admin, Change, Error, Fail, State, Web,
    edit::{self, Document},
};

#[derive(Template)]
#[template(path = "groups.html")]
struct Groups {
    frame: Frame,
    domain: String,
    map: Vec<(String, Vec<String>)>,
    assign_all: String,
    member: String,
    found: Vec<String>,
    known: Vec<String>,
    notice: Option<String>,
    problem: String,
    read_only: bool,
}

#[derive(Deserialize)]
pub(crate) struct GroupsQuery {
    /// A member whose groups are looked up on the server.
    #[serde(default)]
    member: Option<String>,
}

async fn render(
    web: &Web,
    admin: &Admin,
    domain: &str,
    member: Option<String>,
    notice: Option<String>,
    mut problem: String,
) -> Page {
    let live = web.service.live();
    let d = live.host.domain(domain)?;
    let path = live.host.config().path.clone();
    let (doc, text) = Document::read(&path)?;
    let index = dirconn_host::HostConfig::parse(&path, &text)?
        .domains
        .iter()
        .position(|c| c.name == d.name)
        .unwrap_or(usize::MAX);
    let assign_all = doc
        .domain(index)
        .and_then(|t| crate::fields::item(t, "groups.assign_all"))
        .map(crate::fields::shown)
        .unwrap_or_default();
    let mut found = Vec::new();
    if let Some(m) = member.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
        match d.lookup(m).await {
            Ok(user) => found = user.groups.iter().map(|g| g.to_string()).collect(),
            Err(err) => problem.push_str(&render_problem(&dirconn_views::Refused::host(&err, None).problem)),
        }
    }
    let accounts = live.store.accounts(Some(&d.name)).await.map_err(|e| Fail::from(dirconn_host::Error::from(e)))?;
    let known: BTreeSet<String> = accounts.iter().flat_map(|a| a.groups.iter().cloned()).collect();
    let page = Groups {
        frame: Frame::new(admin, "Domains"),
        domain: d.name.clone(),
        map: doc.group_map(index),
        assign_all,
        member: member.unwrap_or_default(),
        found,
        known: known.into_iter().collect(),
        notice,
        problem,
        read_only: edit::writable(&path).is_err(),
    };
    Ok(html(&page))
}

/// The group mappings page.
pub(crate) async fn page(
    AxState(web): AxState<State>,
    admin: Admin,
    UrlPath(domain): UrlPath<String>,
    Query(q): Query<GroupsQuery>,
) -> Page {
    render(&web, &admin, &domain, q.member, None, String::new()).await
}

/// Adds or removes a mapping, or sets "assign all users"; saved like the settings (validated, atomic,
/// reloaded).
pub(crate) async fn change(AxState(web): AxState<State>, UrlPath(domain): UrlPath<String>, change: Change) -> Page {
    let outcome = apply(&web, &domain, &change);
    let (notice, problem) = match outcome {
        Ok(false) => (Some("Nothing changed.".to_owned()), String::new()),
        Ok(true) => match web.reloader.reload().await {
            Ok(()) => (Some("Saved and reloaded.".to_owned()), String::new()),
            Err(m) => (Some(format!("Saved, but the reload failed: {m}")), String::new()),
        },
        Err(Fail::Web(_, e)) => (None, render_problem(&e.problem())),
        Err(other) => return Err(other),
    };
    render(&web, &change.admin, &domain, None, notice, problem).await
}

fn apply(web: &Web, domain: &str, change: &Change) -> Result<bool, Fail> {
    let live = web.service.live();
    let name = live.host.domain(domain)?.name.clone();
    let path = live.host.config().path.clone();
    edit::writable(&path)?;
    let (mut doc, text) = Document::read(&path)?;
    let index = dirconn_host::HostConfig::parse(&path, &text)?
        .domains
        .iter()
        .position(|c| c.name == name)
        .unwrap_or(usize::MAX);
    let group = change.get("group").unwrap_or_default().trim().to_owned();
    let changed = match change.get("action") {
        Some("map") => {
            let apps: Vec<String> = change
                .get("apps")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned)
                .collect();
            if group.is_empty() || apps.is_empty() {
                return Err(Error::BadValue {
                    key: "groups.map".into(),
                    problem: "a mapping needs a group DN and at least one app group".into(),
                }
                .into());
            }
            let mut all =
                doc.group_map(index).into_iter().find(|(dn, _)| *dn == group).map(|(_, a)| a).unwrap_or_default();
            for a in apps {
                if !all.contains(&a) {
                    all.push(a);
                }
            }
            doc.set_group(index, &group, Some(&all))
        }
        Some("unmap") => doc.set_group(index, &group, None),
        Some("assign-all") => {
            let value = change.get("assign_all").map(str::trim).filter(|v| !v.is_empty()).map(Into::into);
            doc.set(index, "groups.assign_all", value)
        }
        _ => return Err(Error::BadValue { key: "action".into(), problem: "no such change".into() }.into()),
    };
    if !changed {
        return Ok(false);
    }
    let new = doc.text();
    let config = live.host.config();
    edit::load(&path, &new, &config.plugin_dir, live.host.registry()).map_err(|e| Fail::from(edit::invalid(&e)))?;
    edit::write(&path, &text, &new)?;
    tracing::info!(admin = %change.admin.session.who, domain = %name, group = %group, "group mappings saved from the web pages");
    Ok(true)
}
