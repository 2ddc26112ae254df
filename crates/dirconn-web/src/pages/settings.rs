//! A domain's settings: the form in sections (each field with its help and default), saved into the
//! configuration file in place; the drafts the tests of [`super::checks`] run on.
//!
//! The form's values become a draft configuration (the file with the form applied) loaded as the host
//! would, with the domain enabled; the tests run on the draft's domain. A stored bind password is never
//! sent to the browser; when the URLs or the bind DN differ from the file's, a test or a save needs the
//! password typed again (DC-834), so that a stored secret never goes to a server it was not set for.

use std::{collections::BTreeMap, path::Path};

use askama::Template;
use axum::{extract::Path as UrlPath, http::StatusCode, response::IntoResponse};
use dirconn_abi::ErrorKind;
use dirconn_host::{Host, HostConfig};
use dirconn_views::Problem;
use zeroize::Zeroizing;

use super::{
    Frame, Page,
    checks::{filter_items, preview_html},
    html, render_problem,
};
use crate::{
    Admin, Change, Error, Fail, State, Web,
    edit::{self, Document},
    fields::{self, Field, Input, Section},
};

/// The keys whose change needs the service password typed again.
const TARGET_KEYS: [&str; 3] = ["urls", "url", "bind_dn"];
/// The keys a bind password can come from.
const SECRET_KEYS: [&str; 3] = ["bind_password", "bind_password_file", "bind_password_env"];

/// One field as the page shows it.
pub(crate) struct FieldView {
    pub key: String,
    pub input: Input,
    pub value: String,
    pub help: String,
    pub default: String,
    pub error: Option<String>,
    /// Whether it names a directory attribute (the picker's list applies).
    pub attribute: bool,
}

impl FieldView {
    pub fn id(&self) -> String {
        format!("f-{}", self.key.replace('.', "-"))
    }
    pub fn name(&self) -> String {
        format!("k.{}", self.key)
    }
    /// The help, its `code` spans as `<code>`, everything escaped.
    pub fn help_html(&self) -> String {
        code_spans(&self.help)
    }

    /// The default, the same way.
    pub fn default_html(&self) -> String {
        code_spans(&self.default)
    }

    pub fn is(&self, kind: &str) -> bool {
        matches!(
            (self.input, kind),
            (Input::Text, "text")
                | (Input::Number, "number")
                | (Input::Bool, "bool")
                | (Input::List, "list")
                | (Input::Secret, "secret")
        )
    }
}

/// Markdown's code spans (`x`) as `<code>`; every other character escaped for HTML.
fn code_spans(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for (i, part) in text.split('`').enumerate() {
        let escaped = part
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('"', "&quot;")
            .replace('\'', "&#39;");
        if i % 2 == 1 {
            out.push_str(&format!("<code>{escaped}</code>"));
        } else {
            out.push_str(&escaped);
        }
    }
    out
}

pub(crate) struct SectionView {
    pub title: &'static str,
    pub anchor: &'static str,
    pub fields: Vec<FieldView>,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    frame: Frame,
    domain: String,
    kind: String,
    sections: Vec<SectionView>,
    secret_set: bool,
    secret_source: String,
    rev: String,
    read_only: Option<String>,
    result: String,
    preview: String,
    notice: Option<String>,
    problem: String,
}

/// The domain's file section, its index, and the file.
pub(super) struct Loaded {
    pub doc: Document,
    pub text: String,
    pub index: usize,
    pub kind: String,
}

pub(super) fn loaded(web: &Web, domain: &str) -> Result<Loaded, Fail> {
    let live = web.service.live();
    let path = live.host.config().path.clone();
    let (doc, text) = Document::read(&path)?;
    let config = HostConfig::parse(&path, &text)?;
    let name = live.host.domain(domain)?.name.clone();
    let index = config.domains.iter().position(|d| d.name == name).ok_or(Fail::Host(
        StatusCode::NOT_FOUND,
        Problem {
            code: "DC-010".into(),
            kind: ErrorKind::NotFound.into(),
            message: format!("The domain {name} is not in {} any more.", path.display()),
            fix: "Reload the service (SIGHUP) or add the domain back.".into(),
            diagnostic: None,
        },
    ))?;
    let kind = config.domains[index].connector.clone();
    Ok(Loaded { doc, text, index, kind })
}

fn is_attribute(key: &str) -> bool {
    key.starts_with("mapping.") || key.ends_with("_attribute") || key == "attributes"
}

