//! Where a store lives: a SQLite file (a plain path, or a `sqlite:` URL in any of its spellings:
//! `sqlite:accounts.db`, `sqlite://accounts.db`, `sqlite:///var/lib/dirconn/accounts.db`, with query
//! parameters such as `?mode=ro`), an in-memory SQLite database (`sqlite::memory:`), or a PostgreSQL URL.

use std::path::{Path, PathBuf};

/// A store location, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// A SQLite file: its path (decoded) and the URL's query parameters.
    SqliteFile { path: PathBuf, params: Vec<(String, String)> },
    /// An in-memory SQLite database, as the driver reads the URL.
    SqliteMemory(String),
    /// A PostgreSQL URL.
    Postgres(String),
}

/// Reads a store location; the problem when it is none.
pub(crate) fn parse(location: &str) -> Result<Location, String> {
    if location.starts_with("postgres://") || location.starts_with("postgresql://") {
        return Ok(Location::Postgres(location.to_owned()));
    }
    let Some(rest) = location.strip_prefix("sqlite:") else {
        if location.contains("://") {
            return Err("only SQLite files and PostgreSQL are supported".into());
        }
        if location.trim().is_empty() {
            return Err("it is empty".into());
        }
        return Ok(Location::SqliteFile { path: PathBuf::from(location), params: Vec::new() });
    };
    // As the driver reads it: `sqlite://x` and `sqlite:x` name the same file, `sqlite:///x` the absolute /x.
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let params: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect();
    if path == ":memory:" || params.iter().any(|(k, v)| k == "mode" && v == "memory") {
        return Ok(Location::SqliteMemory(location.to_owned()));
    }
    let path = decode(path);
    if path.is_empty() {
        return Err("the sqlite: URL names no file".into());
    }
    Ok(Location::SqliteFile { path: PathBuf::from(path), params })
}

/// A location with a relative SQLite path (plain or in a `sqlite:` URL) resolved against `dir`, as the
/// configuration file's other paths are; other locations as written.
pub fn resolve_location(location: &str, dir: &Path) -> String {
    match parse(location) {
        Ok(Location::SqliteFile { path, params }) if path.is_relative() => {
            let path = dir.join(path);
            if location.starts_with("sqlite:") {
                sqlite_url(&path, &params, false)
            } else {
                path.to_string_lossy().into_owned()
            }
        }
        _ => location.to_owned(),
    }
}

/// The URL the driver connects with: the absolute path percent-encoded, and `mode=rwc` (create the file
/// if missing) unless the location chose a mode.
pub(crate) fn sqlite_url(path: &Path, params: &[(String, String)], create: bool) -> String {
    let path = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let mut url = format!("sqlite://{}", encode(&path.to_string_lossy()));
    let mut query: Vec<String> = params.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect();
    if create && !params.iter().any(|(k, _)| k == "mode") {
        query.push("mode=rwc".into());
    }
    if !query.is_empty() {
        url.push('?');
        url.push_str(&query.join("&"));
    }
    url
}

/// Percent-encodes all but RFC 3986 unreserved characters and `/`.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (as the driver does); invalid ones are kept as written.
fn decode(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> Location {
        Location::SqliteFile { path: PathBuf::from(path), params: Vec::new() }
    }

    #[test]
    fn every_spelling_of_a_sqlite_file_is_read() {
        assert_eq!(parse("/var/lib/dirconn/accounts.db"), Ok(file("/var/lib/dirconn/accounts.db")));
        assert_eq!(parse("sqlite:///var/lib/dirconn/accounts.db"), Ok(file("/var/lib/dirconn/accounts.db")));
        assert_eq!(parse("sqlite://accounts.db"), Ok(file("accounts.db")));
        assert_eq!(parse("sqlite:accounts.db"), Ok(file("accounts.db")));
        assert_eq!(parse("sqlite:/tmp/a%20b.db"), Ok(file("/tmp/a b.db")));
        assert_eq!(
            parse("sqlite:///x.db?mode=ro"),
            Ok(Location::SqliteFile { path: "/x.db".into(), params: vec![("mode".into(), "ro".into())] })
        );
        assert!(matches!(parse("sqlite::memory:"), Ok(Location::SqliteMemory(_))));
        assert!(matches!(parse("sqlite://?mode=memory"), Ok(Location::SqliteMemory(_))));
        assert!(matches!(parse("postgresql://u@h/d"), Ok(Location::Postgres(_))));
        for bad in ["", "mysql://h/d", "sqlite:", "sqlite://"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn relative_paths_are_resolved_and_urls_encoded() {
        let dir = Path::new("/etc/dirconn");
        assert_eq!(resolve_location("accounts.db", dir), "/etc/dirconn/accounts.db");
        assert_eq!(resolve_location("sqlite:accounts.db", dir), "sqlite:///etc/dirconn/accounts.db");
        assert_eq!(resolve_location("sqlite://db/a.db?mode=ro", dir), "sqlite:///etc/dirconn/db/a.db?mode=ro");
        for kept in ["sqlite:///abs/a.db", "/abs/a.db", "sqlite::memory:", "postgres://u:p@h/d"] {
            assert_eq!(resolve_location(kept, dir), kept);
        }
        assert_eq!(sqlite_url(Path::new("/a b/c?#%.db"), &[], true), "sqlite:///a%20b/c%3F%23%25.db?mode=rwc");
        let ro = [("mode".to_owned(), "ro".to_owned())];
        assert_eq!(sqlite_url(Path::new("/a.db"), &ro, true), "sqlite:///a.db?mode=ro");
    }
}
