//! What the command line prints: plain text for people, and for scripts (`--json`) the views of
//! `dirconn-views`, pretty-printed.

use std::{path::Path, time::Duration};

use dirconn_abi::{AttributeReport, ConnectorError, FilterReport, StageStatus, TestReport, UserEntry};
use dirconn_host::{Domain, Error, Host, LoginOutcome, Migration, PluginRegistry, Via};
use dirconn_store::{Account, AuditRecord, Field, SyncReport, Value as FieldValue};
use dirconn_views::{
    AccountView, AttributesView, AuditRecordView, AuthView, DomainsView, DoneView, ErrorView, FilterView, LoginView,
    LookupView, MigrationView, PasswordOperation, PasswordView, PluginsView, Refusal, SyncReportView, TestReportView,
};
use serde::Serialize;

/// A view as pretty JSON on standard output.
fn print_json(view: &impl Serialize) {
    println!("{}", serde_json::to_string_pretty(view).unwrap_or_default());
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
        print_json(&ErrorView::from(err));
    } else if err.message().contains('\n') {
        // A message drawn over several lines (a TOML error with its caret) keeps them; the fix follows.
        eprintln!("dirconn: [{}] {}\nFix: {}", err.code(), err.message(), err.fix());
    } else {
        eprintln!("dirconn: {err}");
    }
}

/// A failure of the service's start (its `[service]` table or a listener).
pub fn service_error(err: &dirconn_service::Error, as_json: bool) {
    if as_json {
        print_json(&ErrorView { ok: false, problem: err.problem() });
    } else {
        eprintln!("dirconn: {err}");
    }
}

pub fn plugins(dir: &Path, registry: &PluginRegistry, as_json: bool) {
    if as_json {
        print_json(&PluginsView::new(dir, registry));
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
        print_json(&DomainsView::from(host));
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
        print_json(&TestReportView::new(&domain.name, report));
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
        let operation = if change { PasswordOperation::Changed } else { PasswordOperation::Reset };
        print_json(&PasswordView::new(&domain.name, login, operation, outcome));
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
        match outcome {
            Ok(user) => print_json(&AuthView::new(&domain.name, login, took, user)),
            Err(err) => print_json(&Refusal::new(domain, login, took, err)),
        }
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
        print_json(&LookupView::new(&domain.name, user));
        return;
    }
    println!("Found in {}:", domain.name);
    print_user(user);
}

pub fn attributes(domain: &Domain, report: &AttributeReport, as_json: bool) {
    if as_json {
        print_json(&AttributesView::new(&domain.name, report));
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
        print_json(&FilterView::new(&domain.name, report));
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

pub fn account_login(
    domain: &Domain,
    login: &str,
    outcome: &Result<LoginOutcome, Error>,
    took: Duration,
    as_json: bool,
) {
    let ms = took.as_secs_f64() * 1000.0;
    if as_json {
        match outcome {
            Ok(o) => print_json(&LoginView::new(&domain.name, login, took, o)),
            Err(err) => print_json(&Refusal::new(domain, login, took, err)),
        }
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
    for address in a.all_addresses().iter().skip(1) {
        println!("  address:  {address}");
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

pub fn account(a: &Account, as_json: bool) {
    if as_json { print_json(&AccountView::from(a)) } else { print_account(a) }
}

/// A table lookup: the value alone, as `postmap -q` prints it, or a line on standard error when not found.
pub fn map_lookup(lookup: &dirconn_views::MapLookup, as_json: bool) {
    match (&lookup.value, as_json) {
        (_, true) => print_json(lookup),
        (Some(value), false) => println!("{value}"),
        (None, false) => eprintln!("{}: not found in the {} table", lookup.key, lookup.map),
    }
}

pub fn accounts(list: &[Account], as_json: bool) {
    if as_json {
        print_json(&list.iter().map(AccountView::from).collect::<Vec<_>>());
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
    if as_json { print_json(&SyncReportView::from(r)) } else { print_report(r) }
}

pub fn sync_reports(list: &[SyncReport], as_json: bool) {
    if as_json {
        print_json(&list.iter().map(SyncReportView::from).collect::<Vec<_>>());
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
        print_json(&MigrationView::from(m));
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
        print_json(&DoneView::new(message));
    } else {
        println!("{message}");
    }
}

/// A UTC time with milliseconds, from Unix milliseconds.
fn when_ms(t: i64) -> String {
    chrono::DateTime::from_timestamp_millis(t)
        .map_or_else(|| t.to_string(), |d| d.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
}

/// The authentication audit: one line per attempt, newest first.
pub fn audit(list: &[AuditRecord], as_json: bool) {
    if as_json {
        print_json(&list.iter().map(AuditRecordView::from).collect::<Vec<_>>());
        return;
    }
    if list.is_empty() {
        println!("No attempt matches.");
        return;
    }
    let dash = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_owned());
    println!(
        "{:<23} {:<9} {:<20} {:<24} {:<28} {:<15} {:<15} {:<10} {:<8} {:>10}",
        "time (UTC)",
        "interface",
        "domain",
        "login",
        "account",
        "client ip",
        "local ip",
        "service",
        "outcome",
        "latency ms"
    );
    for r in list {
        println!(
            "{:<23} {:<9} {:<20} {:<24} {:<28} {:<15} {:<15} {:<10} {:<8} {:>10.1}",
            when_ms(r.at),
            r.interface,
            dash(&r.domain),
            r.login,
            dash(&r.account),
            dash(&r.client_ip),
            dash(&r.local_ip),
            dash(&r.service),
            r.outcome,
            r.latency_us as f64 / 1000.0
        );
    }
    println!("{} attempt(s), newest first", list.len());
}
