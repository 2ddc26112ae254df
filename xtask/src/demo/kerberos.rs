//! The demo's Kerberos chapter: the same directory domain with `password_check = "kerberos"` against a
//! throwaway MIT KDC on loopback (its own realm, a service keytab): identity from LDAP, the password from
//! the realm, the ticket validated with the keytab.

use dirconn_tests::MitKdc;

use super::Step;
use crate::Error;

const SERVICE: &str = "imap/mail.example.org";
/// alice's password in the realm (not her directory password, to show which one counts).
pub const KERBEROS_PASSWORD: &str = "alice-kerberos-pass";

/// Starts the KDC and writes `dirconn-kerberos.toml` beside `config`: the domain with the Kerberos check.
pub fn start(config: &std::path::Path) -> Result<(MitKdc, std::path::PathBuf), Error> {
    println!("\nStarting a throwaway MIT Kerberos KDC (realm EXAMPLE.ORG) on 127.0.0.1…");
    let kdc = MitKdc::start();
    kdc.add_user("alice", KERBEROS_PASSWORD);
    let keytab = kdc.add_service(SERVICE);
    println!("krb5kdc pid {} ready in {} ms on {}", kdc.pid(), kdc.startup_time().as_millis(), kdc.address());
    let text = std::fs::read_to_string(config)
        .map_err(|source| Error::Io { what: "reading the demo configuration".into(), source })?;
    let keys = format!(
        "password_check = \"kerberos\"\nkerberos_realm = \"EXAMPLE.ORG\"\nkdc = [\"{}\"]\nkeytab = \"{}\"\n\
         service_principal = \"{SERVICE}\"\n",
        kdc.address(),
        keytab.display()
    );
    // The keys belong to the domain's own table, before its sub-tables.
    let text = text.replacen("\n[domain.accounts]", &format!("{keys}\n[domain.accounts]"), 1);
    let path = config.with_file_name("dirconn-kerberos.toml");
    std::fs::write(&path, &text)
        .map_err(|source| Error::Io { what: "writing the Kerberos configuration".into(), source })?;
    println!("Configuration {} = the one above with:\n{keys}", path.display());
    Ok((kdc, path))
}

/// The chapter's steps.
pub fn steps(config: &std::path::Path) -> Vec<Step<'static>> {
    let c = config.display().to_string();
    let args = |rest: &[&str]| -> Vec<String> {
        let mut v = vec!["--config".to_owned(), c.clone()];
        v.extend(rest.iter().map(|s| (*s).to_owned()));
        v
    };
    vec![
        Step {
            title: "Kerberos: test the connection (kdc and keytab stages; alice's password checked by the realm)",
            args: args(&["test-connection", "example.org", "--login", "alice", "--password-stdin"]),
            stdin: Some(KERBEROS_PASSWORD),
            expect: 3,
        },
        Step {
            title: "Kerberos: alice logs in with her password in the realm",
            args: args(&["login", "alice@example.org", "--password-stdin"]),
            stdin: Some(KERBEROS_PASSWORD),
            expect: 0,
        },
        Step {
            title: "Kerberos: her directory password is not the realm's",
            args: args(&["login", "alice@example.org", "--password-stdin"]),
            stdin: Some(dirconn_tests::Fixture::ALICE.password),
            expect: 1,
        },
        Step {
            title: "Kerberos: bob is in the directory, and the realm has no principal for him",
            args: args(&["login", "bob@example.org", "--password-stdin"]),
            stdin: Some(dirconn_tests::Fixture::BOB.password),
            expect: 1,
        },
    ]
}