/// The page's sections: the values of `posted` where posted, else the file's.
fn sections(
    l: &Loaded,
    all: &[Field],
    posted: Option<&[(String, String)]>,
    errors: &BTreeMap<String, String>,
) -> Vec<SectionView> {
    let table = l.doc.domain(l.index);
    Section::ALL
        .iter()
        .map(|&section| SectionView {
            title: section.title(),
            anchor: section.anchor(),
            fields: all
                .iter()
                .filter(|f| f.section == section)
                .map(|f| {
                    let name = format!("k.{}", f.key);
                    let posted = posted.and_then(|p| p.iter().find(|(k, _)| *k == name)).map(|(_, v)| v.clone());
                    let value = match f.input {
                        Input::Secret => String::new(),
                        _ => posted.unwrap_or_else(|| {
                            table.and_then(|t| fields::item(t, &f.key)).map(fields::shown).unwrap_or_default()
                        }),
                    };
                    FieldView {
                        key: f.key.clone(),
                        input: f.input,
                        value,
                        help: f.help.clone(),
                        default: f.default.clone(),
                        error: errors.get(&f.key).cloned(),
                        attribute: is_attribute(&f.key),
                    }
                })
                .collect(),
        })
        .collect()
}

fn secret_source(l: &Loaded) -> Option<&'static str> {
    let table = l.doc.domain(l.index)?;
    SECRET_KEYS.into_iter().find(|k| table.contains_key(k))
}

/// What a page render needs beyond the file.
#[derive(Default)]
struct Extra<'a> {
    posted: Option<&'a [(String, String)]>,
    errors: BTreeMap<String, String>,
    result: String,
    notice: Option<String>,
    problem: String,
}

fn render(web: &Web, admin: &Admin, domain: &str, extra: Extra<'_>, status: StatusCode) -> Page {
    let l = loaded(web, domain)?;
    let live = web.service.live();
    let in_force = live.host.domain(domain)?;
    let name = in_force.name.clone();
    // The values in force: the defaults of the connector kind's keys, and the filters' preview.
    let items = filter_items(Some(in_force));
    let effective: BTreeMap<String, String> = items.iter().cloned().collect();
    let all = fields::fields(&l.kind, &effective);
    let source = secret_source(&l);
    let page = SettingsPage {
        frame: Frame::new(admin, "Domains"),
        domain: name.clone(),
        kind: l.kind.clone(),
        sections: sections(&l, &all, extra.posted, &extra.errors),
        secret_set: source.is_some(),
        secret_source: source.unwrap_or_default().to_owned(),
        rev: edit::revision(&l.text),
        read_only: edit::writable(&l.doc.path).err().map(|e| e.message()),
        preview: preview_html(items),
        result: extra.result,
        notice: extra.notice,
        problem: extra.problem,
    };
    Ok((status, html(&page)).into_response())
}

/// The settings page.
pub(crate) async fn page(
    axum::extract::State(web): axum::extract::State<State>,
    admin: Admin,
    UrlPath(domain): UrlPath<String>,
) -> Page {
    render(&web, &admin, &domain, Extra::default(), StatusCode::OK)
}

/// A draft: the file with the form applied, and what the form changed.
pub(super) struct Draft {
    pub l: Loaded,
    pub changed: Vec<String>,
    pub secret: Option<Zeroizing<String>>,
}

/// Applies the form to the file; refuses a changed target without the password typed again.
pub(super) fn draft(web: &Web, domain: &str, change: &Change) -> Result<Draft, Fail> {
    let mut l = loaded(web, domain)?;
    let all = fields::fields(&l.kind, &BTreeMap::new());
    let had_secret = secret_source(&l).is_some();
    let changed = l.doc.apply(l.index, &all, &change.form)?;
    let secret = change.get("k.bind_password").filter(|p| !p.is_empty()).map(|p| Zeroizing::new(p.to_owned()));
    let target: Vec<&str> = TARGET_KEYS.into_iter().filter(|k| changed.iter().any(|c| c == k)).collect();
    if had_secret && secret.is_none() && !target.is_empty() {
        return Err(Error::SecretNeeded { changed: target.join(" and ") }.into());
    }
    Ok(Draft { l, changed, secret })
}

/// The draft's host, with the domain enabled and the typed password in force (for tests only).
pub(super) fn test_host(web: &Web, d: &mut Draft) -> Result<Host, Fail> {
    let index = d.l.index;
    d.l.doc.set(index, "enabled", None);
    if let Some(secret) = &d.secret {
        for k in SECRET_KEYS {
            d.l.doc.set(index, k, None);
        }
        d.l.doc.set(index, "bind_password", Some(secret.as_str().into()));
    }
    let live = web.service.live();
    let config = live.host.config();
    let text = Zeroizing::new(d.l.doc.text());
    edit::load(&config.path, &text, &config.plugin_dir, live.host.registry()).map_err(|e| edit::invalid(&e).into())
}

/// A failure of a test or a save shown at its field (or above the form).
pub(super) fn shown_at(web: &Web, admin: &Admin, domain: &str, change: &Change, err: Fail) -> Page {
    let Fail::Web(status, err) = err else { return Err(err) };
    let mut extra = Extra { posted: Some(&change.form), ..Extra::default() };
    if let Some(key) = err.field() {
        extra.errors.insert(key.to_owned(), format!("[{}] {} Fix: {}", err.code(), err.message(), err.fix()));
    }
    extra.problem = render_problem(&err.problem());
    if admin.htmx {
        // htmx swaps only 2xx answers: the fragment with the problem is the answer.
        return Ok(axum::response::Html(extra.problem).into_response());
    }
    render(web, admin, domain, extra, status)
}

