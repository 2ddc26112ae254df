//! What the command line prints: plain text for people, JSON (`--json`) for scripts.

use std::{path::Path, time::Duration};

use dirconn_abi::{AttrValue, AttributeReport, ConnectorError, FilterReport, StageStatus, TestReport, UserEntry};
use dirconn_host::{Domain, Error, Host, LoginOutcome, Migration, PluginRegistry, Via};
use dirconn_store::{Account, Field, SyncReport, Value as FieldValue};
use serde_json::{Value, json};

fn print_json(value: &Value) {
    println!("{}", serde_json::to_string_pretty(value).unwrap_or_default());
}

fn error_json(err: &ConnectorError) -> Value {
    json!({
        "kind": err.kind.as_str(),
        "code": err.code.as_str(),
        "message": err.message.as_str(),
        "fix": err.fix.as_str(),
        "diagnostic": err.diagnostic.as_ref().map(|d| d.as_str()).into_option(),
    })
}

fn print_error_lines(err: &ConnectorError, indent: &str) {
    println!("{indent}{} {}", err.code, err.message);
    if !err.fix.is_empty() {
        println!("{indent}Fix: {}", err.fix);
    }
    if let Some(diag) = err.diagnostic.as_ref().into_option() {
        println!("{indent}Server said: {diag}");
    }
}

/// A failure of the command itself, on standard error (or as JSON on standard output).
pub fn error(err: &Error, as_json: bool) {
    if as_json {
        let detail = err.connector_error().map(error_json);
        print_json(
            &json!({ "ok": false, "code": err.code(), "kind": err.kind().as_str(), "error": err.to_string(), "detail": detail }),
        );
    } else {
        eprintln!("dirconn: {err}");
    }
}

/// A failure of the service's start (its `[service]` table or a listener).
pub fn service_error(err: &dirconn_service::Error, as_json: bool) {
    if as_json {
        print_json(
            &json!({ "ok": false, "code": err.code(), "kind": err.kind().as_str(), "message": err.message(), "fix": err.fix() }),
        );
    } else {
        eprintln!("dirconn: {err}");
    }
}

pub fn plugins(dir: &Path, registry: &PluginRegistry, as_json: bool) {
    if as_json {
        let loaded: Vec<Value> = registry
            .loaded
            .iter()
            .map(|p| {
                json!({
                    "name": p.metadata.name.as_str(),
                    "version": p.metadata.version.as_str(),
                    "description": p.metadata.description.as_str(),
                    "kinds": p.metadata.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
                    "abi_version": p.metadata.abi_version,
                    "capabilities": p.metadata.capabilities.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
                    "path": p.path.display().to_string(),
                })
            })
            .collect();
        let refused: Vec<Value> = registry
            .refused
            .iter()
            .map(|r| json!({ "path": r.path.display().to_string(), "reason": r.reason }))
            .collect();
        print_json(&json!({ "plugin_dir": dir.display().to_string(), "loaded": loaded, "refused": refused }));
        return;
    }
    println!("Plugins in {}:", dir.display());
    if registry.loaded.is_empty() {
        println!("  (none loaded)");
    }
    for p in &registry.loaded {
        let kinds: Vec<&str> = p.metadata.kinds.iter().map(|k| k.as_str()).collect();
        println!(
            "  {} {}  kinds: {}  ABI {}",
            p.metadata.name,
            p.metadata.version,
            kinds.join(", "),
            p.metadata.abi_version
        );
        println!("      {}", p.metadata.description);
        println!("      {}", p.path.display());
    }
    if !registry.refused.is_empty() {
        println!("Refused:");
        for r in &registry.refused {
            println!("  {}: {}", r.path.display(), r.reason);
        }
    }
}

