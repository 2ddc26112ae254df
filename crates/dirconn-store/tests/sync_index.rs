//! `Tx::sync_index`: every account of the domain once, with its key, digest, names and state, whatever the
//! names hold (the SQLite path packs pages of accounts into text), across pages, other domains left out.

use std::collections::BTreeMap;

use dirconn_store::{Account, Source, Store};

/// What the index tells of an account: (key, digest, active, auth name, claimable).
type Seen = (Option<String>, Option<String>, bool, String, bool);

#[tokio::test]
async fn every_account_of_the_domain_once_with_odd_names_and_nulls() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("accounts.db").display().to_string()).await.unwrap();
    let mut accounts = Vec::new();
    // More than a page (5,000), so that the next page starts after the last id of the one before.
    for n in 0..5_003 {
        let mut a = Account::new("example.org", &format!("user{n}"), &format!("user{n}"), Source::Directory, 1);
        a.directory_key = Some(format!("key-{n}"));
        a.sync_digest = (n % 3 != 0).then(|| format!("digest-{n}"));
        a.active = n % 5 != 0;
        accounts.push(a);
    }
    // Names that look like the packing: separators, lengths, the NULL mark, multibyte characters.
    let mut odd = Account::new("example.org", "12:~x", "~:3:é€😀", Source::Directory, 1);
    odd.directory_key = Some("~".into());
    odd.sync_digest = Some("1:".into());
    accounts.push(odd);
    // Claimable: a directory account without a key; and one deactivated (deleted in the directory).
    accounts.push(Account::new("example.org", "nokey", "NoKey", Source::Directory, 1));
    let mut gone = Account::new("example.org", "gone", "gone", Source::Directory, 1);
    (gone.directory_key, gone.active) = (Some("key-gone".into()), false);
    accounts.push(gone);
    let mut disabled = Account::new("example.org", "off", "off", Source::Directory, 1);
    (disabled.directory_key, disabled.active, disabled.directory_disabled) = (Some("key-off".into()), false, true);
    accounts.push(disabled);
    accounts.push(Account::new("example.org", "local", "local", Source::Local, 1));
    let mut other = Account::new("example.com", "user1", "user1", Source::Directory, 1);
    other.directory_key = Some("key-other".into());
    accounts.push(other);

    let mut tx = store.begin().await.unwrap();
    assert!(tx.insert_many(&accounts).await.unwrap().iter().all(Result::is_ok));
    let mut seen: BTreeMap<String, Seen> = BTreeMap::new();
    let mut twice = Vec::new();
    let mut each = |row: dirconn_store::SyncRow<'_>| {
        let value = (
            row.key.map(str::to_owned),
            row.digest.map(str::to_owned),
            row.active,
            row.auth_name.to_owned(),
            row.claimable,
        );
        if seen.insert(row.login.to_owned(), value).is_some() {
            twice.push(row.login.to_owned());
        }
    };
    let total = tx.sync_index("example.org", &mut each).await.unwrap();
    tx.rollback().await.unwrap();
    assert!(twice.is_empty(), "listed twice: {twice:?}");
    assert_eq!(total as usize, accounts.len() - 1);
    assert_eq!(seen.len(), accounts.len() - 1, "every account of example.org, none of example.com");
    for a in accounts.iter().filter(|a| a.domain == "example.org") {
        let expected = (a.directory_key.clone(), a.sync_digest.clone(), a.active, a.auth_name.clone(), a.claimable());
        assert_eq!(seen.get(&a.login), Some(&expected), "{}", a.login);
    }
    assert!(seen["nokey"].4 && seen["gone"].4, "claimable: no key yet, or deactivated");
    assert!(!seen["off"].4 && !seen["local"].4 && !seen["user1"].4, "not claimable");
}
