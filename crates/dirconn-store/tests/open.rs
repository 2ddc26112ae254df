//! Opening SQLite stores by every spelling of their location: each creates the file as the plain path does.

use dirconn_store::{Backend, Store, resolve_location};

#[tokio::test]
async fn every_sqlite_spelling_creates_the_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let root = dir.path().display().to_string();
    for (location, file) in [
        (format!("{root}/plain.db"), "plain.db"),
        (format!("sqlite://{root}/three-slashes.db"), "three-slashes.db"),
        (format!("sqlite:{root}/colon.db"), "colon.db"),
        (format!("sqlite://{root}/with%20space%23hash.db"), "with space#hash.db"),
        (format!("{root}/raw space?#%.db"), "raw space?#%.db"),
    ] {
        assert!(location.starts_with("sqlite:") || !location.contains("://"));
        let store = Store::open(&location).await.unwrap_or_else(|e| panic!("{location}: {e}"));
        assert_eq!(store.backend(), Backend::Sqlite);
        store.begin().await.expect("a write transaction").commit().await.expect("commit");
        store.close().await;
        assert!(dir.path().join(file).is_file(), "{location} created {file}");
    }
    // A mode chosen in the URL is kept: read-only does not create a missing file.
    let missing = format!("sqlite://{root}/missing.db?mode=ro");
    assert_eq!(Store::open(&missing).await.unwrap_err().code(), "DC-602");
    assert!(!dir.path().join("missing.db").exists());
    // Its folder is not created.
    let no_dir = format!("sqlite://{root}/no/such/folder.db");
    assert_eq!(Store::open(&no_dir).await.unwrap_err().code(), "DC-602");
}

#[tokio::test]
async fn relative_sqlite_urls_resolve_against_the_configuration_folder() {
    let dir = tempfile::tempdir().expect("temp dir");
    for (location, file) in [("sqlite:rel.db", "rel.db"), ("sqlite://sub.db", "sub.db"), ("plain.db", "plain.db")] {
        let resolved = resolve_location(location, dir.path());
        let store = Store::open(&resolved).await.unwrap_or_else(|e| panic!("{location} → {resolved}: {e}"));
        store.close().await;
        assert!(dir.path().join(file).is_file(), "{location} → {resolved}");
    }
    assert_eq!(Store::open("mysql://h/d").await.unwrap_err().code(), "DC-601");
}