pub fn domains(host: &Host, as_json: bool) {
    if as_json {
        let list: Vec<Value> = host
            .domains()
            .iter()
            .map(|d| json!({ "name": d.name, "display_name": d.display_name, "connector": d.kind, "plugin": d.plugin, "enabled": d.enabled() }))
            .collect();
        print_json(&json!({ "config": host.config().path.display().to_string(), "domains": list }));
        return;
    }
    println!("Domains in {}:", host.config().path.display());
    for d in host.domains() {
        let state = if d.enabled() { "enabled" } else { "disabled" };
        println!("  {:<24} {:<18} {:<9} {}", d.name, d.kind, state, d.display_name);
    }
    if let Some(default) = &host.config().default_domain {
        println!("Logins without @domain go to {default}.");
    }
}

pub fn report(domain: &Domain, report: &TestReport, as_json: bool) {
    if as_json {
        let stages: Vec<Value> = report
            .stages
            .iter()
            .map(|s| {
                json!({
                    "stage": s.stage.as_str(),
                    "target": s.target.as_str(),
                    "status": match s.status { StageStatus::Passed => "passed", StageStatus::Failed => "failed", StageStatus::Skipped => "skipped" },
                    "elapsed_ms": s.elapsed_us as f64 / 1000.0,
                    "detail": s.detail.as_str(),
                    "error": s.error.as_ref().map(error_json).into_option(),
                })
            })
            .collect();
        print_json(&json!({ "domain": domain.name, "ok": report.passed(), "stages": stages }));
        return;
    }
    println!("Testing {} ({} connector)", domain.name, domain.kind);
    for s in report.stages.iter() {
        let status = match s.status {
            StageStatus::Passed => "PASS",
            StageStatus::Failed => "FAIL",
            StageStatus::Skipped => "SKIP",
        };
        println!("  {status}  {:<13} {:>9.1} ms  {}  {}", s.stage, s.elapsed_us as f64 / 1000.0, s.target, s.detail);
        if let Some(err) = s.error.as_ref().into_option() {
            print_error_lines(err, "        ");
        }
    }
    match report.first_failure() {
        None => println!("Result: every stage passed."),
        Some(s) => println!("Result: failed at the {} stage.", s.stage),
    }
}

fn user_json(user: &UserEntry) -> Value {
    let attributes: serde_json::Map<String, Value> = user
        .attributes
        .iter()
        .map(|a| {
            let values: Vec<Value> = a
                .values
                .iter()
                .map(|v| match v {
                    AttrValue::Text(t) => Value::from(t.as_str()),
                    AttrValue::Binary(b) => json!({ "binary_bytes": b.len() }),
                })
                .collect();
            (a.name.to_string(), Value::from(values))
        })
        .collect();
    json!({
        "dn": user.dn.as_str(),
        "id": user.id.as_str(),
        "login": user.login.as_str(),
        "email": user.email.as_ref().map(|s| s.as_str()).into_option(),
        "display_name": user.display_name.as_ref().map(|s| s.as_str()).into_option(),
        "groups": user.groups.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "state": user.state.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
        "warnings": user.warnings.iter().map(|g| g.as_str()).collect::<Vec<_>>(),
        "attributes": attributes,
    })
}

fn print_user(user: &UserEntry) {
    println!("  DN:      {}", user.dn);
    println!("  ID:      {}", user.id);
    println!("  Login:   {}", user.login);
    if let Some(name) = user.display_name.as_ref().into_option() {
        println!("  Name:    {name}");
    }
    if let Some(email) = user.email.as_ref().into_option() {
        println!("  Email:   {email}");
    }
    println!("  Groups:  {}", if user.groups.is_empty() { "(none)".to_owned() } else { user.groups.join("; ") });
    if !user.state.is_empty() {
        println!("  State:   {}", user.state.join(", "));
    }
    for w in user.warnings.iter() {
        println!("  Warning: {w}");
    }
}

