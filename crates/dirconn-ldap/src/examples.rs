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

/// Settings of a domain that load; each provoking example below changes them.
const GOOD: &str = r#"{"urls":["ldap://ldap.example.org"],"bind_dn":"cn=dirconn,dc=example,dc=org","bind_password":"secret","search_base":"ou=people,dc=example,dc=org"}"#;

/// The settings failures, provoked by loading [`GOOD`] with one thing wrong: `(connector kind, changes)`, each
/// change a key and its JSON value (`null`: the key removed).
const PROVOKED: &[(&str, &[(&str, &str)])] = &[
    ("ldap", &[("user_filtr", r#""(uid={login})""#)]),
    ("ldap", &[("pool_size", r#""8""#)]),
    ("ldap", &[("search_base", "null")]),
    ("ldap", &[("connect_timeout", r#""soon""#)]),
    ("ldap", &[("connect_timeout", r#""0s""#)]),
    ("ldap", &[("pool_size", "0")]),
    ("ldap", &[("nested_group_depth", "65")]),
    ("ldap", &[("page_size", "0")]),
    ("active-directory", &[("range_size", "5")]),
    ("active-directory", &[("nt_domain", r#""example.org""#)]),
    ("ldap", &[("nt_domain", r#""EXAMPLE""#)]),
    ("ldap", &[("group_membership", r#""chain""#)]),
    ("ldap", &[("urls", r#"["ldap.example.org"]"#)]),
    ("ldap", &[("urls", "[]")]),
    ("ldap", &[("bind_password", "null")]),
    ("ldap", &[("bind_password_env", r#""DIRCONN_PASSWORD""#)]),
    ("ldap", &[("bind_password_file", r#""missing-secret""#), ("bind_password", "null")]),
    ("ldap", &[("bind_password_env", r#""DIRCONN_DOCS_UNSET_VARIABLE""#), ("bind_password", "null")]),
    ("ldap", &[("bind_dn", r#"" ""#)]),
    ("ldap", &[("ca_file", r#""missing-ca.pem""#)]),
    ("ldap", &[("user_filter", r#""(uid=alice)""#)]),
    ("ldap", &[("user_filter", r#""(uid={login}""#)]),
    ("ldap", &[("group_filter", r#""member={dn}""#)]),
    ("ldap", &[("sync_filter", r#""objectClass=person""#)]),
    ("ldap", &[("search_base", r#""people""#)]),
    ("ldap", &[("service_bind_backoff", r#""0s""#)]),
    ("ldap", &[("urls", r#"["ldaps://ldap.example.org"]"#), ("starttls", "true")]),
    ("ldap", &[("pam_service", r#""dirconn""#)]),
    ("ldap", &[("password_check", r#""kerberos""#)]),
    ("ldap", &[("password_check", r#""kerberos""#), ("kerberos_realm", r#""example.org""#)]),
    ("ldap", &[("password_check", r#""kerberos""#), ("kerberos_realm", r#""EXAMPLE.ORG""#)]),
    (
        "ldap",
        &[
            ("password_check", r#""kerberos""#),
            ("kerberos_realm", r#""EXAMPLE.ORG""#),
            ("kdc", r#"["kdc1.example.org"]"#),
        ],
    ),
    ("ldap", &[("password_check", r#""pam""#)]),
];

/// Every failure of the engine, once (settings failures once per way of provoking them), as the host
/// would show it. The settings are read as if the configuration were in `/etc/dirconn`.
pub fn examples(kinds: &[LdapDefaults]) -> Vec<Error> {
    let mut out = Vec::new();
    for (kind, changes) in PROVOKED {
        let defaults = *kinds.iter().find(|d| d.kind == *kind).expect("a connector kind");
        let mut settings: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(GOOD).expect("the good settings are JSON");
        for (key, value) in *changes {
            match serde_json::from_str(value).expect("a JSON value") {
                serde_json::Value::Null => settings.remove(*key),
                value => settings.insert((*key).to_owned(), value),
            };
        }
        let json = serde_json::Value::Object(settings).to_string();
        match LdapSettings::from_json("example.org", &json, Path::new("/etc/dirconn"), defaults) {
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
        crate::dialect::od::not_od(field("missing"), field("diagnostic")),
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
        let all = examples(&[crate::dialect::generic::TEST_DEFAULTS, crate::dialect::ad::TEST_DEFAULTS]);
        assert!(all.len() > PROVOKED.len());
        for err in &all[..PROVOKED.len()] {
            assert!(err.code().starts_with("DC-1"), "{err}");
        }
    }
}