/// The result of a test: the fragment for htmx, else the whole page with it.
pub(super) fn answer(web: &Web, admin: &Admin, domain: &str, change: &Change, result: String) -> Page {
    if admin.htmx {
        return Ok(axum::response::Html(result).into_response());
    }
    render(web, admin, domain, Extra { posted: Some(&change.form), result, ..Extra::default() }, StatusCode::OK)
}

/// Saves the form into the configuration file: validated by loading it as the host would, written
/// atomically with the previous file kept, then reloaded.
pub(crate) async fn save(
    axum::extract::State(web): axum::extract::State<State>,
    UrlPath(domain): UrlPath<String>,
    change: Change,
) -> Page {
    let admin = &change.admin;
    match save_draft(&web, &domain, &change) {
        Err(e) => shown_at(&web, admin, &domain, &change, e),
        Ok(changed) if changed.is_empty() => render(
            &web,
            admin,
            &domain,
            Extra { notice: Some("Nothing changed.".into()), ..Extra::default() },
            StatusCode::OK,
        ),
        Ok(changed) => {
            tracing::info!(admin = %admin.session.who, domain = %domain, ?changed, "configuration saved from the web pages");
            let notice = match web.reloader.reload().await {
                Ok(()) => format!("Saved and reloaded: {}.", changed.join(", ")),
                Err(message) => format!("Saved ({}), but the reload failed: {message}", changed.join(", ")),
            };
            render(&web, admin, &domain, Extra { notice: Some(notice), ..Extra::default() }, StatusCode::OK)
        }
    }
}

fn save_draft(web: &Web, domain: &str, change: &Change) -> Result<Vec<String>, Fail> {
    let mut d = draft(web, domain, change)?;
    let path = d.l.doc.path.clone();
    edit::writable(&path)?;
    if change.get("rev") != Some(edit::revision(&d.l.text).as_str()) {
        return Err(Error::Changed { path: path.display().to_string() }.into());
    }
    let index = d.l.index;
    let mut secret_file = None;
    if let Some(secret) = &d.secret {
        let table = d.l.doc.domain(index);
        let file = table.and_then(|t| t.get("bind_password_file")).and_then(|i| i.as_str()).map(str::to_owned);
        let env = table.and_then(|t| t.get("bind_password_env")).and_then(|i| i.as_str()).map(str::to_owned);
        match (file, env) {
            (Some(file), _) => secret_file = Some(file),
            (None, Some(var)) => {
                if std::env::var(&var).ok().as_deref() != Some(secret.as_str()) {
                    return Err(Error::BadValue {
                        key: "bind_password".into(),
                        problem: format!("the password comes from the environment variable {var}, and this is not its value; set it there"),
                    }
                    .into());
                }
            }
            (None, None) => {
                d.l.doc.set(index, "bind_password", Some(secret.as_str().into()));
                d.changed.push("bind_password".into());
            }
        }
    }
    let live = web.service.live();
    let config = live.host.config();
    let text = Zeroizing::new(d.l.doc.text());
    let host = edit::load(&path, &text, &config.plugin_dir, live.host.registry())
        .map_err(|e| Fail::from(edit::invalid(&e)))?;
    dirconn_service::ServiceConfig::from_table(&host.config().service, &host.config().dir).map_err(|e| {
        Fail::from(Error::Invalid { key: None, problem: format!("[{}] {}", e.code(), e.message()), fix: e.fix() })
    })?;
    drop(host);
    if let (Some(file), Some(secret)) = (secret_file, &d.secret) {
        let file = config.dir.join(file);
        write_secret(&file, secret)?;
        d.changed.push("bind_password_file".into());
    }
    if d.changed.is_empty() {
        return Ok(d.changed);
    }
    edit::write(&path, &d.l.text, &text)?;
    Ok(d.changed)
}

/// Replaces a password file (mode 0600) atomically.
fn write_secret(file: &Path, secret: &str) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt as _;
    let fail = |e: std::io::Error| Error::ReadOnly { path: file.display().to_string(), problem: e.to_string() };
    let tmp = file.with_extension("dirconn-tmp");
    std::fs::write(&tmp, format!("{secret}\n")).map_err(fail)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
    std::fs::rename(&tmp, file).map_err(fail)
}

#[cfg(test)]
mod tests {
    #[test]
    fn code_spans_are_code_and_the_rest_is_escaped() {
        assert_eq!(super::code_spans("use `<a>` & \"b\""), "use <code>&lt;a&gt;</code> &amp; &quot;b&quot;");
    }
}
