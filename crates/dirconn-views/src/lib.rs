//! The JSON views of dirconn, defined once: what `dirconn --json` prints and the HTTP API returns.
//!
//! Each view is a plain serde type with an OpenAPI schema (`utoipa::ToSchema`), built from the host's,
//! the store's and the ABI's types by `From` or a constructor. Views own their data and never carry a
//! secret: an [`AccountView`] has no password hashes, a [`UserView`] shows binary values by their size.
//!
//! - [`problem`]: [`Problem`] (code, kind, message, fix, diagnostic), the command's failure
//!   ([`ErrorView`]) and a refused login ([`Refusal`]).
//! - [`account`]: accounts, logins, password changes, migrations, plain confirmations.
//! - [`directory`]: directory users, test logins, connection tests, attributes and filters.
//! - [`sync`]: sync reports.
//! - [`host`]: plugins and domains.
//! - [`audit`]: the authentication audit.
//! - [`mail`]: what mail servers get from the service (logins, user lookups).

pub mod account;
pub mod audit;
pub mod directory;
pub mod host;
pub mod mail;
pub mod problem;
pub mod sync;

pub use account::{
    AccountSource, AccountView, DoneView, LoginUserView, LoginVia, LoginView, MigrationView, PasswordOperation,
    PasswordView,
};
pub use audit::{AUDIT_DEFAULT_LAST, AUDIT_MAX_LAST, AuditRecordView};
pub use directory::{
    AttrValueView, AttributesView, AuthView, FilterView, LookupView, StageStatusView, StageView, TestReportView,
    UserView,
};
pub use host::{DomainView, DomainsView, PluginView, PluginsView, RefusedPluginView};
pub use mail::{Accepted, MapLookup, Refused, UserFound};
pub use problem::{EXIT_CODES, ErrorView, Problem, ProblemKind, Refusal, all_kinds, exit_code};
pub use sync::{CountsView, SyncOutcome, SyncReportView};

/// Milliseconds, with the fraction, as the views show durations.
pub(crate) fn millis(elapsed: std::time::Duration) -> f64 {
    elapsed.as_secs_f64() * 1000.0
}

#[cfg(test)]
pub(crate) mod testing {
    //! Helpers of the unit tests.

    use std::collections::BTreeSet;

    /// The keys of a view's JSON object.
    pub fn keys(view: &impl serde::Serialize) -> BTreeSet<String> {
        match serde_json::to_value(view).unwrap() {
            serde_json::Value::Object(map) => map.keys().cloned().collect(),
            other => panic!("not an object: {other}"),
        }
    }

    /// The property names of a view's OpenAPI schema.
    pub fn schema_keys<T: utoipa::PartialSchema>() -> BTreeSet<String> {
        let schema = serde_json::to_value(T::schema()).unwrap();
        schema["properties"].as_object().expect("an object schema").keys().cloned().collect()
    }

    /// A set of names.
    pub fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }
}
