//! The staged connection test against a real slapd: each classic failure is named at its stage with
//! its code and fix.

use dirconn_abi::{ErrorKind, StageStatus, TestReport};
use dirconn_tests::{DomainSpec, Fixture, Slapd, SlapdOptions, TestHost, net, stage};

async fn report(spec: DomainSpec, login: Option<&str>, password: Option<&str>) -> TestReport {
    let h = TestHost::start(&[stage::for_tests().ldap()], &[spec]).expect("host loads");
    h.host.domains()[0].test_connection(login, password).await.expect("the domain is enabled")
}

/// The first failed stage's name and code.
fn failure(report: &TestReport) -> (String, String, ErrorKind) {
    let stage = report.first_failure().unwrap_or_else(|| panic!("a stage should fail: {report:#?}"));
    let err = stage.error.as_ref().into_option().expect("a failed stage carries its error");
    assert!(!err.message.is_empty() && !err.fix.is_empty(), "{err:?}");
    (stage.stage.to_string(), err.code.to_string(), err.kind)
}

fn urls(url: &str) -> String {
    format!("[\"{url}\"]")
}

#[tokio::test]
async fn a_good_configuration_passes_every_stage() {
    let slapd = Slapd::start();
    let spec = DomainSpec::ldap(&slapd)
        .set("urls", &urls(&slapd.ldaps_url()))
        .set("ca_file", &slapd.ca_file().display().to_string());
    let r = report(spec, Some("alice"), Some(Fixture::ALICE.password)).await;
    assert!(r.passed(), "{r:#?}");
    let stages: Vec<&str> =
        r.stages.iter().filter(|s| s.status == StageStatus::Passed).map(|s| s.stage.as_str()).collect();
    assert_eq!(
        stages,
        ["url", "resolve", "tcp", "tls", "service-bind", "search-base", "user-filter", "user-lookup", "user-bind"]
    );
    let tls = r.stages.iter().find(|s| s.stage.as_str() == "tls").expect("tls stage");
    assert!(tls.detail.contains("certificate verified"), "{}", tls.detail);
}

#[tokio::test]
async fn ldaps_with_the_wrong_ca_names_the_tls_stage() {
    let slapd = Slapd::start();
    let spec = DomainSpec::ldap(&slapd)
        .set("urls", &urls(&slapd.ldaps_url()))
        .set("ca_file", &slapd.wrong_ca_file().display().to_string());
    let r = report(spec, None, None).await;
    assert_eq!(failure(&r), ("tls".into(), "DC-310".into(), ErrorKind::Tls));
}

#[tokio::test]
async fn an_ldaps_url_on_the_plain_port_is_named() {
    let slapd = Slapd::start();
    let spec = DomainSpec::ldap(&slapd)
        .set("urls", &urls(&format!("ldaps://127.0.0.1:{}", slapd.ldap_port())))
        .set("ca_file", &slapd.ca_file().display().to_string());
    let r = report(spec, None, None).await;
    assert_eq!(failure(&r), ("tls".into(), "DC-304".into(), ErrorKind::Unreachable));
}

#[tokio::test]
async fn a_plain_url_on_the_ldaps_port_is_named() {
    let slapd = Slapd::start();
    let spec = DomainSpec::ldap(&slapd).set("urls", &urls(&format!("ldap://127.0.0.1:{}", slapd.ldaps_port())));
    let r = report(spec, None, None).await;
    let (stage, code, kind) = failure(&r);
    assert_eq!((code.as_str(), kind), ("DC-303", ErrorKind::Unreachable), "at {stage}: {r:#?}");
    let err = r.first_failure().unwrap().error.as_ref().into_option().unwrap();
    assert!(err.fix.contains("TLS"), "the fix points at LDAPS: {}", err.fix);
}

#[tokio::test]
async fn starttls_refused_by_a_server_without_tls() {
    let slapd = Slapd::start_with(SlapdOptions { tls: false, ..SlapdOptions::default() });
    let spec = DomainSpec::ldap(&slapd).raw("starttls", "true");
    let r = report(spec, None, None).await;
    assert_eq!(failure(&r), ("tls".into(), "DC-314".into(), ErrorKind::Tls));
}

