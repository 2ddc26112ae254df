//! One example of every failure of the Kerberos check, fields named in braces, for the generated
//! troubleshooting page.

use std::time::Duration;

use crate::{Error, KeytabError};

fn field(name: &str) -> String {
    format!("{{{name}}}")
}

/// Every failure, once.
pub fn examples() -> Vec<Error> {
    let (principal, diagnostic) = (field("principal"), field("diagnostic"));
    let account = |make: fn(String, String) -> Error| make(principal.clone(), diagnostic.clone());
    vec![
        Error::EmptyPassword,
        Error::BadPrincipal { principal: principal.clone(), problem: field("problem") },
        account(|principal, diagnostic| Error::WrongPassword { principal, diagnostic }),
        account(|principal, diagnostic| Error::UnknownPrincipal { principal, diagnostic }),
        account(|principal, diagnostic| Error::Locked { principal, diagnostic }),
        account(|principal, diagnostic| Error::Disabled { principal, diagnostic }),
        account(|principal, diagnostic| Error::Revoked { principal, diagnostic }),
        account(|principal, diagnostic| Error::PasswordExpired { principal, diagnostic }),
        account(|principal, diagnostic| Error::MustChange { principal, diagnostic }),
        account(|principal, diagnostic| Error::PrincipalExpired { principal, diagnostic }),
        account(|principal, diagnostic| Error::Policy { principal, diagnostic }),
        Error::ClockSkew { kdc: field("kdc"), offset: 1200 },
        account(|principal, diagnostic| Error::NoCommonEtype { principal, diagnostic }),
        Error::WrongRealm { realm: field("realm"), answered: field("answered") },
        Error::Unreachable { tried: vec![field("kdc: reason")] },
        Error::Timeout { tried: vec![field("kdc: reason")], after: Duration::from_secs(5) },
        Error::NotValidated { service: field("service"), reason: field("reason") },
        Error::ServiceUnknown { service: field("service"), diagnostic: diagnostic.clone() },
        Error::NoServiceKey { keytab: field("keytab"), service: field("service"), etype: field("etype") },
        Error::StaleKvno { keytab: field("keytab"), service: field("service"), ticket_kvno: 3, keytab_kvnos: vec![2] },
        Error::Keytab { path: field("keytab"), problem: KeytabError::NotKeytab },
        Error::Protocol { kdc: field("kdc"), problem: field("problem") },
        Error::Kdc { code: 60, diagnostic },
        Error::S2kParams { principal, params: "00010000".into() },
    ]
}
