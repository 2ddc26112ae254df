//! The service account's safety against real servers: a wrong service secret never locks the service account
//! (slapd ppolicy with a permanent lockout after 3 failures; Samba AD with its lockout threshold), whatever
//! the number of logins, sequential or concurrent; fixing the password file makes the next login work; a
//! short back-off retries once per back-off; and the service account's own password state (reset under
//! pwdMustChange, AD's pwdLastSet = 0, an expired password) gets DC-407 / DC-408, not DC-403.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use dirconn_abi::{ClientContext, StageStatus, TestReport};
use dirconn_host::Error;
use dirconn_tests::{
    DomainSpec, Fixture, Slapd, TestHost,
    http::Http,
    samba::{self, SambaDc, with_dc},
    serve::{Serve, ServeSpec},
    slapd::SERVICE_DN,
    stage,
};

/// A service policy that locks the account for good after three failed binds.
const LOCKING_POLICY: &str = "pwdMaxFailure: 3\npwdLockout: TRUE\npwdLockoutDuration: 0\npwdFailureCountInterval: 0\n";

fn code(err: &Error) -> String {
    err.connector_error().map(|c| c.code.to_string()).unwrap_or_else(|| err.code().to_owned())
}

fn message(err: &Error) -> String {
    err.connector_error().map(|c| c.message.to_string()).unwrap_or_else(|| err.to_string())
}

/// The service-bind stage's code and message, if it failed.
fn service_stage(report: &TestReport) -> (StageStatus, Option<(String, String, String)>) {
    let stage = report.stages.iter().find(|s| s.stage.as_str() == "service-bind").expect("a service-bind stage");
    let err =
        stage.error.as_ref().into_option().map(|e| (e.code.to_string(), e.message.to_string(), e.fix.to_string()));
    (stage.status, err)
}

fn write_secret(path: &Path, secret: &str) {
    std::fs::write(path, format!("{secret}\n")).expect("write the password file");
}

async fn ldap_login(h: &TestHost, password: &str) -> Result<(), Error> {
    h.host.login("alice@example.org", password, ClientContext::default()).await.map(|_| ())
}

/// A slapd whose service account locks for good after three bad binds, and a host whose password file
/// holds a wrong secret.
fn locking_slapd_with_wrong_secret(backoff: &str) -> (Slapd, TestHost, std::path::PathBuf) {
    let slapd = Slapd::start();
    slapd.give_service_policy(LOCKING_POLICY);
    let file = slapd.dir().join("wrong-service-password");
    write_secret(&file, "not-the-service-secret");
    let spec = DomainSpec::ldap(&slapd)
        .set("bind_password_file", &file.display().to_string())
        .set("service_bind_backoff", backoff);
    let h = TestHost::start(&[stage::for_tests().ldap()], &[spec]).expect("host loads");
    (slapd, h, file)
}

#[tokio::test]
async fn slapd_policy_locks_the_service_account_after_three_bad_binds_without_the_guard() {
    // The premise of the guard, shown with ldapwhoami: three bad binds, then the right secret fails too.
    let slapd = Slapd::start();
    slapd.give_service_policy(LOCKING_POLICY);
    let bind = |pw: &str| {
        std::process::Command::new("ldapwhoami")
            .args(["-x", "-H", &slapd.ldap_url(), "-D", SERVICE_DN, "-w", pw])
            .output()
            .expect("ldapwhoami runs")
            .status
            .success()
    };
    assert!(bind(slapd.service_password()));
    for _ in 0..3 {
        assert!(!bind("wrong"));
    }
    assert!(!bind(slapd.service_password()), "locked: the right secret fails too");
    assert!(slapd.policy_state(SERVICE_DN).locked_time.is_some());
}

