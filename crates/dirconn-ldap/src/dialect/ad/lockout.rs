//! Active Directory's lockout policy: `lockoutThreshold` and `lockOutObservationWindow` on the domain object,
//! and `msDS-LockoutThreshold` / `msDS-LockoutObservationWindow` of the password settings objects (fine-grained
//! policies) the service account may read (by default it may not, and the domain's policy is what it finds).

use ldap3::{Scope, SearchEntry};

use crate::{
    Directory, Error,
    directory::first_text,
    lockout::{Found, strictest},
};

/// An AD interval attribute (negative 100-ns units, `-18000000000` for 30 minutes) in seconds.
pub(crate) fn interval_seconds(value: &str) -> u64 {
    value.trim().parse::<i64>().map(|v| v.unsigned_abs() / 10_000_000).unwrap_or(0)
}

/// One object's lockout: the domain (`prefix` "") or a password settings object (`prefix` "msDS-").
pub(crate) fn found(entry: &SearchEntry, prefix: &str) -> Found {
    let threshold = first_text(entry, &format!("{prefix}lockoutThreshold")).and_then(|v| v.trim().parse().ok());
    let window = first_text(entry, &format!("{prefix}lockOutObservationWindow"));
    Found {
        threshold: threshold.unwrap_or(0),
        window_seconds: window.as_deref().map(interval_seconds).unwrap_or(0),
        source: format!("{prefix}lockoutThreshold of {}", entry.dn),
    }
}

/// Reads the domain's policy and the password settings objects the service account can see.
pub(crate) async fn read(dir: &Directory) -> Result<crate::LockoutPolicy, Error> {
    let attrs = ["defaultNamingContext".to_owned()];
    let (dse, _) = dir.service_search("", Scope::Base, "(objectClass=*)", &attrs, 1, "rootDSE read").await?;
    let nc = dse.first().and_then(|e| first_text(e, "defaultNamingContext")).ok_or_else(|| Error::Unexpected {
        what: "the lockout policy read".into(),
        diagnostic: "no defaultNamingContext: this does not look like an Active Directory domain controller".into(),
    })?;
    let attrs = ["lockoutThreshold".to_owned(), "lockOutObservationWindow".to_owned()];
    let (domain, _) =
        dir.service_search(&nc, Scope::Base, "(objectClass=*)", &attrs, 1, "the lockout policy read").await?;
    let mut all: Vec<Found> = domain.iter().map(|e| found(e, "")).collect();
    let container = format!("CN=Password Settings Container,CN=System,{nc}");
    let attrs = ["msDS-LockoutThreshold".to_owned(), "msDS-LockoutObservationWindow".to_owned()];
    let filter = "(objectClass=msDS-PasswordSettings)";
    // Unreadable or absent (noSuchObject): the domain's policy stands alone.
    if let Ok((psos, _)) = dir.service_search(&container, Scope::OneLevel, filter, &attrs, 100, "the PSO read").await {
        all.extend(psos.iter().map(|e| found(e, "msDS-")));
    }
    Ok(strictest(all, format!("no lockoutThreshold readable on {nc}")))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn the_domain_and_pso_attributes_are_read() {
        assert_eq!(interval_seconds("-18000000000"), 1800);
        assert_eq!(interval_seconds("junk"), 0);
        let e = SearchEntry {
            dn: "DC=example,DC=test".into(),
            attrs: HashMap::from([
                ("lockoutThreshold".to_owned(), vec!["3".to_owned()]),
                ("lockOutObservationWindow".to_owned(), vec!["-18000000000".to_owned()]),
            ]),
            bin_attrs: HashMap::new(),
        };
        let f = found(&e, "");
        assert_eq!((f.threshold, f.window_seconds), (3, 1800));
        assert_eq!(f.source, "lockoutThreshold of DC=example,DC=test");
        let pso = SearchEntry {
            dn: "CN=p".into(),
            attrs: HashMap::from([("msDS-LockoutThreshold".to_owned(), vec!["2".to_owned()])]),
            bin_attrs: HashMap::new(),
        };
        assert_eq!(found(&pso, "msDS-").threshold, 2);
    }
}
