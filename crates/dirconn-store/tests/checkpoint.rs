//! `Tx::commit_bulk` on SQLite: the WAL checkpoint runs after the commit, in the background, and the
//! committed accounts reach the database file without the store being closed.

use std::time::{Duration, Instant};

use dirconn_store::{Account, Source, Store};

#[tokio::test]
async fn a_bulk_commit_is_checkpointed_after_it_without_closing_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("accounts.db");
    let store = Store::open(&file.display().to_string()).await.unwrap();
    let empty = std::fs::metadata(&file).unwrap().len();
    let accounts: Vec<Account> = (0..20_000)
        .map(|n| {
            let mut a = Account::new("example.org", &format!("user{n}"), &format!("user{n}"), Source::Directory, 1);
            a.directory_key = Some(format!("key-{n:05}"));
            a.dn = Some(format!("uid=user{n},ou=people,dc=example,dc=org"));
            a
        })
        .collect();
    let mut tx = store.begin().await.unwrap();
    assert!(tx.insert_many(&accounts).await.unwrap().iter().all(Result::is_ok));
    tx.commit_bulk().await.unwrap();
    // The commit left its pages in the WAL; only a checkpoint copies them into the file. Nothing else
    // writes here, so the file grows only by the checkpoint the bulk commit started.
    let started = Instant::now();
    let grown = loop {
        let len = std::fs::metadata(&file).unwrap().len();
        if len > empty + 2_000_000 || started.elapsed() > Duration::from_secs(10) {
            break len;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(grown > empty + 2_000_000, "the database file is {grown} bytes (it was {empty}): no checkpoint ran");
    // The store goes on as usual: a transaction after it commits and sees every account.
    let mut tx = store.begin().await.unwrap();
    let mut listed = 0;
    tx.sync_index("example.org", &mut |_| listed += 1).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(listed, accounts.len());
    store.close().await;
}
