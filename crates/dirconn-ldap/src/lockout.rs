//! The directory's account lockout policy, read with the service account, which the service's throttle keeps
//! failures below: OpenLDAP ppolicy's `pwdMaxFailure` and `pwdFailureCountInterval` on the policy entries the
//! service account can read (here), Active Directory's domain object and password settings objects (in its
//! dialect). Where several policies apply, the strictest wins: the lowest threshold and the longest window.

use dirconn_abi::{LockoutPolicy, dn_is_within};
use ldap3::{Scope, SearchEntry};

use crate::{
    Directory, Error,
    directory::{first_text, text_values},
};

/// One policy found: its threshold (0: it never locks), window in seconds (0: not said) and where it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    pub threshold: u32,
    pub window_seconds: u64,
    pub source: String,
}

/// The strictest of the policies found: the lowest threshold that locks, with the longest window among
/// those that lock; `none` (a sentence saying where nothing was found) when there are none.
pub(crate) fn strictest(found: Vec<Found>, none: String) -> LockoutPolicy {
    if found.is_empty() {
        return LockoutPolicy { found: false, threshold: 0, window_seconds: 0, source: none.into() };
    }
    let locking: Vec<&Found> = found.iter().filter(|f| f.threshold > 0).collect();
    let Some(lowest) = locking.iter().min_by_key(|f| f.threshold) else {
        let sources: Vec<&str> = found.iter().map(|f| f.source.as_str()).collect();
        return LockoutPolicy {
            found: true,
            threshold: 0,
            window_seconds: 0,
            source: format!("{} (none locks accounts)", sources.join(", ")).into(),
        };
    };
    // A window of 0 (failures never forgotten) is the longest of all.
    let window_seconds = if locking.iter().any(|f| f.window_seconds == 0) {
        0
    } else {
        locking.iter().map(|f| f.window_seconds).max().unwrap_or(0)
    };
    LockoutPolicy { found: true, threshold: lowest.threshold, window_seconds, source: lowest.source.clone().into() }
}

/// A ppolicy entry's lockout: `pwdLockout` must be TRUE (its default is FALSE) for `pwdMaxFailure` to lock.
pub(crate) fn ppolicy_entry(entry: &SearchEntry) -> Found {
    let number = |name: &str| first_text(entry, name).and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(0);
    let locks = first_text(entry, "pwdLockout").is_some_and(|v| v.eq_ignore_ascii_case("TRUE"));
    Found {
        threshold: if locks { u32::try_from(number("pwdMaxFailure")).unwrap_or(u32::MAX) } else { 0 },
        window_seconds: number("pwdFailureCountInterval"),
        source: format!("pwdMaxFailure of {}", entry.dn),
    }
}

/// The generic reader: every `pwdPolicy` entry under the naming context that holds the search base.
pub(crate) async fn read_ppolicy(dir: &Directory) -> Result<LockoutPolicy, Error> {
    let s = dir.settings();
    let attrs = ["namingContexts".to_owned()];
    let (dse, _) = dir.service_search("", Scope::Base, "(objectClass=*)", &attrs, 1, "rootDSE read").await?;
    let base = dse
        .first()
        .map(|e| text_values(e, "namingContexts"))
        .unwrap_or_default()
        .into_iter()
        .find(|nc| dn_is_within(&s.search_base, nc))
        .unwrap_or_else(|| s.search_base.clone());
    let attrs: Vec<String> =
        ["pwdMaxFailure", "pwdLockout", "pwdFailureCountInterval"].iter().map(|a| (*a).to_owned()).collect();
    let (entries, _) = dir
        .service_search(&base, Scope::Subtree, "(objectClass=pwdPolicy)", &attrs, 100, "the password policy read")
        .await?;
    Ok(strictest(entries.iter().map(ppolicy_entry).collect(), format!("no pwdPolicy entry readable under {base}")))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn entry(dn: &str, attrs: &[(&str, &str)]) -> SearchEntry {
        SearchEntry {
            dn: dn.into(),
            attrs: attrs.iter().map(|(k, v)| ((*k).to_owned(), vec![(*v).to_owned()])).collect::<HashMap<_, _>>(),
            bin_attrs: HashMap::new(),
        }
    }

    #[test]
    fn a_ppolicy_locks_only_with_pwd_lockout() {
        let on =
            entry("cn=default", &[("pwdMaxFailure", "3"), ("pwdLockout", "TRUE"), ("pwdFailureCountInterval", "600")]);
        assert_eq!(
            ppolicy_entry(&on),
            Found { threshold: 3, window_seconds: 600, source: "pwdMaxFailure of cn=default".into() }
        );
        let off = entry("cn=soft", &[("pwdMaxFailure", "3")]);
        assert_eq!(ppolicy_entry(&off).threshold, 0);
    }

    #[test]
    fn the_strictest_policy_wins() {
        let f = |t, w, s: &str| Found { threshold: t, window_seconds: w, source: s.into() };
        let p = strictest(vec![f(5, 600, "a"), f(3, 300, "b"), f(0, 0, "c")], "none".into());
        assert_eq!((p.found, p.threshold, p.window_seconds, p.source.as_str()), (true, 3, 600, "b"));
        let p = strictest(vec![f(5, 0, "a"), f(3, 300, "b")], "none".into());
        assert_eq!(p.window_seconds, 0, "a policy that never forgets failures has the longest window");
        let p = strictest(vec![f(0, 0, "a")], "none".into());
        assert_eq!((p.found, p.threshold), (true, 0));
        let p = strictest(vec![], "nothing under dc=x".into());
        assert_eq!((p.found, p.source.as_str()), (false, "nothing under dc=x"));
    }
}
