//! The service's JSON views: what `POST /v1/auth` and `GET /v1/users/{address}` answer. Errors are the one
//! [`Problem`] view every output shares.

use std::collections::BTreeMap;

use dirconn_host::{Domain, Error as HostError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::Error;

/// An error as every output renders it: a stable code, a kind, what failed and what to do.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq)]
pub struct Problem {
    /// The stable code (`DC-203`), listed in the troubleshooting page.
    pub code: String,
    /// What kind of failure (`invalid-credentials`, `unreachable`…).
    pub kind: String,
    /// What failed.
    pub message: String,
    /// What to do about it.
    pub fix: String,
    /// The directory's own words, when it said something.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnostic: Option<String>,
}

impl Problem {
    /// A host error (a login's, a configuration's, a store's).
    pub fn host(err: &HostError) -> Problem {
        Problem {
            code: err.code().to_owned(),
            kind: err.kind().as_str().to_owned(),
            message: err.message(),
            fix: err.fix(),
            diagnostic: err.diagnostic(),
        }
    }

    /// The service's own refusal.
    pub fn service(err: &Error) -> Problem {
        Problem {
            code: err.code().to_owned(),
            kind: err.kind().as_str().to_owned(),
            message: err.message(),
            fix: err.fix(),
            diagnostic: None,
        }
    }
}

/// A successful login: the canonical account, which the mail server must use as the mailbox name.
#[derive(Debug, Clone, Serialize, ToSchema)]
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
#[derive(Debug, Clone, Serialize, ToSchema)]
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
        Refused { ok: false, problem: Problem::host(err), user_message: user_message.to_owned() }
    }

    /// The refusal of a service error.
    pub fn service(err: &Error) -> Refused {
        Refused {
            ok: false,
            problem: Problem::service(err),
            user_message: dirconn_host::messages::end_user_message(err.kind(), false).to_owned(),
        }
    }
}

/// An address that exists and may receive mail.
#[derive(Debug, Clone, Serialize, ToSchema)]
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
