//! Tests of the MIT KDC harness itself, with MIT's own `kinit` as the client: a user's password works and a
//! wrong one does not, the principal states the Kerberos check must tell apart are made as REAL-SERVERS.md
//! says, a service keytab is written, and the KDC's process goes away on drop.

use dirconn_tests::MitKdc;

use dirconn_tests::process::is_alive as alive;

#[test]
fn a_realm_with_users_states_and_a_keytab() {
    let kdc = MitKdc::start();
    eprintln!("KDC for {} on {} ready in {:?}", kdc.realm(), kdc.address(), kdc.startup_time());
    kdc.add_user("alice", "alice-pass");
    let ok = kdc.kinit("alice@EXAMPLE.ORG", "alice-pass");
    assert!(ok.status.success(), "kinit alice: {}{}", String::from_utf8_lossy(&ok.stderr), kdc.logs());
    let wrong = kdc.kinit("alice@EXAMPLE.ORG", "not-her-password");
    let text = String::from_utf8_lossy(&wrong.stderr);
    assert!(!wrong.status.success() && text.contains("Password incorrect"), "{text}");
    // Pre-authentication is required, so the KDC saw (and logged) the failure itself.
    assert!(kdc.logs().contains("PREAUTH_FAILED"), "{}", kdc.logs());

    kdc.add_user("dora", "dora-pass");
    kdc.kadmin("modprinc -allow_tix dora");
    let disabled = kdc.kinit("dora@EXAMPLE.ORG", "dora-pass");
    assert!(!disabled.status.success(), "a principal without tickets allowed");
    kdc.add_user("pete", "pete-pass");
    kdc.kadmin("modprinc -pwexpire 2000-01-01 pete");
    let expired = kdc.kinit("pete@EXAMPLE.ORG", "pete-pass");
    // kinit asks for a new password (and finds no more input); the KDC logged why.
    assert!(!expired.status.success());
    assert!(kdc.logs().contains("CLIENT KEY EXPIRED"), "{}", kdc.logs());

    let keytab = kdc.add_service("imap/mail.example.org");
    let bytes = std::fs::read(&keytab).expect("the keytab");
    assert_eq!(&bytes[..2], &[0x05, 0x02], "an MIT keytab, version 2");
    let refreshed = kdc.export_keytab("imap/mail.example.org");
    assert_eq!(refreshed, keytab, "the same file, with new keys");

    let pid = kdc.pid();
    assert!(alive(pid));
    drop(kdc);
    assert!(!alive(pid), "krb5kdc (PID {pid}) is still running after drop");
}
