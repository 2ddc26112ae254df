//! What mail servers get from the service: `POST /v1/auth` ([`Accepted`], [`Refused`]),
//! `GET /v1/users/{address}` ([`UserFound`]), and a lookup in one of Postfix's tables ([`MapLookup`], what
//! `dirconn postmap` shows).

use std::collections::BTreeMap;

use dirconn_host::{Domain, Error as HostError};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Problem;

/// A successful login: the canonical account, which the mail server must use as the mailbox name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    /// Always true.
    pub ok: bool,
    /// `login@domain`: the mailbox name.
    pub account: String,
    /// The mail domain.
    pub domain: String,
    /// The account's login within it.
    pub login: String,
    /// The mapped email address.
    pub email: Option<String>,
    /// First and last name, when mapped.
    pub display_name: Option<String>,
    /// The application groups of the account.
    pub app_groups: Vec<String>,
    /// The mapped text fields (`first_name`, `email`, `city`…).
    pub fields: BTreeMap<String, String>,
    /// The domain's userdb template filled in (home, uid, gid, quota_rule…).
    pub userdb: BTreeMap<String, String>,
    /// Whether the account is an administrator.
    pub admin: bool,
    /// Notices that do not deny the login (password expiring).
    pub warnings: Vec<String>,
}

/// A refused or failed login: the problem for the administrator, and what the end user is told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Refused {
    /// Always false.
    pub ok: bool,
    /// What went wrong.
    #[serde(flatten)]
    pub problem: Problem,
    /// What the end user is told (per the domain's `reveal_account_state`).
    pub user_message: String,
}

impl Refused {
    /// The refusal of a host error, with the domain's end-user message policy.
    pub fn host(err: &HostError, domain: Option<&Domain>) -> Refused {
        let user_message = match domain {
            Some(d) => d.end_user_message(err.kind()),
            None => dirconn_host::messages::end_user_message(err.kind(), false),
        };
        Refused { ok: false, problem: Problem::from_error(err), user_message: user_message.to_owned() }
    }

    /// A refusal of the service's own (its problem, told to the user per the default policy).
    pub fn new(problem: Problem, kind: dirconn_abi::ErrorKind) -> Refused {
        Refused { ok: false, problem, user_message: dirconn_host::messages::end_user_message(kind, false).to_owned() }
    }
}

/// An address that exists and may receive mail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserFound {
    /// `login@domain`.
    pub account: String,
    /// The mail domain.
    pub domain: String,
    /// The login within it.
    pub login: String,
    /// Whether the account is active (always true in a 200 answer).
    pub active: bool,
    /// Whether the account is in the store (false: found in the directory, created at its first login).
    pub stored: bool,
    /// The userdb fields.
    pub userdb: BTreeMap<String, String>,
}

/// A lookup in one of Postfix's tables (`mailbox`, `alias`, `domains`, `senders`), as socketmap answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MapLookup {
    /// The table.
    pub map: String,
    /// The key as given.
    pub key: String,
    /// Whether the key is in the table.
    pub found: bool,
    /// The value found.
    pub value: Option<String>,
    /// What socketmap replies: `OK <value>` or `NOTFOUND `.
    pub reply: String,
}

impl MapLookup {
    /// The view of a lookup's answer.
    pub fn new(map: &str, key: &str, value: Option<String>) -> MapLookup {
        let reply = MapLookup::reply_to(value.as_deref());
        MapLookup { map: map.to_owned(), key: key.to_owned(), found: value.is_some(), value, reply }
    }

    /// The socketmap reply to a lookup that found `value` (or nothing).
    pub fn reply_to(value: Option<&str>) -> String {
        value.map_or_else(|| "NOTFOUND ".to_owned(), |v| format!("OK {v}"))
    }
}
