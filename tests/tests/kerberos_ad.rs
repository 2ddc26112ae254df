//! The Kerberos password check against a real Samba AD DC's KDC (in this test's own network namespace):
//! the realm and KDC come from the directory, tickets are validated with a keytab Samba exports for a
//! service account's SPN, and disabled, locked, expired and must-change users each get their own outcome
//! from the NTSTATUS in Samba's errors.

use dirconn_abi::{ClientContext, ErrorKind, StageStatus};
use dirconn_tests::{
    DomainSpec, TestHost,
    samba::{SambaDc, with_dc},
    stage,
};

const MAIL_DOMAIN: &str = "example.com";
const SPN: &str = "imap/mail.example.com";

fn password(sam: &str) -> String {
    format!("Passw0rd-{sam}")
}

fn spec(dc: &SambaDc, keytab: &std::path::Path) -> DomainSpec {
    DomainSpec::active_directory(dc)
        .set("password_check", "kerberos")
        .set("keytab", &keytab.display().to_string())
        .set("service_principal", SPN)
}

#[test]
fn samba_kdc_outcomes_from_ntstatus() {
    with_dc(|dc| async move {
        dc.samba_tool(&["user", "add", "svc-imap", "Passw0rd-svc-imap-1"]);
        dc.samba_tool(&["spn", "add", SPN, "svc-imap"]);
        let keytab = dc.dir().join("imap.keytab");
        dc.samba_tool(&["domain", "exportkeytab", &keytab.display().to_string(), &format!("--principal={SPN}")]);
        let h = TestHost::start(&[stage::for_tests().active_directory()], &[spec(&dc, &keytab)]).expect("host");
        let domain = h.host.domain(MAIL_DOMAIN).unwrap();
        let login = |sam: &str, pw: String| {
            let sam = sam.to_owned();
            async move { domain.authenticate(&sam, &pw, ClientContext::default()).await }
        };
        let alice = login("alice", password("alice")).await.expect("alice through the realm");
        assert!(alice.dn.as_str().to_lowercase().starts_with("cn=alice"), "{}", alice.dn);
        let cases = [
            ("alice", "wrong".to_owned(), "DC-901", ErrorKind::InvalidCredentials),
            ("disabled-user", password("disabled-user"), "DC-904", ErrorKind::AccountDisabled),
            ("expired-account", password("expired-account"), "DC-908", ErrorKind::AccountExpired),
            ("must-change", password("must-change"), "DC-907", ErrorKind::MustChangePassword),
            ("expired-password", password("expired-password"), "DC-906", ErrorKind::PasswordExpired),
            ("must-change", "wrong".to_owned(), "DC-901", ErrorKind::InvalidCredentials),
        ];
        for (sam, pw, want, kind) in cases {
            let err = login(sam, pw.clone()).await.unwrap_err();
            let diag = err.connector_error().and_then(|c| c.diagnostic.clone().into_option()).unwrap_or_default();
            eprintln!("{sam}/{pw}: {} {err} [{diag}]", err.code());
            assert_eq!((err.code(), err.kind()), (want, kind), "{sam} with {pw}: {err} [{diag}]");
        }
        for _ in 0..3 {
            let _ = login("lock-me", "wrong".into()).await;
        }
        let err = login("lock-me", password("lock-me")).await.unwrap_err();
        assert_eq!((err.code(), err.kind()), ("DC-903", ErrorKind::AccountLocked), "{err}");

        let report = domain.test_connection(Some("alice"), Some(&password("alice"))).await.unwrap();
        for name in ["kdc", "keytab", "user-kerberos"] {
            let s = report.stages.iter().find(|s| s.stage.as_str() == name).unwrap_or_else(|| panic!("{name}"));
            eprintln!("{name}: {:?} {} {:?}", s.status, s.detail, s.error);
            assert_eq!(s.status, StageStatus::Passed, "{name}: {s:?}");
        }
    });
}