#[tokio::test]
async fn a_wrong_service_secret_never_locks_the_slapd_service_account() {
    let (slapd, h, file) = locking_slapd_with_wrong_secret("15m");
    let started = Instant::now();
    let mut codes = std::collections::BTreeMap::<String, usize>::new();
    // Waves of concurrent logins first (the first one, on an empty pool, opens 8 service connections at
    // once), then sequential ones.
    for _ in 0..5 {
        let wave = (0..50).map(|_| ldap_login(&h, Fixture::ALICE.password));
        for result in futures::future::join_all(wave).await {
            *codes.entry(code(&result.expect_err("the service bind fails"))).or_default() += 1;
        }
    }
    for _ in 0..150 {
        let err = ldap_login(&h, Fixture::ALICE.password).await.expect_err("the service bind fails");
        *codes.entry(code(&err)).or_default() += 1;
    }
    let took = started.elapsed();
    assert_eq!(codes.into_iter().collect::<Vec<_>>(), [("DC-401".to_owned(), 400)]);
    let err = ldap_login(&h, Fixture::ALICE.password).await.unwrap_err();
    let text = message(&err);
    assert!(text.contains("could lock the service account"), "{text}");
    assert!(text.contains("(1 bind(s) tried with this secret)"), "{text}");
    assert!(text.contains("No bind with this secret is sent before 20") && text.contains("(in 1"), "{text}");
    assert!(!text.contains("not-the-service-secret"), "the secret is never shown");
    let fix = err.connector_error().unwrap().fix.to_string();
    assert!(fix.contains("bind_password_file"), "{fix}");
    // A sync goes through the same guard.
    let store_dir = tempfile::tempdir().unwrap();
    let store = dirconn_store::Store::open(&store_dir.path().join("a.db").display().to_string()).await.unwrap();
    let opts = dirconn_host::SyncOptions { force: true, ..Default::default() };
    let sync = dirconn_host::sync_domain(h.host.domain("example.org").unwrap(), &store, opts, |_| {}).await;
    assert!(sync.is_err(), "the sync cannot bind either");
    // The staged test names the held-back state without binding.
    let report = h.host.domains()[0].test_connection(None, None).await.unwrap();
    let (status, err) = service_stage(&report);
    let (c, m, _) = err.expect("the service-bind stage failed");
    assert_eq!((status, c.as_str()), (StageStatus::Failed, "DC-401"));
    assert!(m.contains("(1 bind(s) tried with this secret)"), "{m}");

    let state = slapd.policy_state(SERVICE_DN);
    eprintln!("after 401 logins, a sync and a test ({took:?}): {state:?}");
    assert!(state.failure_times.len() <= 1, "at most one failed bind is recorded: {state:?}");
    assert_eq!(state.locked_time, None, "the service account is not locked");

    // Fixing the file: the very next test and login work.
    write_secret(&file, slapd.service_password());
    let report = h.host.domains()[0].test_connection(None, None).await.unwrap();
    assert!(report.passed(), "{report:#?}");
    write_secret(&file, "wrong-again");
    // (The secret that bound stays in use until a bind is held back; the file is read again only then.)
    ldap_login(&h, Fixture::ALICE.password).await.expect("alice logs in at once");
    write_secret(&file, slapd.service_password());
    let logins = (0..40).map(|_| ldap_login(&h, Fixture::ALICE.password));
    assert!(futures::future::join_all(logins).await.iter().all(Result::is_ok));
    let state = slapd.policy_state(SERVICE_DN);
    assert!(state.failure_times.is_empty() && state.locked_time.is_none(), "a good bind clears them: {state:?}");
}

