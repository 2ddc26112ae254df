//! The SQLite store is private: created 0600 with its -wal and -shm files, and an existing store file that
//! others may read is refused with DC-607, untouched.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use dirconn_store::{AuditRecord, Store};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

fn with_suffix(path: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    name.into()
}

fn record() -> AuditRecord {
    AuditRecord {
        id: String::new(),
        at: dirconn_store::now_ms(),
        interface: "cli".into(),
        domain: Some("example.org".into()),
        login: "alice".into(),
        account: None,
        client_ip: None,
        local_ip: None,
        service: None,
        outcome: "ok".into(),
        kind: "ok".into(),
        latency_us: 1,
    }
}

#[tokio::test]
async fn a_new_store_and_its_wal_and_shm_files_are_0600() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("accounts.db");
    // The test runs under the usual umask (022), with which SQLite alone would create 0644 files.
    let store = Store::open(&db.display().to_string()).await.expect("store opens");
    store.record_audit(&[record()]).await.expect("a write");
    for file in [db.clone(), with_suffix(&db, "-wal"), with_suffix(&db, "-shm")] {
        assert!(file.exists(), "{} exists while the store is open", file.display());
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    store.close().await;
    // Reopening a private store works.
    Store::open(&format!("sqlite://{}", db.display())).await.expect("reopens").close().await;
}

#[tokio::test]
async fn a_store_file_others_can_read_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("accounts.db");
    let store = Store::open(&db.display().to_string()).await.expect("store opens");
    store.record_audit(&[record()]).await.expect("a write");
    store.close().await;
    for suffix in ["-wal", "-shm"] {
        assert!(!with_suffix(&db, suffix).exists(), "a clean close removes {suffix}");
    }
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let before = std::fs::read(&db).unwrap();
    let modified = std::fs::metadata(&db).unwrap().modified().unwrap();
    for location in [db.display().to_string(), format!("sqlite://{}", db.display())] {
        let err = Store::open(&location).await.expect_err("a 0644 store is refused");
        assert_eq!(err.code(), "DC-607", "{err}");
        assert_eq!(err.kind(), dirconn_abi::ErrorKind::Configuration);
        assert!(err.message().contains("mode 0644"), "{err}");
        assert!(err.fix().contains(&format!("chmod 600 {}", db.display())) && err.fix().contains("-wal"), "{err}");
    }
    assert_eq!(std::fs::read(&db).unwrap(), before, "nothing was written");
    assert_eq!(std::fs::metadata(&db).unwrap().modified().unwrap(), modified);
    assert_eq!(mode(&db), 0o644, "its mode is left as it was");
    assert!(!with_suffix(&db, "-wal").exists() && !with_suffix(&db, "-shm").exists(), "SQLite never opened it");
    // A companion file open to others is refused too; once private, the store opens.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(with_suffix(&db, "-journal"), b"").unwrap();
    std::fs::set_permissions(with_suffix(&db, "-journal"), std::fs::Permissions::from_mode(0o660)).unwrap();
    assert_eq!(Store::open(&db.display().to_string()).await.unwrap_err().code(), "DC-607");
    std::fs::remove_file(with_suffix(&db, "-journal")).unwrap();
    Store::open(&db.display().to_string()).await.expect("a private store opens").close().await;
}
