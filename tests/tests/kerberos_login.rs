//! Logins through the host and the real `ldap` plugin with `password_check = "kerberos"` and `"pam"`:
//! identity (lookup, mapping, groups) from a real slapd, the password from a real MIT KDC, directly or
//! through pam_krb5. Refused logins (hostile, empty password, unknown in the directory) never reach the
//! KDC or PAM; the connection test shows the kdc, keytab and pam stages and which check ran.

use std::path::Path;

use dirconn_abi::{ClientContext, ErrorKind, StageStatus};
use dirconn_host::Error;
use dirconn_tests::{DomainSpec, Fixture, MitKdc, Slapd, TestHost, stage};

const SERVICE: &str = "imap/mail.example.org";
const KDC_PASSWORD: &str = "alice-kerberos-pass";

fn kerberos_domain(slapd: &Slapd, kdc: &MitKdc, keytab: &Path) -> DomainSpec {
    DomainSpec::ldap(slapd)
        .set("password_check", "kerberos")
        .set("kerberos_realm", "EXAMPLE.ORG")
        .set("kdc", &format!("[\"{}\"]", kdc.address()))
        .set("keytab", &keytab.display().to_string())
        .set("service_principal", SERVICE)
}

async fn login(h: &TestHost, login: &str, password: &str) -> Result<dirconn_abi::UserEntry, Error> {
    h.host.login(login, password, ClientContext::default()).await.map(|(_, user)| user)
}

fn code(r: &Result<dirconn_abi::UserEntry, Error>) -> String {
    match r {
        Ok(u) => format!("ok {}", u.dn),
        Err(e) => format!("{} {e}", e.code()),
    }
}

/// How many AS-REQs the KDC has logged.
fn requests(kdc: &MitKdc) -> usize {
    kdc.logs().matches("AS_REQ").count()
}

fn realm() -> (Slapd, MitKdc, std::path::PathBuf) {
    let slapd = Slapd::start();
    let kdc = MitKdc::start();
    let keytab = kdc.add_service(SERVICE);
    kdc.add_user("alice", KDC_PASSWORD);
    (slapd, kdc, keytab)
}

#[tokio::test]
async fn the_realm_checks_the_password_and_ldap_the_identity() {
    let (slapd, kdc, keytab) = realm();
    let h = TestHost::start(&[stage::for_tests().ldap()], &[kerberos_domain(&slapd, &kdc, &keytab)]).expect("host");
    let user = login(&h, "alice@example.org", KDC_PASSWORD).await.expect("alice with her Kerberos password");
    assert_eq!(user.dn.as_str(), Fixture::ALICE.dn());
    assert!(user.groups.iter().any(|g| g.as_str() == "cn=staff,ou=groups,dc=example,dc=org"), "{:?}", user.groups);
    let ldap_password = login(&h, "alice@example.org", Fixture::ALICE.password).await;
    assert!(code(&ldap_password).starts_with("DC-901"), "the directory's password is not the realm's");
    assert_eq!(ldap_password.unwrap_err().kind(), ErrorKind::InvalidCredentials);
    let bob = login(&h, "bob@example.org", Fixture::BOB.password).await;
    assert!(code(&bob).starts_with("DC-902"), "bob has no principal: {}", code(&bob));

    // Refused before the realm: not in the directory, an empty password, the hostile corpus.
    let before = requests(&kdc);
    assert!(code(&login(&h, "nobody@example.org", "x").await).starts_with("DC-207"));
    assert!(code(&login(&h, "alice@example.org", "").await).starts_with("DC-201"));
    for l in dirconn_tests::hostile::logins() {
        let outcome = login(&h, &format!("{l}@example.org"), KDC_PASSWORD).await;
        let err = outcome.err().unwrap_or_else(|| panic!("{:?} logged in", l.chars().take(40).collect::<String>()));
        assert!(matches!(err.kind(), ErrorKind::NotFound | ErrorKind::InvalidInput), "{err}");
    }
    assert_eq!(requests(&kdc), before, "a refused login reached the KDC:\n{}", kdc.logs());

    let report =
        h.host.domain("example.org").unwrap().test_connection(Some("alice"), Some(KDC_PASSWORD)).await.unwrap();
    let stage = |name: &str| {
        report.stages.iter().find(|s| s.stage.as_str() == name).unwrap_or_else(|| panic!("{name}: {report:?}"))
    };
    assert_eq!(stage("kdc").status, StageStatus::Passed, "{:?}", stage("kdc"));
    assert_eq!(stage("keytab").status, StageStatus::Passed, "{:?}", stage("keytab"));
    let check = stage("user-kerberos");
    assert_eq!(check.status, StageStatus::Passed, "{check:?}");
    assert!(check.detail.contains("alice@EXAMPLE.ORG") && check.detail.contains("validated"), "{}", check.detail);
}

