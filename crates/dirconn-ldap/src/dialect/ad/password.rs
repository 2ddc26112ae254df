//! Active Directory's password changes and resets: `unicodePwd` modifications over TLS only, a reset by the
//! service account (Replace) or a change by whoever knows the old password (Delete old + Add new, which AD
//! allows on any authenticated connection: a user whose password expired or must change cannot bind, and
//! can still change it this way).

use std::collections::HashSet;

use ldap3::Mod;

use crate::{ClosedDuring, Directory, Error, ad, error::describe_result};

/// What a password operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Operation {
    /// The service account sets a new password.
    Reset,
    /// The user replaces the old password.
    Change,
}

impl Directory {
    /// Changes a user's password (`old` given) or resets it with the service account (`old` None).
    /// Returns the user's DN. Refused before any network call without TLS or through a Global Catalog.
    pub(crate) async fn ad_set_password(&self, login: &str, old: Option<&str>, new: &str) -> Result<String, Error> {
        let s = self.settings();
        if new.is_empty() || old == Some("") {
            return Err(Error::EmptyPassword);
        }
        for url in &s.urls {
            if url.is_global_catalog() {
                return Err(Error::GlobalCatalogPassword { url: url.to_string() });
            }
            if !url.ldaps && !s.starttls {
                return Err(Error::PasswordNeedsTls { url: url.to_string() });
            }
        }
        let op = if old.is_some() { Operation::Change } else { Operation::Reset };
        let dn = self.find_user(login).await?.entry.dn;
        let attr = b"unicodePwd".to_vec();
        let mods = match old {
            None => vec![Mod::Replace(attr, HashSet::from([ad::unicode_pwd(new)]))],
            Some(old) => vec![
                Mod::Delete(attr.clone(), HashSet::from([ad::unicode_pwd(old)])),
                Mod::Add(attr, HashSet::from([ad::unicode_pwd(new)])),
            ],
        };
        let what = match op {
            Operation::Reset => "password reset",
            Operation::Change => "password change",
        };
        // A reset may be sent twice (a stale pooled connection); a change may not (the old password would
        // no longer match).
        let url = self.connector.preferred_url().clone();
        let result = self
            .with_service(op == Operation::Reset, |mut ldap, url| {
                let (mods, dn) = (mods.clone(), dn.as_str());
                async move { self.connector.run(&url, what, ClosedDuring::Operation, ldap.modify(dn, mods)).await }
            })
            .await?;
        let diagnostic = describe_result(&result);
        match result.rc {
            0 => {
                tracing::info!(dn = %dn, operation = what, "password set");
                Ok(dn)
            }
            rc if ad::is_policy_refusal(rc, &result.text) => Err(Error::PasswordPolicy { dn, diagnostic }),
            // A wrong old password: AD answers constraintViolation (data 56) or invalidCredentials.
            19 | 49 if op == Operation::Change => Err(Error::InvalidCredentials { dn, diagnostic }),
            50 => Err(Error::AccessDenied {
                what: match op {
                    Operation::Reset => "reset this user's password (delegate the Reset Password right to it)",
                    Operation::Change => "change this user's password",
                }
                .into(),
                diagnostic,
            }),
            13 | 8 => Err(Error::Unexpected {
                what: format!("the {what}: the DC demands a stronger protection of the connection than {url} gives"),
                diagnostic,
            }),
            51 | 52 => Err(Error::Unavailable { what: what.into(), diagnostic }),
            _ => Err(Error::Unexpected { what: format!("the {what}"), diagnostic }),
        }
    }
}