#[tokio::test]
async fn refused_and_black_hole_servers_are_named() {
    let slapd = Slapd::start();
    let refused = DomainSpec::ldap(&slapd).set("urls", &urls(&format!("ldap://127.0.0.1:{}", net::refused_port())));
    assert_eq!(failure(&report(refused, None, None).await), ("tcp".into(), "DC-302".into(), ErrorKind::Unreachable));
    let hole = net::BlackHole::start();
    let silent = DomainSpec::ldap(&slapd).set("urls", &urls(&hole.url())).raw("operation_timeout", "\"1s\"");
    assert_eq!(
        failure(&report(silent, None, None).await),
        ("service-bind".into(), "DC-306".into(), ErrorKind::Timeout)
    );
    let silent_tls = DomainSpec::ldap(&slapd)
        .set("urls", &urls(&format!("ldaps://127.0.0.1:{}", hole.port())))
        .raw("connect_timeout", "\"1s\"");
    assert_eq!(failure(&report(silent_tls, None, None).await), ("tls".into(), "DC-305".into(), ErrorKind::Timeout));
    let unresolvable = DomainSpec::ldap(&slapd).set("urls", &urls("ldap://no-such-host.invalid:389"));
    assert_eq!(failure(&report(unresolvable, None, None).await).1, "DC-301");
}

#[tokio::test]
async fn a_wrong_service_password_is_named() {
    let slapd = Slapd::start();
    let secret = slapd.dir().join("wrong-secret");
    std::fs::write(&secret, "not-the-service-password\n").unwrap();
    let spec = DomainSpec::ldap(&slapd).set("bind_password_file", &secret.display().to_string());
    let r = report(spec, None, None).await;
    assert_eq!(failure(&r), ("service-bind".into(), "DC-401".into(), ErrorKind::Configuration));
}

#[tokio::test]
async fn a_missing_search_base_and_a_filter_matching_nobody_are_named() {
    let slapd = Slapd::start();
    let spec = DomainSpec::ldap(&slapd).set("search_base", "ou=nowhere,dc=example,dc=org");
    assert_eq!(
        failure(&report(spec, None, None).await),
        ("search-base".into(), "DC-402".into(), ErrorKind::Configuration)
    );
    let spec = DomainSpec::ldap(&slapd).set("user_filter", "(&(objectClass=posixAccount)(uid={login}))");
    assert_eq!(failure(&report(spec, None, None).await), ("user-filter".into(), "DC-207".into(), ErrorKind::NotFound));
}

#[tokio::test]
async fn user_stages_name_an_unknown_user_and_a_wrong_password() {
    let slapd = Slapd::start();
    let r = report(DomainSpec::ldap(&slapd), Some("nobody"), Some("x")).await;
    assert_eq!(failure(&r), ("user-lookup".into(), "DC-207".into(), ErrorKind::NotFound));
    let r = report(DomainSpec::ldap(&slapd), Some("alice"), Some("wrong")).await;
    assert_eq!(failure(&r), ("user-bind".into(), "DC-203".into(), ErrorKind::InvalidCredentials));
}

#[tokio::test]
async fn attributes_and_filters_are_shown() {
    let slapd = Slapd::start();
    let h = TestHost::start(&[stage::for_tests().ldap()], &[DomainSpec::ldap(&slapd)]).unwrap();
    let d = &h.host.domains()[0];
    let report = d.attributes().await.expect("attributes");
    let schema: Vec<&str> = report.schema.iter().map(|s| s.as_str()).collect();
    for name in ["uid", "mail", "givenName", "jpegPhoto", "memberOf"] {
        assert!(schema.contains(&name), "{name} missing from the schema list");
    }
    assert!(report.sample_dn.is_some());
    assert!(report.sample.iter().any(|nv| nv.name.as_str() == "entryUUID"), "{:?}", report.sample);
    let filter = d.filter().unwrap();
    let example = filter.items.iter().find(|i| i.name.as_str() == "user_filter_example").unwrap();
    assert_eq!(example.value.as_str(), "(&(objectClass=inetOrgPerson)(uid=jdoe))");
}