/// A refused or failed login, as JSON.
fn refusal_json(domain: &Domain, login: &str, ms: f64, err: &Error) -> Value {
    json!({
        "ok": false, "domain": domain.name, "login": login, "elapsed_ms": ms,
        "code": err.code(), "kind": err.kind().as_str(), "user_message": domain.end_user_message(err.kind()),
        "error": err.connector_error().map(error_json).unwrap_or_else(|| json!({ "message": err.to_string() })),
    })
}

/// A refused (DENIED) or failed (FAILED) login, as text.
fn print_refusal(domain: &Domain, login: &str, ms: f64, err: &Error) {
    let verdict = if err.kind().is_denial() { "DENIED" } else { "FAILED" };
    println!("{verdict} {} ({}) in {ms:.1} ms", who(login, domain), err.kind());
    match err.connector_error() {
        Some(c) => print_error_lines(c, "  "),
        None => println!("  {err}"),
    }
    println!("  the user is told: {}", domain.end_user_message(err.kind()));
}

/// A login within its domain: `alice@example.org`, or `EXAMPLE\alice in example.org` for a login that
/// carries its own domain part (an NT domain, a UPN).
fn who(login: &str, domain: &Domain) -> String {
    if login.contains(['@', '\\']) { format!("{login} in {}", domain.name) } else { format!("{login}@{}", domain.name) }
}

/// A password changed or reset, or why not.
pub fn password(domain: &Domain, login: &str, change: bool, outcome: &Result<(), Error>, as_json: bool) {
    let what = if change { "changed" } else { "reset" };
    if as_json {
        let value = match outcome {
            Ok(()) => json!({ "ok": true, "domain": domain.name, "login": login, "operation": what }),
            Err(err) => json!({
                "ok": false, "domain": domain.name, "login": login, "operation": what,
                "code": err.code(), "kind": err.kind().as_str(),
                "error": err.connector_error().map(error_json).unwrap_or_else(|| json!({ "message": err.to_string() })),
            }),
        };
        print_json(&value);
        return;
    }
    match outcome {
        Ok(()) => println!("PASSWORD {what} for {login} in {}", domain.name),
        Err(err) => {
            println!(
                "REFUSED password {} for {login} in {} ({})",
                if change { "change" } else { "reset" },
                domain.name,
                err.kind()
            );
            match err.connector_error() {
                Some(c) => print_error_lines(c, "  "),
                None => println!("  {err}"),
            }
        }
    }
}

pub fn auth(domain: &Domain, login: &str, outcome: &Result<UserEntry, Error>, took: Duration, as_json: bool) {
    let ms = took.as_secs_f64() * 1000.0;
    if as_json {
        let value = match outcome {
            Ok(user) => {
                json!({ "ok": true, "domain": domain.name, "login": login, "elapsed_ms": ms, "user": user_json(user) })
            }
            Err(err) => refusal_json(domain, login, ms, err),
        };
        print_json(&value);
        return;
    }
    match outcome {
        Ok(user) => {
            println!("ACCEPTED {} in {ms:.1} ms", who(login, domain));
            print_user(user);
        }
        Err(err) => print_refusal(domain, login, ms, err),
    }
}

pub fn user(domain: &Domain, user: &UserEntry, as_json: bool) {
    if as_json {
        print_json(&json!({ "domain": domain.name, "user": user_json(user) }));
        return;
    }
    println!("Found in {}:", domain.name);
    print_user(user);
}

pub fn attributes(domain: &Domain, report: &AttributeReport, as_json: bool) {
    if as_json {
        let sample: serde_json::Map<String, Value> =
            report.sample.iter().map(|nv| (nv.name.to_string(), Value::from(nv.value.as_str()))).collect();
        print_json(&json!({
            "domain": domain.name,
            "schema": report.schema.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "sample_dn": report.sample_dn.as_ref().map(|s| s.as_str()).into_option(),
            "sample": sample,
        }));
        return;
    }
    match report.sample_dn.as_ref().into_option() {
        Some(dn) => {
            println!("Attributes of a sample user ({dn}):");
            for nv in report.sample.iter() {
                println!("  {:<28} {}", nv.name, nv.value);
            }
        }
        None => println!("No user matched the user filter, so there is no sample entry."),
    }
    println!("Attribute types in the server's schema ({}):", report.schema.len());
    for chunk in report.schema.chunks(4) {
        println!("  {}", chunk.iter().map(|s| format!("{s:<28}")).collect::<String>().trim_end());
    }
}

