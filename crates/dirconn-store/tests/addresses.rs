//! Mail addresses in the store: written with the account, found by `address_owners` (active accounts,
//! best claim first), rewritten when they change, and filled in for the accounts of a store made before
//! migration 0005.

use dirconn_store::{Account, Field, Source, Store, Value};
use sqlx::Connection as _;

async fn store(dir: &tempfile::TempDir) -> (Store, String) {
    let path = dir.path().join("accounts.db").display().to_string();
    (Store::open(&path).await.expect("store"), path)
}

fn account(login: &str, addresses: &[&str], created_at: i64) -> Account {
    let mut a = Account::new("example.org", login, login, Source::Directory, created_at);
    a.directory_key = Some(format!("key-{login}"));
    a.addresses = addresses.iter().map(|s| (*s).to_owned()).collect();
    a
}

fn owners(found: &[dirconn_store::AddressOwner]) -> Vec<(&str, i64)> {
    found.iter().map(|o| (o.login.as_str(), o.position)).collect()
}

#[tokio::test]
async fn addresses_are_found_best_claim_first_and_follow_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = store(&dir).await;
    let mut tx = store.begin().await.unwrap();
    // bob (older) has shared@ as an alias; carol has it as her primary; alice's canonical is alice@.
    tx.insert_many(&[
        account("alice", &["a.liddell@example.org"], 1),
        account("bob", &["bob.b@example.org", "shared@example.org"], 2),
        account("carol", &["shared@example.org", "alice@example.org"], 3),
    ])
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(owners(&store.address_owners("shared@example.org").await.unwrap()), [("carol", 1), ("bob", 2)]);
    assert_eq!(owners(&store.address_owners("alice@example.org").await.unwrap()), [("alice", 0), ("carol", 2)]);
    assert!(store.address_owners("nobody@example.org").await.unwrap().is_empty());
    let bob = store.account("example.org", "bob").await.unwrap().unwrap();
    assert_eq!(bob.addresses, ["bob.b@example.org", "shared@example.org"], "read back in order");
    assert_eq!(bob.all_addresses()[0], "bob@example.org");

    // A change of addresses, and a deactivation, are seen by the next lookup.
    let mut changed = bob.clone();
    changed.addresses = vec!["robert@example.org".into()];
    let mut carol = store.account("example.org", "carol").await.unwrap().unwrap();
    let before = carol.clone();
    carol.active = false;
    let mut tx = store.begin().await.unwrap();
    tx.update(&changed, &bob).await.unwrap();
    tx.update(&carol, &before).await.unwrap();
    tx.commit().await.unwrap();
    assert!(store.address_owners("shared@example.org").await.unwrap().is_empty(), "bob dropped it, carol is inactive");
    assert_eq!(owners(&store.address_owners("robert@example.org").await.unwrap()), [("bob", 1)]);
    assert_eq!(owners(&store.address_owners("bob@example.org").await.unwrap()), [("bob", 0)]);
}

#[tokio::test]
async fn a_store_from_before_migration_5_gets_canonical_and_mail_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let (store, path) = store(&dir).await;
    let mut with_mail = account("alice", &[], 1);
    with_mail.fields.set(Field::Email, Some(Value::Text("Alice.Liddell@Example.org".into())));
    let mut same = account("bob", &[], 2);
    same.fields.set(Field::Email, Some(Value::Text("bob@example.org".into())));
    let mut tx = store.begin().await.unwrap();
    tx.insert_many(&[with_mail, same, account("carol", &[], 3)]).await.unwrap();
    tx.commit().await.unwrap();
    store.close().await;
    // Back to the schema of version 4 (the address rows gone, migrations 5 and 8 to run again), the accounts
    // kept.
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{path}")).await.unwrap();
    for sql in ["DROP TABLE addresses", "DELETE FROM _sqlx_migrations WHERE version IN (5, 8)"] {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
    conn.close().await.unwrap();
    let (store, _) = self::store(&dir).await;
    assert_eq!(owners(&store.address_owners("alice@example.org").await.unwrap()), [("alice", 0)]);
    assert_eq!(owners(&store.address_owners("alice.liddell@example.org").await.unwrap()), [("alice", 1)]);
    assert_eq!(owners(&store.address_owners("bob@example.org").await.unwrap()), [("bob", 0)], "once");
    assert_eq!(owners(&store.address_owners("carol@example.org").await.unwrap()), [("carol", 0)]);
    store.close().await;
    // Migration 8 took the canonical rows out again: they follow from the accounts' columns.
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{path}")).await.unwrap();
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT address, position FROM addresses ORDER BY address").fetch_all(&mut conn).await.unwrap();
    assert_eq!(rows, [("alice.liddell@example.org".to_owned(), 1)]);
    conn.close().await.unwrap();
}
