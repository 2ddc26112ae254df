//! The command line's part of the authentication audit: `dirconn login` records its attempt (interface
//! `cli`), and `dirconn audit` asks the store for the attempts.

use std::time::Duration;

use dirconn_host::{Error, LoginOutcome};
use dirconn_store::{AuditQuery, AuditRecord, Store};

/// The audit record of a `dirconn login` that started at `at_ms` (Unix milliseconds) and took `took`.
fn login_record(
    domain: &str,
    login: &str,
    outcome: &Result<LoginOutcome, Error>,
    at_ms: i64,
    took: Duration,
) -> AuditRecord {
    let (result, kind, account) = match outcome {
        Ok(o) => ("ok".to_owned(), "ok".to_owned(), Some(format!("{}@{}", o.account.login, o.account.domain))),
        Err(e) => (e.code().to_owned(), e.kind().as_str().to_owned(), None),
    };
    AuditRecord {
        id: String::new(),
        at: at_ms,
        interface: "cli".to_owned(),
        domain: Some(domain.to_owned()),
        login: login.to_owned(),
        account,
        client_ip: None,
        local_ip: None,
        service: None,
        outcome: result,
        kind,
        latency_us: i64::try_from(took.as_micros()).unwrap_or(i64::MAX),
    }
}

/// Records a `dirconn login` attempt. A store that refuses the row costs the row (with a warning on
/// standard error), never the login's answer.
pub async fn record_login(
    store: &Store,
    domain: &str,
    login: &str,
    outcome: &Result<LoginOutcome, Error>,
    at_ms: i64,
    took: Duration,
) {
    if let Err(err) = store.record_audit(&[login_record(domain, login, outcome, at_ms, took)]).await {
        tracing::warn!(code = err.code(), "the login attempt was not recorded in the audit: {err}");
    }
}

/// The store's query for `dirconn audit`'s options.
pub fn query(
    domain: Option<String>,
    login: &Option<String>,
    outcome: &Option<String>,
    since: Option<Duration>,
    last: i64,
) -> AuditQuery {
    let since_ms =
        since.map(|age| dirconn_store::now_ms().saturating_sub(i64::try_from(age.as_millis()).unwrap_or(i64::MAX)));
    AuditQuery { domain, login: login.clone(), outcome: outcome.clone(), since_ms, limit: last }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_login_is_recorded_with_its_code_and_kind() {
        let err = Error::UnknownDomain { domain: "b.org".into(), known: "a.org".into() };
        let r = login_record("a.org", "Bob", &Err(err), 1_000, Duration::from_micros(1500));
        assert_eq!((r.interface.as_str(), r.outcome.as_str(), r.kind.as_str()), ("cli", "DC-010", "not-found"));
        assert_eq!((r.at, r.latency_us, r.account, r.domain.as_deref()), (1_000, 1500, None, Some("a.org")));
        let q = query(None, &Some("bob".into()), &None, Some(Duration::from_secs(60)), 7);
        assert!(q.since_ms.is_some_and(|s| s <= dirconn_store::now_ms() - 60_000) && q.limit == 7, "{q:?}");
    }
}