pub fn filter(domain: &Domain, report: &FilterReport, as_json: bool) {
    if as_json {
        let items: serde_json::Map<String, Value> =
            report.items.iter().map(|nv| (nv.name.to_string(), Value::from(nv.value.as_str()))).collect();
        print_json(&json!({ "domain": domain.name, "filters": items }));
        return;
    }
    println!("Filters of {}:", domain.name);
    for nv in report.items.iter() {
        println!("  {:<20} {}", nv.name, nv.value);
    }
}

fn when(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map_or_else(|| t.to_string(), |d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
}

fn account_json(a: &Account) -> serde_json::Value {
    let fields: serde_json::Map<String, serde_json::Value> = Field::ALL
        .iter()
        .filter_map(|f| {
            let v = match a.fields.get(*f)? {
                FieldValue::Text(t) => json!(t),
                FieldValue::Bytes(b) => json!(format!("<{} bytes>", b.len())),
            };
            Some((f.name().to_owned(), v))
        })
        .collect();
    json!({
        "id": a.id, "domain": a.domain, "login": a.login, "auth_name": a.auth_name, "source": a.source.name(),
        "directory_key": a.directory_key, "dn": a.dn, "active": a.active, "admin": a.admin, "fields": fields,
        "groups": a.groups, "app_groups": a.app_groups, "created_at": a.created_at, "updated_at": a.updated_at,
        "last_login": a.last_login, "deactivated_at": a.deactivated_at,
    })
}

pub fn account_login(
    domain: &Domain,
    login: &str,
    outcome: &Result<LoginOutcome, Error>,
    took: Duration,
    as_json: bool,
) {
    let ms = took.as_secs_f64() * 1000.0;
    if as_json {
        let value = match outcome {
            Ok(o) => json!({
                "ok": true, "domain": domain.name, "login": login, "elapsed_ms": ms, "via": format!("{:?}", o.via).to_lowercase(),
                "created": o.created, "warnings": o.warnings, "account": account_json(&o.account),
                "user": { "dn": o.account.dn },
            }),
            Err(err) => refusal_json(domain, login, ms, err),
        };
        print_json(&value);
        return;
    }
    match outcome {
        Ok(o) => {
            let how = match o.via {
                Via::Directory => "by the directory",
                Via::Local => "as a local account",
                Via::OfflineCache => "with the cached password (directory unavailable)",
            };
            println!("ACCEPTED {} {how} in {ms:.1} ms", who(login, domain));
            if o.created {
                println!("  account {}@{} created", o.account.login, o.account.domain);
            }
            for w in &o.warnings {
                println!("  note: {w}");
            }
            print_account(&o.account);
        }
        Err(err) => print_refusal(domain, login, ms, err),
    }
}

fn print_account(a: &Account) {
    println!("  account:  {}@{} ({}{})", a.login, a.domain, a.source, if a.admin { ", administrator" } else { "" });
    if a.auth_name != a.login {
        println!("  logs in as: {}", a.auth_name);
    }
    println!(
        "  active:   {}",
        if a.active {
            "yes".to_owned()
        } else {
            format!("no (since {})", a.deactivated_at.map(when).unwrap_or_default())
        }
    );
    if let Some(dn) = &a.dn {
        println!("  dn:       {dn}");
    }
    if let Some(key) = &a.directory_key {
        println!("  key:      {key}");
    }
    for f in Field::ALL {
        match a.fields.get(f) {
            Some(FieldValue::Text(t)) => println!("  {:<13} {t}", format!("{}:", f.name())),
            Some(FieldValue::Bytes(b)) => println!("  {:<13} <{} bytes>", format!("{}:", f.name()), b.len()),
            None => {}
        }
    }
    for g in &a.groups {
        println!("  group:    {g}");
    }
    for g in &a.app_groups {
        println!("  app group: {g}");
    }
    if let Some(t) = a.last_login {
        println!("  last login: {}", when(t));
    }
}

/// One item, as JSON or as text.
fn show<T>(item: &T, as_json: bool, to_json: fn(&T) -> serde_json::Value, as_text: fn(&T)) {
    if as_json { print_json(&to_json(item)) } else { as_text(item) }
}

pub fn account(a: &Account, as_json: bool) {
    show(a, as_json, account_json, print_account);
}

pub fn accounts(list: &[Account], as_json: bool) {
    if as_json {
        print_json(&json!(list.iter().map(account_json).collect::<Vec<_>>()));
        return;
    }
    println!("{:<32} {:<10} {:<7} {:<24} email", "account", "source", "active", "logs in as");
    for a in list {
        println!(
            "{:<32} {:<10} {:<7} {:<24} {}",
            format!("{}@{}", a.login, a.domain),
            a.source.name(),
            if a.active { "yes" } else { "no" },
            a.auth_name,
            a.fields.text(Field::Email).unwrap_or("")
        );
    }
    println!("{} account(s)", list.len());
}

fn report_json(r: &SyncReport) -> serde_json::Value {
    let c = &r.counts;
    json!({
        "id": r.id, "domain": r.domain, "started_at": r.started_at, "duration_ms": r.duration_ms, "mode": r.mode,
        "dry_run": r.dry_run, "outcome": r.outcome.name(), "message": r.message, "details": r.details,
        "counts": { "seen": c.seen, "created": c.created, "updated": c.updated, "unchanged": c.unchanged,
            "deactivated": c.deactivated, "reactivated": c.reactivated, "skipped": c.skipped, "errors": c.errors },
    })
}

fn print_report(r: &SyncReport) {
    let c = &r.counts;
    println!(
        "{} sync of {} at {}{}: {} in {:.1} s",
        r.mode,
        r.domain,
        when(r.started_at),
        if r.dry_run { " (dry run: nothing written)" } else { "" },
        r.outcome.name(),
        r.duration_ms as f64 / 1000.0
    );
    println!(
        "  read {}  created {}  updated {}  unchanged {}  deactivated {}  reactivated {}  skipped {}  errors {}",
        c.seen, c.created, c.updated, c.unchanged, c.deactivated, c.reactivated, c.skipped, c.errors
    );
    if let Some(m) = &r.message {
        println!("  {m}");
    }
    for d in &r.details {
        println!("  {d}");
    }
}

pub fn sync_report(r: &SyncReport, as_json: bool) {
    show(r, as_json, report_json, print_report);
}

pub fn sync_reports(list: &[SyncReport], as_json: bool) {
    if as_json {
        print_json(&json!(list.iter().map(report_json).collect::<Vec<_>>()));
        return;
    }
    if list.is_empty() {
        println!("No sync has run yet.");
    }
    for r in list {
        print_report(r);
    }
}

pub fn migration(m: &Migration, as_json: bool) {
    if as_json {
        print_json(&json!({ "migrated": m.migrated, "unmatched": m.unmatched, "conflicts": m.conflicts }));
        return;
    }
    for (login, dn) in &m.migrated {
        println!("migrated  {login} -> {dn}");
    }
    for login in &m.unmatched {
        println!("unmatched {login}: no directory entry has this login or email; it stays local");
    }
    for c in &m.conflicts {
        println!("conflict  {c}");
    }
    println!("{} migrated, {} unmatched, {} in conflict", m.migrated.len(), m.unmatched.len(), m.conflicts.len());
}

pub fn done(message: &str, as_json: bool) {
    if as_json {
        print_json(&json!({ "ok": true, "message": message }));
    } else {
        println!("{message}");
    }
}
