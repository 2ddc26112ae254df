//! The store's files are private: a new SQLite store is created mode 0600 before SQLite opens it (SQLite
//! gives its `-wal`, `-shm` and `-journal` files the main file's permissions), and an existing one that
//! group or others may read or write is refused (`DC-607`): it holds password hashes.

use std::{
    io,
    os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
};

use crate::Error;

/// The files beside a SQLite database that hold its data too.
const COMPANIONS: [&str; 3] = ["-wal", "-shm", "-journal"];

/// Makes sure the store at `path` is private before SQLite opens it: creates it empty with mode 0600 when
/// it is missing and `create` allows (the URL's `mode` is `rwc` or unset), and refuses it when the file or
/// one of its companions is readable or writable by group or others.
pub(crate) fn prepare(path: &Path, create: bool) -> Result<(), Error> {
    if create {
        match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
            Ok(_) => tracing::info!(store = %path.display(), "created the account store (mode 0600)"),
            // Another process created it first, or the folder is missing: SQLite reports the latter.
            Err(err) if err.kind() == io::ErrorKind::AlreadyExists => {}
            Err(err) => tracing::debug!(store = %path.display(), error = %err, "cannot create the store file"),
        }
    }
    for file in std::iter::once(path.to_owned()).chain(COMPANIONS.iter().map(|c| companion(path, c))) {
        let Ok(meta) = std::fs::metadata(&file) else { continue };
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(Error::Exposed { path: path.display().to_string(), file: file.display().to_string(), mode });
        }
    }
    Ok(())
}

fn companion(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