#[tokio::test]
async fn a_dead_kdc_is_a_temporary_failure_and_the_test_says_so() {
    let (slapd, kdc, keytab) = realm();
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("127.0.0.1:{}", l.local_addr().unwrap().port())
    };
    let spec = kerberos_domain(&slapd, &kdc, &keytab).set("kdc", &format!("[\"{dead}\"]"));
    let h = TestHost::start(&[stage::for_tests().ldap()], &[spec]).expect("host");
    let err = login(&h, "alice@example.org", KDC_PASSWORD).await.unwrap_err();
    assert_eq!((err.code(), err.kind()), ("DC-913", ErrorKind::Unreachable), "{err}");
    assert!(!err.kind().is_denial(), "never a wrong password");
    let report = h.host.domain("example.org").unwrap().test_connection(None, None).await.unwrap();
    let kdc_stage = report.stages.iter().find(|s| s.stage.as_str() == "kdc").expect("kdc stage");
    assert_eq!(kdc_stage.status, StageStatus::Failed);
}

#[tokio::test]
async fn pam_krb5_checks_the_password_through_pam() {
    let (slapd, kdc, _keytab) = realm();
    // pam_krb5 reads the realm from KRB5_CONFIG; this test process is its own (nextest).
    // SAFETY: set before any thread of this test reads the environment.
    unsafe { std::env::set_var("KRB5_CONFIG", kdc.krb5_conf()) };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("dirconn-krb5"),
        "auth required pam_krb5.so minimum_uid=0 no_ccache\naccount required pam_krb5.so minimum_uid=0\n",
    )
    .unwrap();
    let spec = DomainSpec::ldap(&slapd)
        .set("password_check", "pam")
        .set("pam_service", "dirconn-krb5")
        .set("pam_confdir", &dir.path().display().to_string());
    let h = TestHost::start(&[stage::for_tests().ldap()], &[spec]).expect("host");
    let user = login(&h, "alice@example.org", KDC_PASSWORD).await.expect("alice through pam_krb5");
    assert_eq!(user.dn.as_str(), Fixture::ALICE.dn());
    let wrong = login(&h, "alice@example.org", Fixture::ALICE.password).await;
    assert!(code(&wrong).starts_with("DC-951"), "{}", code(&wrong));
    let unknown = login(&h, "bob@example.org", Fixture::BOB.password).await;
    assert!(code(&unknown).starts_with("DC-952"), "{}", code(&unknown));
    let before = requests(&kdc);
    for l in dirconn_tests::hostile::logins() {
        let err = login(&h, &format!("{l}@example.org"), KDC_PASSWORD).await.expect_err("hostile");
        assert!(matches!(err.kind(), ErrorKind::NotFound | ErrorKind::InvalidInput), "{err}");
    }
    assert!(code(&login(&h, "alice@example.org", "").await).starts_with("DC-201"));
    assert_eq!(requests(&kdc), before, "a refused login reached PAM and the KDC");
    let report =
        h.host.domain("example.org").unwrap().test_connection(Some("alice"), Some(KDC_PASSWORD)).await.unwrap();
    for name in ["pam", "user-pam"] {
        let s = report.stages.iter().find(|s| s.stage.as_str() == name).expect(name);
        assert_eq!(s.status, StageStatus::Passed, "{s:?}");
    }
    std::fs::remove_file(dir.path().join("dirconn-krb5")).unwrap();
    let gone = login(&h, "alice@example.org", KDC_PASSWORD).await;
    assert!(code(&gone).starts_with("DC-958"), "{}", code(&gone));
}

#[test]
fn through_the_service_a_dead_realm_is_a_temporary_failure() {
    use dirconn_tests::serve::{Serve, ServeSpec};
    let (slapd, kdc, keytab) = realm();
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("127.0.0.1:{}", l.local_addr().unwrap().port())
    };
    let body = serde_json::json!({ "login": "alice", "password": KDC_PASSWORD });
    let live = kerberos_domain(&slapd, &kdc, &keytab).set("kdc", &format!("[\"{dead}\", \"{}\"]", kdc.address()));
    let serve = Serve::start(ServeSpec::new(vec![live]));
    let r = serve.client().post_json("/v1/auth", &body);
    assert_eq!(r.status, 200, "failover to the live KDC: {}", r.text());
    drop(serve);
    let down = kerberos_domain(&slapd, &kdc, &keytab).set("kdc", &format!("[\"{dead}\"]"));
    let serve = Serve::start(ServeSpec::new(vec![down]));
    let r = serve.client().post_json("/v1/auth", &body);
    assert_eq!(r.status, 503, "{}", r.text());
    // The host's offline path (DC-703: no cached password) wraps the realm's failure.
    assert_eq!(r.json()["code"], "DC-703", "{}", r.text());
    assert!(r.json()["diagnostic"].as_str().unwrap().contains("DC-913"), "{}", r.text());
    let wrong = serve.client().post_json("/v1/auth", &serde_json::json!({ "login": "nobody", "password": "x" }));
    assert_eq!(
        (wrong.status, wrong.json()["code"].as_str()),
        (401, Some("DC-207")),
        "the directory answers: {}",
        wrong.text()
    );
}
