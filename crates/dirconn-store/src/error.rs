//! The store's one error type: every failure has a code, a kind, a message and a fix, shown as
//! `[code] message Fix: fix`.

use std::fmt;

use dirconn_abi::ErrorKind;

/// A failure of the account store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store's URL is not a SQLite path or a `postgres://` URL (DC-601).
    BadUrl {
        /// The URL as configured (its password removed).
        url: String,
        /// What is wrong.
        problem: String,
    },
    /// The database cannot be opened or reached (DC-602).
    Open {
        /// The URL (its password removed).
        url: String,
        /// The driver's answer.
        source: sqlx::Error,
    },
    /// The schema cannot be brought to this version (DC-603).
    Migrate {
        /// The migrator's answer.
        source: sqlx::migrate::MigrateError,
    },
    /// A statement failed (DC-604).
    Query {
        /// What was being done.
        what: &'static str,
        /// The driver's answer.
        source: sqlx::Error,
    },
    /// Another writer holds the login or directory key being written (DC-605).
    Conflict {
        /// The domain.
        domain: String,
        /// The login.
        login: String,
    },
    /// A stored value cannot be read back (DC-606).
    Corrupt {
        /// The column and value.
        what: String,
    },
    /// A SQLite store file that group or others may read or write; refused before it is opened (DC-607).
    Exposed {
        /// The store's database file.
        path: String,
        /// The file found open to others (the database, or its -wal, -shm or -journal file).
        file: String,
        /// Its permission bits.
        mode: u32,
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
            Error::Exposed { .. } => ErrorKind::Configuration,
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
            Error::Exposed { .. } => "DC-607",
        }
    }

    /// What failed, in a sentence an administrator understands (the driver's answer included).
    pub fn message(&self) -> String {
        match self {
            Error::BadUrl { url, problem } => format!("The store `{url}` is not usable: {problem}."),
            Error::Open { url, source } => format!("The account store `{url}` cannot be opened: {source}."),
            Error::Migrate { source } => format!("The account store's schema cannot be migrated: {source}."),
            Error::Query { what, source } => format!("The account store failed to {what}: {source}."),
            Error::Conflict { domain, login } => {
                format!("The account `{login}` in {domain} was written by another process at the same time.")
            }
            Error::Corrupt { what } => format!("The account store holds a value this version cannot read ({what})."),
            Error::Exposed { file, mode, .. } => format!(
                "The account store file {file} can be read or written by other users (mode {mode:04o}); it holds \
                 password hashes, so it was not opened."
            ),
        }
    }

    /// What to do about it.
    pub fn fix(&self) -> String {
        if let Error::Exposed { path, .. } = self {
            return format!(
                "make it private to the dirconn user: `chmod 600 {path}` (and its {path}-wal and {path}-shm files \
                 when present); dirconn creates new stores with mode 0600."
            );
        }
        match self {
            Error::BadUrl { .. } => "set `store` to a SQLite file path (accounts.db) or a postgres://user@host/db URL.",
            Error::Open { .. } => {
                "check the file's folder and permissions, or that PostgreSQL runs and accepts this user."
            }
            Error::Migrate { .. } => {
                "restore the database from a backup made by this or an older dirconn; never edit \
                 `_sqlx_migrations` by hand."
            }
            Error::Query { .. } => "check the database's health and free space; the operation was rolled back.",
            Error::Conflict { .. } => "run the operation again; it will see the other writer's account.",
            Error::Corrupt { .. } => "upgrade dirconn, or correct the row.",
            Error::Exposed { .. } => "make the store's files private to the dirconn user (chmod 600).",
        }
        .to_owned()
    }

    /// A server's own diagnostic: none, as the database driver's answer is part of the message.
    pub fn diagnostic(&self) -> Option<String> {
        None
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {} Fix: {}", self.code(), self.message(), self.fix())
    }
}

/// Whether a driver error is a unique-constraint violation (another writer won the race).
pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_code_message_and_fix() {
        let err = Error::Conflict { domain: "a.org".into(), login: "bob".into() };
        assert_eq!(err.message(), "The account `bob` in a.org was written by another process at the same time.");
        assert_eq!(err.fix(), "run the operation again; it will see the other writer's account.");
        assert_eq!(err.to_string(), format!("[DC-605] {} Fix: {}", err.message(), err.fix()));
        assert_eq!(err.diagnostic(), None);
    }
}
