//! One example of every failure the engine reports, for the generated troubleshooting page: the variants
//! built with their fields named in braces (`{dn}`), and the settings failures provoked from real settings.

use std::{path::Path, time::Duration};

use crate::{ClosedDuring, Error, LdapDefaults, LdapSettings, LdapUrl, TlsProblem};

/// A value standing for a field of the message (`{dn}`).
fn field(name: &str) -> String {
    format!("{{{name}}}")
}

fn account(make: fn(String, String) -> Error) -> Error {
    make(field("dn"), field("diagnostic"))
}

/// The settings failures, provoked by loading settings with one thing wrong: `(connector kind, settings)`.
const PROVOKED: &[(&str, &str)] = &[
    (
        "ldap",
        r#"{"urls":["ldap://ldap.example.org"],"bind_dn":"cn=dirconn,dc=example,dc=org","bind_password":"secret","search_base":"ou=people,dc=example,dc=org","user_filtr":"(uid={login})"}"#,
    ),
    (
        "ldap",
        r#"{"urls":["ldap://ldap.example.org"],"bind_dn":"cn=dirconn,dc=example,dc=org","bind_password":"secret","search_base":"ou=people,dc=example,dc=org","pool_size":"8"}"#,
    ),
    (
        "ldap",
        r#"{"urls":["ldap://ldap.example.org"],"bind_dn":"cn=dirconn,dc=example,dc=org","bind_password":"secret"}"#,
    ),
    (
        "ldap",
        r#"{"urls":["ldap://ldap.example.org"],"bind_dn":"cn=dirconn,dc=example,dc=org","bind_password":"secret","search_base":"ou=people,dc=example,dc=org","connect_timeout":"soon"}"#,
    ),
    (
        "ldap",
        r#"{"urls":["ldap://ldap.example.org"],"bind_dn":"cn=dirconn,dc=example,dc=org","bind_password":"secret","search_base":"ou=people,dc=example,dc=org","connect_timeout":"0s"}"#,
    ),
    (
        "ldap",
        r#"{"urls":["ldap://ldap.example.org"],"bind_dn":"cn=dirconn,dc=example,dc=org","bind_password":"secret","search_base":"ou=people,dc=example,dc=org","pool_size":0}"#,
    ),
    (
        "ldap",
        r#"{"urls":["ldap://ldap.example.org"],"bind_dn":"cn=dirconn,dc=example,dc=org","bind_password":"secret","search_base":"ou=people,dc=example,dc=org","nested_group_depth":65}"#,
    ),
    (
        "ldap",
        r#"{"urls":["ldap://ldap.example.org"],"bind_dn":"cn=dirconn,dc=example,dc=org","bind_password":"secret","search_base":"ou=people,dc=example,dc=org","page_size":0}"#,
    ),
    (
        "active-directory",
        r#"{"urls":["ldap://ldap.example.org"],"bind_dn":"cn=dirconn,dc=example,dc=org","bind_password":"secret","search_base":"ou=people,dc=example,dc=org","range_size":5}"#,
    ),
    (
        "active-directory",
        r#"{"urls":["ldap://ldap.example.org"],"bind_dn":"cn=dirconn,dc=example,dc=org","bind_password":"secret","search_base":"ou=people,dc=example,dc=org","nt_domain":"example.org"}"#,
    ),
    (
        "ldap",
        r#"{"urls":["ldap://ldap.example.org"],"bind_dn":"cn=dirconn,dc=example,dc=org","bind_password":"secret","search_base":"ou=people,dc=example,dc=org","nt_domain":"EXAMPLE"}"#,
    ),
    (
        "ldap",
        r#"{"urls":["ldap://ldap.example.org"],"bind_dn":"cn=dirconn,dc=example,dc=org","bind_password":"secret","search_base":"ou=people,dc=example,dc=org","group_membership":"chain"}"#,
    ),
    (
        "ldap",
        r#"{"urls":["ldap.example.org"],"bind_dn":"cn=dirconn,dc=example,dc=org","bind_password":"secret","search_base":"ou=people,dc=example,dc=org"}"#,
    ),
    (
        "ldap",
        r#"{"urls":[],"bind_dn":"cn=dirconn,dc=example,dc=org","bind_password":"secret","search_base":"ou=people,dc=example,dc=org"}"#,
    ),
    (
        "ldap",
        r#"{"urls":["ldap://ldap.example.org"],"bind_dn":"cn=dirconn,dc=example,dc=org","search_base":"ou=people,dc=example,dc=org"}"#,
    ),
    (
        "ldap",
        r#"{"urls":["ldap://ldap.example.org"],"bind_dn":"cn=dirconn,dc=example,dc=org","bind_password":"secret","bind_password_env":"DIRCONN_PASSWORD","search_base":"ou=people,dc=example,dc=org"}"#,
    ),
    (
        "ldap",
        r#"{"urls":["ldap://ldap.example.org"],"bind_dn":"cn=dirconn,dc=example,dc=org","bind_password_file":"missing-secret","search_base":"ou=people,dc=example,dc=org"}"#,
    ),
    (
        "ldap",
        r#"{"urls":["ldap://ldap.example.org"],"bind_dn":"cn=dirconn,dc=example,dc=org","bind_password_env":"DIRCONN_DOCS_UNSET_VARIABLE","search_base":"ou=people,dc=example,dc=org"}"#,
    ),
    (
        "ldap",
        r#"{"urls":["ldap://ldap.example.org"],"bind_dn":" ","bind_password":"secret","search_base":"ou=people,dc=example,dc=org"}"#,
    ),
    (
        "ldap",
        r#"{"urls":["ldap://ldap.example.org"],"bind_dn":"cn=dirconn,dc=example,dc=org","bind_password":"secret","search_base":"ou=people,dc=example,dc=org","ca_file":"missing-ca.pem"}"#,
    ),
    (
        "ldap",
        r#"{"urls":["ldap://ldap.example.org"],"bind_dn":"cn=dirconn,dc=example,dc=org","bind_password":"secret","search_base":"ou=people,dc=example,dc=org","user_filter":"(uid=alice)"}"#,
    ),
    (
        "ldap",
        r#"{"urls":["ldap://ldap.example.org"],"bind_dn":"cn=dirconn,dc=example,dc=org","bind_password":"secret","search_base":"ou=people,dc=example,dc=org","user_filter":"(uid={login}"}"#,
    ),
    (
        "ldap",
        r#"{"urls":["ldap://ldap.example.org"],"bind_dn":"cn=dirconn,dc=example,dc=org","bind_password":"secret","search_base":"ou=people,dc=example,dc=org","group_filter":"member={dn}"}"#,
    ),
    (
        "ldap",
        r#"{"urls":["ldap://ldap.example.org"],"bind_dn":"cn=dirconn,dc=example,dc=org","bind_password":"secret","search_base":"ou=people,dc=example,dc=org","sync_filter":"objectClass=person"}"#,
    ),
    (
        "ldap",
        r#"{"urls":["ldap://ldap.example.org"],"bind_dn":"cn=dirconn,dc=example,dc=org","bind_password":"secret","search_base":"people"}"#,
    ),
    (
        "ldap",
        r#"{"urls":["ldaps://ldap.example.org"],"starttls":true,"bind_dn":"cn=dirconn,dc=example,dc=org","bind_password":"secret","search_base":"ou=people,dc=example,dc=org"}"#,
    ),
];

