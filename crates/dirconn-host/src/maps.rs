//! Postfix's lookup tables over the account store, by name: served as socketmap by `dirconn serve` and
//! tried with `dirconn postmap`. Every answer comes from the store (kept current by syncs and logins), with
//! no directory round trip; only active accounts of enabled domains are found.
//!
//! | map | key | value | for |
//! | --- | --- | --- | --- |
//! | `mailbox` | any address of an account | its mailbox, `login@domain` | `virtual_mailbox_maps` |
//! | `alias` | an address that is not the mailbox itself | the mailbox | `virtual_alias_maps` |
//! | `domains` | a domain name | the domain | `virtual_mailbox_domains` |
//! | `senders` | any address of an account | the login(s) that may send as it | `smtpd_sender_login_maps` |
//!
//! Keys are compared in lowercase (the store keeps addresses so). Postfix asks `user@domain`, then
//! `@domain` (a catch-all, which these tables never hold) and, for some tables, a bare `user`: those two are
//! not found. When two accounts claim one address, `mailbox` and `alias` answer the best claim (the
//! account whose mailbox it is, then the one whose primary address it is, then the oldest) and `senders`
//! every claimant.

use std::{fmt, str::FromStr};

use dirconn_store::{AddressOwner, Store};

use crate::{Error, Host, address};

/// One of the lookup tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MailMap {
    /// Address → mailbox.
    Mailbox,
    /// Alias address → mailbox.
    Alias,
    /// Mail domain → itself.
    Domains,
    /// Address → the logins allowed to send as it.
    Senders,
}

impl MailMap {
    /// Every map, in documentation order.
    pub const ALL: [MailMap; 4] = [MailMap::Mailbox, MailMap::Alias, MailMap::Domains, MailMap::Senders];

    /// The map's name in Postfix's configuration (`socketmap:…:mailbox`).
    pub fn name(self) -> &'static str {
        match self {
            MailMap::Mailbox => "mailbox",
            MailMap::Alias => "alias",
            MailMap::Domains => "domains",
            MailMap::Senders => "senders",
        }
    }
}

impl fmt::Display for MailMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for MailMap {
    type Err = String;

    fn from_str(s: &str) -> Result<MailMap, String> {
        MailMap::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| format!("no map is named `{s}` (maps: {})", MailMap::ALL.map(MailMap::name).join(", ")))
    }
}

impl Host {
    /// Looks `key` up in `map`: `Ok(None)` when it is not found, an error when the store fails (the mail
    /// server must then answer "try again later", never "no such user").
    pub async fn lookup_map(&self, store: &Store, map: MailMap, key: &str) -> Result<Option<String>, Error> {
        let key = key.trim().to_lowercase();
        if map == MailMap::Domains {
            let domain = key.trim_end_matches('.');
            return Ok(self.domains().iter().find(|d| d.enabled() && d.name == domain).map(|d| d.name.clone()));
        }
        // `@domain` (a catch-all) and a bare `user` are never entries of these tables.
        if key.starts_with('@') || !key.contains('@') {
            return Ok(None);
        }
        let owners: Vec<AddressOwner> = store
            .address_owners(&key)
            .await?
            .into_iter()
            .filter(|o| self.domains().iter().any(|d| d.enabled() && d.name == o.domain))
            .collect();
        let Some(best) = owners.first() else {
            return Ok(None);
        };
        Ok(match map {
            MailMap::Mailbox => Some(address::mailbox(&best.login, &best.domain)),
            MailMap::Alias if best.position == 0 => None,
            MailMap::Alias => Some(address::mailbox(&best.login, &best.domain)),
            // One row per account (an address is stored once per account): no duplicates to remove.
            MailMap::Senders => {
                Some(owners.iter().map(|o| format!("{}@{}", o.login, o.domain)).collect::<Vec<_>>().join(", "))
            }
            MailMap::Domains => unreachable!("answered above"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_names_parse_and_unknown_ones_list_the_maps() {
        for map in MailMap::ALL {
            assert_eq!(map.name().parse::<MailMap>(), Ok(map));
        }
        let err = "mailboxes".parse::<MailMap>().unwrap_err();
        assert!(err.contains("mailbox, alias, domains, senders"), "{err}");
    }
}
