//! The store's one error type.

use dirconn_abi::ErrorKind;

/// A failure of the account store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store's URL is not a SQLite path or a `postgres://` URL (DC-601).
    #[error(
        "[DC-601] The store `{url}` is not usable: {problem}. Fix: set `store` to a SQLite file path (accounts.db) or a postgres://user@host/db URL."
    )]
    BadUrl {
        /// The URL as configured (its password removed).
        url: String,
        /// What is wrong.
        problem: String,
    },
    /// The database cannot be opened or reached (DC-602).
    #[error(
        "[DC-602] The account store `{url}` cannot be opened: {source}. Fix: check the file's folder and permissions, or that PostgreSQL runs and accepts this user."
    )]
    Open {
        /// The URL (its password removed).
        url: String,
        /// The driver's answer.
        source: sqlx::Error,
    },
    /// The schema cannot be brought to this version (DC-603).
    #[error(
        "[DC-603] The account store's schema cannot be migrated: {source}. Fix: restore the database from a backup made by this or an older dirconn; never edit `_sqlx_migrations` by hand."
    )]
    Migrate {
        /// The migrator's answer.
        source: sqlx::migrate::MigrateError,
    },
    /// A statement failed (DC-604).
    #[error(
        "[DC-604] The account store failed to {what}: {source}. Fix: check the database's health and free space; the operation was rolled back."
    )]
    Query {
        /// What was being done.
        what: &'static str,
        /// The driver's answer.
        source: sqlx::Error,
    },
    /// Another writer holds the login or directory key being written (DC-605).
    #[error(
        "[DC-605] The account `{login}` in {domain} was written by another process at the same time. Fix: run the operation again; it will see the other writer's account."
    )]
    Conflict {
        /// The domain.
        domain: String,
        /// The login.
        login: String,
    },
    /// A stored value cannot be read back (DC-606).
    #[error(
        "[DC-606] The account store holds a value this version cannot read ({what}). Fix: upgrade dirconn, or correct the row."
    )]
    Corrupt {
        /// The column and value.
        what: String,
    },
}

impl Error {
    /// Wraps a driver error with what was being done.
    pub(crate) fn query(what: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
        move |source| Error::Query { what, source }
    }

    /// What kind of failure it is, for exit codes: a wrong URL is configuration, a database that cannot be
    /// reached is unreachable, a conflict is a retryable refusal, the rest internal.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::BadUrl { .. } | Error::Migrate { .. } => ErrorKind::Configuration,
            Error::Open { .. } => ErrorKind::Unreachable,
            Error::Query { .. } | Error::Corrupt { .. } | Error::Conflict { .. } => ErrorKind::Internal,
        }
    }

    /// The stable code (`DC-604`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::BadUrl { .. } => "DC-601",
            Error::Open { .. } => "DC-602",
            Error::Migrate { .. } => "DC-603",
            Error::Query { .. } => "DC-604",
            Error::Conflict { .. } => "DC-605",
            Error::Corrupt { .. } => "DC-606",
        }
    }
}

/// Whether a driver error is a unique-constraint violation (another writer won the race).
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}