/// Every failure of the engine, once (settings failures once per way of provoking them), as the host
/// would show it. The settings are read as if the configuration were in `/etc/dirconn`.
pub fn examples() -> Vec<Error> {
    let mut out = Vec::new();
    for (kind, json) in PROVOKED {
        let defaults = if *kind == "ldap" { LdapDefaults::GENERIC } else { LdapDefaults::ACTIVE_DIRECTORY };
        match LdapSettings::from_json("example.org", json, Path::new("/etc/dirconn"), defaults) {
            Err(err) => out.push(err),
            Ok(_) => panic!("the example settings load, but should fail: {json}"),
        }
    }
    let url = || LdapUrl::parse("ldap://ldap.example.org").expect("a valid URL");
    let addr = field("addr");
    let after = Duration::from_secs(5);
    out.extend([
        Error::wrong_kind("ldap", "active-directory"),
        Error::nt_domain_differs(&field("server"), &field("configured")),
        Error::outside_naming_context(&field("search_base"), &field("naming_context")),
        Error::EmptyPassword,
        Error::InvalidLogin { reason: field("reason") },
        Error::NtLogin { reason: field("reason") },
        account(|dn, diagnostic| Error::InvalidCredentials { dn, diagnostic }),
        account(|dn, diagnostic| Error::AccountLocked { dn, diagnostic }),
        account(|dn, diagnostic| Error::MustChangePassword { dn, diagnostic }),
        account(|dn, diagnostic| Error::PasswordExpired { dn, diagnostic }),
        Error::NotFound {
            login: field("login"),
            filter: field("filter"),
            base: field("base"),
            domain: field("domain"),
        },
        Error::Ambiguous { login: field("login"), dns: vec![field("dn"), field("dn")] },
        account(|dn, diagnostic| Error::AccountDisabled { dn, diagnostic }),
        account(|dn, diagnostic| Error::AccountExpired { dn, diagnostic }),
        account(|dn, diagnostic| Error::LogonHours { dn, diagnostic }),
        account(|dn, diagnostic| Error::Workstation { dn, diagnostic }),
        account(|dn, diagnostic| Error::UnknownToDc { dn, diagnostic }),
        account(|dn, diagnostic| Error::PasswordPolicy { dn, diagnostic }),
        Error::PasswordNeedsTls { url: url().to_string() },
        Error::GlobalCatalogPassword { url: "ldap://dc1.example.org:3268".into() },
        Error::Resolve { host: field("host"), reason: field("reason") },
        Error::Refused { addr: addr.clone() },
        Error::Closed { addr: addr.clone(), during: ClosedDuring::FirstOperation, diagnostic: field("diagnostic") },
        Error::Closed { addr: addr.clone(), during: ClosedDuring::Operation, diagnostic: field("diagnostic") },
        Error::Closed { addr: addr.clone(), during: ClosedDuring::TlsHandshake, diagnostic: field("diagnostic") },
        Error::ConnectTimeout { addr: addr.clone(), after },
        Error::OperationTimeout { addr: addr.clone(), what: field("operation"), after },
        Error::NoRoute { addr: addr.clone(), diagnostic: field("diagnostic") },
        Error::Tls { addr: addr.clone(), problem: TlsProblem::UnknownCa },
        Error::Tls { addr: addr.clone(), problem: TlsProblem::NameMismatch },
        Error::Tls { addr: addr.clone(), problem: TlsProblem::Expired },
        Error::Tls { addr: addr.clone(), problem: TlsProblem::Other(field("problem")) },
        Error::StartTlsRefused { addr, diagnostic: field("diagnostic") },
        Error::ServiceBind { dn: field("bind_dn"), diagnostic: field("diagnostic") },
        Error::ServiceBindHeld {
            dn: field("bind_dn"),
            tried: 1,
            next_try: field("time"),
            wait: Duration::from_secs(900),
            from_file: true,
            diagnostic: field("diagnostic"),
        },
        Error::ServiceBindHeld {
            dn: field("bind_dn"),
            tried: 1,
            next_try: field("time"),
            wait: Duration::from_secs(900),
            from_file: false,
            diagnostic: field("diagnostic"),
        },
        Error::ServiceMustChange { dn: field("bind_dn"), diagnostic: field("diagnostic") },
        Error::ServicePasswordExpired { dn: field("bind_dn"), diagnostic: field("diagnostic") },
        Error::SearchBaseMissing { base: field("search_base"), diagnostic: field("diagnostic") },
        Error::AccessDenied { what: field("operation"), diagnostic: field("diagnostic") },
        Error::Unavailable { what: field("operation"), diagnostic: field("diagnostic") },
        Error::Unexpected { what: field("operation"), diagnostic: field("diagnostic") },
        Error::SyncCancelled,
        Error::PasswordUnsupported,
    ]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provoked_example_fails_as_a_setting() {
        let all = examples();
        assert!(all.len() > PROVOKED.len());
        for err in &all[..PROVOKED.len()] {
            assert!(err.code().starts_with("DC-1"), "{err}");
        }
    }
}
