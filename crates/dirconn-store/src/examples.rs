//! One example of every failure of the account store, for the generated troubleshooting page, built with
//! its fields named in braces (`{store}`); the database driver's own words stand as `{driver error}`.

use crate::Error;

fn driver() -> sqlx::Error {
    sqlx::Error::Protocol("{driver error}".into())
}

/// Every failure of the store, once.
pub fn examples() -> Vec<Error> {
    vec![
        Error::BadUrl { url: "{store}".into(), problem: "{problem}".into() },
        Error::Open { url: "{store}".into(), source: driver() },
        Error::Migrate { source: sqlx::migrate::MigrateError::VersionMissing(4) },
        Error::Query { what: "{operation}", source: driver() },
        Error::Conflict { domain: "{domain}".into(), login: "{login}".into() },
        Error::Corrupt { what: "{value}".into() },
        Error::Exposed { path: "{store}".into(), file: "{store}".into(), mode: 0o644 },
    ]
}