#[tokio::test]
async fn a_short_backoff_retries_once_then_holds_for_a_day_and_stays_below_the_threshold() {
    let (slapd, h, file) = locking_slapd_with_wrong_secret("1s");
    let started = Instant::now();
    let mut last = String::new();
    // 5 s of logins, the 1 s back-off standing in for the first 15 minutes: the first bind at 0 s, one retry
    // after 1 s, then none for a day. (A back-off that doubled would retry at 3 s, and that third
    // rejection would lock this account: pwdMaxFailure 3, no failure-count interval.)
    while started.elapsed() < Duration::from_secs(5) {
        let wave = (0..10).map(|_| ldap_login(&h, Fixture::ALICE.password));
        for result in futures::future::join_all(wave).await {
            let err = result.expect_err("the service bind fails");
            assert_eq!(code(&err), "DC-401", "{err}");
            last = message(&err);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let state = slapd.policy_state(SERVICE_DN);
    eprintln!("after 5 s of logins with a 1 s back-off: {state:?}; last: {last}");
    assert_eq!(state.failure_times.len(), 2, "one bind, then one retry after the back-off: {state:?}");
    assert!(last.contains("(in 1day") || last.contains("(in 23h 59m"), "the next try is a day away: {last}");
    assert_eq!(state.locked_time, None);
    assert!(last.contains("(2 bind(s) tried with this secret)"), "{last}");
    write_secret(&file, slapd.service_password());
    ldap_login(&h, Fixture::ALICE.password).await.expect("the fixed file works at once");
    assert!(slapd.policy_state(SERVICE_DN).failure_times.is_empty());
}

#[test]
fn a_reload_of_dirconn_serve_starts_with_a_clean_guard() {
    // An inline secret (as with bind_password_env, nothing to read again): only a reload ends the hold.
    let slapd = Slapd::start();
    slapd.give_service_policy(LOCKING_POLICY);
    let wrong = DomainSpec::ldap(&slapd).remove("bind_password_file").set("bind_password", "not-the-secret");
    let mut serve = Serve::start(ServeSpec::new(vec![wrong]));
    let mut http = Http::new(serve.api_addr()).with_token(serve.spec().token("mail"));
    for _ in 0..20 {
        let r = http.login("alice", Fixture::ALICE.password);
        assert_eq!(r.status, 503, "a service-account failure is never a wrong password: {}", r.text());
        assert_eq!(r.json()["code"], "DC-401", "{}", r.text());
    }
    let text = http.login("alice", Fixture::ALICE.password).text();
    assert!(text.contains("(1 bind(s) tried with this secret)") && text.contains("reload"), "{text}");
    assert_eq!(slapd.policy_state(SERVICE_DN).failure_times.len(), 1);
    let mut spec = serve.spec().clone();
    spec.domains = vec![DomainSpec::ldap(&slapd)];
    serve.set_spec(spec);
    serve.reload();
    assert!(serve.wait_for_log("configuration reloaded", 1, Duration::from_secs(20)), "{}", serve.log());
    let r = http.login("alice", Fixture::ALICE.password);
    assert_eq!(r.status, 200, "the reloaded domain binds at once: {}", r.text());
    let state = slapd.policy_state(SERVICE_DN);
    assert!(state.failure_times.is_empty() && state.locked_time.is_none(), "{state:?}");
    assert!(!serve.log().contains("not-the-secret"), "the secret is never logged");
}

#[tokio::test]
async fn a_service_password_reset_by_the_rootdn_is_dc_407_not_dc_403() {
    let slapd = Slapd::start();
    // An administrator's reset under the default policy (pwdMustChange: TRUE): a new password, pwdReset.
    slapd.ldapmodify(&format!(
        "dn: {SERVICE_DN}\nchangetype: modify\nreplace: userPassword\nuserPassword: {}\n-\nreplace: pwdReset\n\
         pwdReset: TRUE\n",
        slapd.service_password()
    ));
    assert!(slapd.policy_state(SERVICE_DN).reset, "pwdReset is set");
    let h = TestHost::start(&[stage::for_tests().ldap()], &[DomainSpec::ldap(&slapd)]).expect("host loads");
    let report = h.host.domains()[0].test_connection(None, None).await.unwrap();
    let (status, err) = service_stage(&report);
    let (c, m, fix) = err.expect("the service-bind stage failed");
    assert_eq!((status, c.as_str()), (StageStatus::Failed, "DC-407"), "{m}");
    assert!(m.contains("must change its password before it can search") && m.contains("changeAfterReset"), "{m}");
    assert!(fix.contains("ldappasswd") && fix.contains("pwdReset") && fix.contains(SERVICE_DN), "{fix}");
    for _ in 0..3 {
        let err = ldap_login(&h, Fixture::ALICE.password).await.unwrap_err();
        assert_eq!(code(&err), "DC-407", "{err}");
    }
    // The secret is right: nothing is held back, and no failure was counted.
    assert!(slapd.policy_state(SERVICE_DN).failure_times.is_empty());
    slapd.ldapmodify(&format!("dn: {SERVICE_DN}\nchangetype: modify\ndelete: pwdReset\n"));
    ldap_login(&h, Fixture::ALICE.password).await.expect("the reset flag gone, logins work at once");
}

#[tokio::test]
async fn an_expired_service_password_is_dc_408() {
    let slapd = Slapd::start();
    slapd.give_service_policy("pwdMaxAge: 1\npwdGraceAuthnLimit: 0\n");
    // Setting the password records pwdChangedTime; one second later it has expired.
    slapd.ldapmodify(&format!(
        "dn: {SERVICE_DN}\nchangetype: modify\nreplace: userPassword\nuserPassword: {}\n",
        slapd.service_password()
    ));
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let h = TestHost::start(&[stage::for_tests().ldap()], &[DomainSpec::ldap(&slapd)]).expect("host loads");
    let err = ldap_login(&h, Fixture::ALICE.password).await.unwrap_err();
    assert_eq!(code(&err), "DC-408", "{err}");
    assert!(message(&err).contains("its password has expired"), "{err}");
    let fix = err.connector_error().unwrap().fix.to_string();
    assert!(fix.contains("never expire"), "{fix}");
}

fn ad_host(dc: &SambaDc, password_file: &Path) -> TestHost {
    let spec = DomainSpec::active_directory(dc).set("bind_password_file", &password_file.display().to_string());
    TestHost::start(&[stage::for_tests().active_directory()], &[spec]).expect("host loads")
}

async fn ad_login(h: &TestHost) -> Result<(), Error> {
    h.host.login("alice@example.com", "Passw0rd-alice", ClientContext::default()).await.map(|_| ())
}

/// `badPwdCount` and `lockoutTime` of the service account, as the administrator reads them.
fn ad_lockout_state(dc: &SambaDc) -> (u32, String) {
    let text = dc.ldapsearch(&["-b", dc.service_dn(), "-s", "base", "(objectClass=*)", "badPwdCount", "lockoutTime"]);
    let value = |attr: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{attr}: ")).map(str::to_owned));
    let bad = value("badPwdCount").map(|v| v.parse().expect("a number")).unwrap_or(0);
    (bad, value("lockoutTime").unwrap_or_else(|| "0".into()))
}

#[test]
fn a_wrong_service_secret_never_locks_the_ad_service_account() {
    with_dc(|dc| async move {
        let file = dc.dir().join("wrong-service-password");
        write_secret(&file, "Not-the-Passw0rd");
        let h = ad_host(&dc, &file);
        for _ in 0..3 {
            let wave = (0..30).map(|_| ad_login(&h));
            for result in futures::future::join_all(wave).await {
                assert_eq!(code(&result.unwrap_err()), "DC-401");
            }
        }
        for _ in 0..50 {
            assert_eq!(code(&ad_login(&h).await.unwrap_err()), "DC-401");
        }
        let err = ad_login(&h).await.unwrap_err();
        assert!(message(&err).contains("(1 bind(s) tried with this secret)"), "{err}");
        assert!(
            err.connector_error().unwrap().diagnostic.as_ref().into_option().is_some_and(|d| d.contains("data 52e")),
            "{err:?}"
        );
        let (bad, lockout) = ad_lockout_state(&dc);
        eprintln!(
            "after 141 logins: badPwdCount {bad}, lockoutTime {lockout} (threshold {})",
            samba::LOCKOUT_THRESHOLD
        );
        assert!(bad <= 1, "badPwdCount {bad}");
        assert_eq!(lockout, "0");
        write_secret(&file, dc.service_password());
        ad_login(&h).await.expect("the fixed file works at once");
        let logins = (0..20).map(|_| ad_login(&h));
        assert!(futures::future::join_all(logins).await.iter().all(Result::is_ok));
        assert_eq!(ad_lockout_state(&dc).0, 0, "a good bind clears badPwdCount");
    });
}

#[test]
fn an_ad_service_account_that_must_change_its_password_is_dc_407() {
    with_dc(|dc| async move {
        // This DC is this test's own copy of the template.
        dc.ldapmodify(&format!("dn: {}\nchangetype: modify\nreplace: pwdLastSet\npwdLastSet: 0\n", dc.service_dn()));
        let h = ad_host(&dc, dc.service_password_file());
        let report = h.host.domains()[0].test_connection(None, None).await.unwrap();
        let (status, err) = service_stage(&report);
        let (c, m, fix) = err.expect("the service-bind stage failed");
        assert_eq!((status, c.as_str()), (StageStatus::Failed, "DC-407"), "{m}");
        assert!(fix.contains("pwdLastSet = -1"), "{fix}");
        for _ in 0..3 {
            assert_eq!(code(&ad_login(&h).await.unwrap_err()), "DC-407");
        }
        assert_eq!(ad_lockout_state(&dc).0, 0, "the right secret: no bad password counted");
        dc.ldapmodify(&format!("dn: {}\nchangetype: modify\nreplace: pwdLastSet\npwdLastSet: -1\n", dc.service_dn()));
        ad_login(&h).await.expect("logins work at once");
    });
}
