//! Accounts against a real slapd: mapping, groups, login policy, sync (collisions, deactivation, guard,
//! failure midway, no-op re-sync, syncrepl), local administrators, offline logins and migration. The store
//! scenarios run on SQLite and on a real PostgreSQL started by the harness.

use std::collections::BTreeSet;

use dirconn_abi::{ClientContext, ErrorKind};
use dirconn_host::{Error, LoginOutcome, SyncOptions, Via, sync_domain};
use dirconn_store::{Account, Field, Source, Store, SyncReport, Value};
use dirconn_tests::{DomainSpec, Fixture, Slapd, SlapdOptions, TestHost, postgres::Postgres, slapd::STAFF_DN, stage};

/// Where a scenario's store lives.
enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(Postgres),
}

impl Backend {
    fn sqlite() -> Backend {
        Backend::Sqlite(tempfile::tempdir().expect("temp dir"))
    }
    fn postgres() -> Backend {
        Backend::Postgres(Postgres::start())
    }
    async fn store(&self) -> Store {
        let url = match self {
            Backend::Sqlite(dir) => dir.path().join("accounts.db").display().to_string(),
            Backend::Postgres(pg) => pg.url(),
        };
        Store::open(&url).await.expect("store opens")
    }
}

fn host(spec: DomainSpec) -> TestHost {
    TestHost::start(&[stage::for_tests().ldap()], &[spec]).expect("host loads")
}

async fn sync(h: &TestHost, store: &Store, opts: SyncOptions) -> Result<SyncReport, Error> {
    sync_domain(h.host.domain("example.org").unwrap(), store, opts, |_| {}).await
}

async fn full(h: &TestHost, store: &Store) -> SyncReport {
    sync(h, store, SyncOptions { full: true, ..Default::default() }).await.expect("sync completes")
}

async fn login(h: &TestHost, store: &Store, login: &str, password: &str) -> Result<LoginOutcome, Error> {
    h.host.login_account(store, login, password, ClientContext::default()).await
}

async fn account(store: &Store, login: &str) -> Account {
    store.account("example.org", login).await.unwrap().unwrap_or_else(|| panic!("no account {login}"))
}

fn add_user(slapd: &Slapd, uid: &str) {
    slapd.ldapmodify(&format!(
        "dn: uid={uid},ou=people,dc=example,dc=org\nchangetype: add\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {uid}\nsn: {uid}\nmail: {uid}@example.org\nuserPassword: {uid}-pass\n"
    ));
}

/// Runs a scenario on SQLite and on PostgreSQL.
macro_rules! on_both_stores {
    ($name:ident, $sqlite:ident, $postgres:ident) => {
        #[tokio::test]
        async fn $sqlite() {
            $name(Backend::sqlite()).await;
        }
        #[tokio::test]
        async fn $postgres() {
            $name(Backend::postgres()).await;
        }
    };
}

async fn collisions_take_the_lowest_free_number(backend: Backend) {
    let slapd = Slapd::start();
    let h = host(DomainSpec::ldap(&slapd));
    let store = backend.store().await;
    for name in ["test", "test0", "test1", "test3", "testa"] {
        h.host.add_local(&store, &format!("{name}@example.org"), "local-pass", false).await.unwrap();
    }
    add_user(&slapd, "test");
    let report = full(&h, &store).await;
    assert_eq!(report.counts.errors, 0, "{:?}", report.details);
    let created: Vec<Account> = store
        .accounts(Some("example.org"))
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.source == Source::Directory && a.auth_name == "test")
        .collect();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0].login, "test2", "the lowest free number");
    assert_eq!(created[0].auth_name, "test", "the authentication name is unchanged");
}
on_both_stores!(collisions_take_the_lowest_free_number, collisions_sqlite, collisions_postgres);

async fn a_second_sync_writes_nothing(backend: Backend) {
    let slapd = Slapd::start_with(SlapdOptions { users: 50, ..Default::default() });
    let h = host(DomainSpec::ldap(&slapd));
    let store = backend.store().await;
    let first = full(&h, &store).await;
    assert!(first.counts.created >= 55, "{:?}", first.counts);
    let before = store.accounts(None).await.unwrap();
    let second = full(&h, &store).await;
    assert_eq!((second.counts.created, second.counts.updated, second.counts.deactivated), (0, 0, 0));
    assert_eq!(second.counts.unchanged, first.counts.created);
    let incremental = sync(&h, &store, SyncOptions::default()).await.unwrap();
    assert_eq!(incremental.mode, "incremental");
    assert_eq!((incremental.counts.seen, incremental.counts.updated), (0, 0), "{:?}", incremental);
    assert_eq!(store.accounts(None).await.unwrap(), before, "no row changed");
    assert_eq!(store.reports("example.org", 10).await.unwrap().len(), 3, "each run leaves a report");
}
on_both_stores!(a_second_sync_writes_nothing, no_op_resync_sqlite, no_op_resync_postgres);

async fn a_directory_failure_midway_changes_nothing(backend: Backend) {
    let mut slapd = Slapd::start_with(SlapdOptions { users: 10_000, ..Default::default() });
    let h = host(DomainSpec::ldap(&slapd).raw("operation_timeout", "\"3s\""));
    let store = backend.store().await;
    // A first sync of part of the users, so that the second one has updates, creations and deactivations.
    let partial = host(DomainSpec::ldap(&slapd).set("sync_filter", "(&(objectClass=inetOrgPerson)(uid=user0*))"));
    let seeded = full(&partial, &store).await;
    assert!(seeded.counts.created > 5000);
    let before = store.accounts(None).await.unwrap();
    let mut batches = 0;
    let result = sync_domain(
        h.host.domain("example.org").unwrap(),
        &store,
        SyncOptions { full: true, ..Default::default() },
        |_| {
            batches += 1;
            if batches == 1 {
                slapd.stop();
            }
        },
    )
    .await;
    let err = result.expect_err("the sync fails when slapd goes away");
    assert_eq!(err.code(), "DC-706", "{err}");
    assert_eq!(store.accounts(None).await.unwrap(), before, "the store is exactly as before");
    let reports = store.reports("example.org", 1).await.unwrap();
    assert_eq!(reports[0].outcome, dirconn_store::Outcome::Failed);
}
on_both_stores!(a_directory_failure_midway_changes_nothing, failure_midway_sqlite, failure_midway_postgres);

async fn syncrepl_sees_add_modify_rename_and_delete(backend: Backend, sessionlog: Option<u32>) {
    let slapd = Slapd::start_with(SlapdOptions { sessionlog, ..Default::default() });
    let h = host(DomainSpec::ldap(&slapd));
    let store = backend.store().await;
    full(&h, &store).await;
    assert!(store.cookie("example.org").await.unwrap().is_some(), "a full pass stores a cookie");
    let bob_before = account(&store, "bob").await;
    add_user(&slapd, "newbie");
    slapd.ldapmodify("dn: uid=alice,ou=people,dc=example,dc=org\nchangetype: modify\nreplace: telephoneNumber\ntelephoneNumber: +1 555 9999\n");
    slapd.ldapmodify(
        "dn: uid=bob,ou=people,dc=example,dc=org\nchangetype: modrdn\nnewrdn: uid=bobby\ndeleteoldrdn: 1\n",
    );
    slapd.ldapmodify(&format!("dn: {}\nchangetype: delete\n", Fixture::DAVE.dn()));
    let report = sync(&h, &store, SyncOptions::default()).await.expect("incremental sync");
    assert_eq!(report.mode, "incremental", "{report:?}");
    assert_eq!(report.counts.created, 1, "{report:?}");
    assert_eq!(report.counts.deactivated, 1, "{report:?}");
    assert!(report.counts.seen <= 4, "only the changes are read: {report:?}");
    assert_eq!(account(&store, "newbie").await.fields.text(Field::Email), Some("newbie@example.org"));
    assert_eq!(account(&store, "alice").await.fields.text(Field::Phone), Some("+1 555 9999"));
    let bob = account(&store, "bob").await;
    assert_eq!((bob.id.as_str(), bob.auth_name.as_str()), (bob_before.id.as_str(), "bobby"), "renamed, same account");
    assert_eq!(bob.dn.as_deref(), Some("uid=bobby,ou=people,dc=example,dc=org"));
    assert!(!account(&store, "dave").await.active, "deleted users are deactivated, not deleted");
}

#[tokio::test]
async fn syncrepl_with_a_session_log_sqlite() {
    syncrepl_sees_add_modify_rename_and_delete(Backend::sqlite(), Some(100_000)).await;
}

#[tokio::test]
async fn syncrepl_listing_present_entries_sqlite() {
    syncrepl_sees_add_modify_rename_and_delete(Backend::sqlite(), None).await;
}

#[tokio::test]
async fn syncrepl_postgres() {
    syncrepl_sees_add_modify_rename_and_delete(Backend::postgres(), Some(100_000)).await;
}

#[tokio::test]
async fn without_syncprov_every_sync_is_a_full_pass() {
    let slapd = Slapd::start_with(SlapdOptions { syncprov: false, ..Default::default() });
    let h = host(DomainSpec::ldap(&slapd));
    let store = Backend::sqlite();
    let store = store.store().await;
    let report = sync(&h, &store, SyncOptions::default()).await.unwrap();
    assert!(report.details.iter().any(|d| d.contains("syncprov")), "{:?}", report.details);
    assert!(store.cookie("example.org").await.unwrap().is_none());
    let again = sync(&h, &store, SyncOptions::default()).await.unwrap();
    assert_eq!((again.mode.as_str(), again.counts.unchanged), ("full", report.counts.created));
}

#[tokio::test]
async fn mapped_fields_are_set_or_emptied_and_others_left_alone() {
    let slapd = Slapd::start();
    let spec = DomainSpec::ldap(&slapd).raw(
        "mapping",
        r#"{ first_name = "givenName", phone = "telephoneNumber", custom1 = "description", organization = "o" }"#,
    );
    let h = host(spec);
    let backend = Backend::sqlite();
    let store = backend.store().await;
    let first = login(&h, &store, "alice@example.org", Fixture::ALICE.password).await.expect("alice logs in");
    assert!(first.created);
    let a = &first.account;
    assert_eq!(a.fields.text(Field::FirstName), Some("Alice"));
    assert_eq!(a.fields.text(Field::Phone), Some(Fixture::ALICE.telephone));
    assert_eq!(a.fields.text(Field::Custom1), None, "mapped but absent: empty");
    assert_eq!(a.fields.text(Field::Email), None, "not mapped: left as is (empty here)");
    // An administrator sets an unmapped field in the mail server; the directory drops the phone number.
    let mut tx = store.begin().await.unwrap();
    let mut edited = a.clone();
    edited.fields.set(Field::City, Some(Value::Text("Wonderland".into())));
    tx.update(&edited, a).await.unwrap();
    tx.commit().await.unwrap();
    slapd.ldapmodify("dn: uid=alice,ou=people,dc=example,dc=org\nchangetype: modify\ndelete: telephoneNumber\n-\nreplace: description\ndescription: rabbit hole\n");
    let second = login(&h, &store, "alice@example.org", Fixture::ALICE.password).await.unwrap();
    let a = &second.account;
    assert_eq!(a.fields.text(Field::Phone), None, "mapped and now absent: emptied");
    assert_eq!(a.fields.text(Field::Custom1), Some("rabbit hole"));
    assert_eq!(a.fields.text(Field::City), Some("Wonderland"), "not mapped: kept");
    assert_eq!(a.id, first.account.id);
}

#[tokio::test]
async fn nested_groups_cycles_and_assign_all() {
    let slapd = Slapd::start();
    for ldif in [
        "dn: cn=inner,ou=groups,dc=example,dc=org\nchangetype: add\nobjectClass: groupOfNames\ncn: inner\nmember: uid=alice,ou=people,dc=example,dc=org\n",
        "dn: cn=outer,ou=groups,dc=example,dc=org\nchangetype: add\nobjectClass: groupOfNames\ncn: outer\nmember: cn=inner,ou=groups,dc=example,dc=org\n",
        "dn: cn=loop1,ou=groups,dc=example,dc=org\nchangetype: add\nobjectClass: groupOfNames\ncn: loop1\nmember: uid=bob,ou=people,dc=example,dc=org\n",
        "dn: cn=loop2,ou=groups,dc=example,dc=org\nchangetype: add\nobjectClass: groupOfNames\ncn: loop2\nmember: cn=loop1,ou=groups,dc=example,dc=org\n",
        "dn: cn=loop1,ou=groups,dc=example,dc=org\nchangetype: modify\nadd: member\nmember: cn=loop2,ou=groups,dc=example,dc=org\n",
        "dn: cn=posix,ou=groups,dc=example,dc=org\nchangetype: add\nobjectClass: posixGroup\ncn: posix\ngidNumber: 5000\nmemberUid: alice\n",
    ] {
        slapd.ldapmodify(ldif);
    }
    let spec = DomainSpec::ldap(&slapd).raw(
        "groups",
        r#"{ assign_all = "everyone", map = { "cn=outer,ou=groups,dc=example,dc=org" = "outer-app", "CN=Loop2,OU=Groups,DC=example,DC=org" = "loop-app", "cn=posix,ou=groups,dc=example,dc=org" = "posix-app", "cn=staff,ou=groups,dc=example,dc=org" = "staff-app" } }"#,
    );
    let h = host(spec);
    let backend = Backend::sqlite();
    let store = backend.store().await;
    let alice = login(&h, &store, "alice@example.org", Fixture::ALICE.password).await.unwrap().account;
    let apps: BTreeSet<&str> = alice.app_groups.iter().map(String::as_str).collect();
    assert_eq!(apps, BTreeSet::from(["everyone", "outer-app", "posix-app", "staff-app"]), "{alice:?}");
    assert!(alice.groups.contains("cn=outer,ou=groups,dc=example,dc=org"), "nested through inner");
    let bob = login(&h, &store, "bob@example.org", Fixture::BOB.password).await.unwrap().account;
    let apps: BTreeSet<&str> = bob.app_groups.iter().map(String::as_str).collect();
    assert_eq!(apps, BTreeSet::from(["everyone", "loop-app", "staff-app"]), "a cycle ends, both groups count");
    // The sync resolves groups from its index the same way.
    let report = full(&h, &store).await;
    assert_eq!(report.counts.errors, 0);
    let synced = account(&store, "alice").await;
    assert_eq!(synced.app_groups, alice.app_groups);
    assert_eq!(synced.groups, alice.groups);
    assert!(synced.groups.contains(&STAFF_DN.to_lowercase()));
}

#[tokio::test]
async fn auto_create_on_and_off() {
    let slapd = Slapd::start();
    let backend = Backend::sqlite();
    let store = backend.store().await;
    let strict = host(DomainSpec::ldap(&slapd).raw("accounts", r#"{ login_policy = "require-existing" }"#));
    let err = login(&strict, &store, "alice@example.org", Fixture::ALICE.password).await.unwrap_err();
    assert_eq!((err.code(), err.kind()), ("DC-701", ErrorKind::NotFound), "{err}");
    assert!(err.to_string().contains("dirconn sync example.org"));
    assert!(store.account("example.org", "alice").await.unwrap().is_none());
    full(&strict, &store).await;
    let ok = login(&strict, &store, "alice@example.org", Fixture::ALICE.password).await.unwrap();
    assert!(!ok.created, "the sync created it");
    let open = host(DomainSpec::ldap(&slapd));
    let fresh = Backend::sqlite();
    let fresh = fresh.store().await;
    let created = login(&open, &fresh, "bob@example.org", Fixture::BOB.password).await.unwrap();
    assert!(created.created);
    assert_eq!(created.via, Via::Directory);
    let wrong = login(&open, &fresh, "carol@example.org", "wrong").await.unwrap_err();
    assert_eq!(wrong.code(), "DC-203");
    assert!(fresh.account("example.org", "carol").await.unwrap().is_none(), "a failed login creates nothing");
}

#[tokio::test]
async fn a_bare_login_at_a_bound_address_goes_to_that_domain() {
    let slapd = Slapd::start();
    let bound = DomainSpec::ldap(&slapd).set("name", "bound.org").raw("bind_ip", r#"["127.0.0.2", "2001:db8::2"]"#);
    let h = TestHost::start(&[stage::for_tests().ldap()], &[DomainSpec::ldap(&slapd), bound]).expect("host loads");
    let backend = Backend::sqlite();
    let store = backend.store().await;
    let ip = |s: &str| Some(s.parse::<std::net::IpAddr>().expect("an address"));
    let (alice, bob) = (Fixture::ALICE.password, Fixture::BOB.password);
    let client = ClientContext::default;

    let ok = h.host.login_account_at(&store, "alice", alice, client(), ip("::ffff:127.0.0.2")).await.unwrap();
    assert_eq!((ok.account.domain.as_str(), ok.account.login.as_str(), ok.created), ("bound.org", "alice", true));
    let again = h.host.login_account_at(&store, "alice", alice, client(), ip("127.0.0.2")).await.unwrap();
    assert_eq!((again.account.id, again.created), (ok.account.id, false), "the same account");
    let v6 = h.host.login_account_at(&store, "bob", bob, client(), ip("2001:db8::2")).await.unwrap();
    assert_eq!(v6.account.domain, "bound.org");
    // A login with a domain goes to that domain, whatever the address.
    let other = h.host.login_account_at(&store, "bob@example.org", bob, client(), ip("127.0.0.2")).await.unwrap();
    assert_eq!(other.account.domain, "example.org");
    // A bare login elsewhere (two domains, no default_domain) has no domain; login_account knows no address.
    let err = h.host.login_account_at(&store, "alice", alice, client(), ip("127.0.0.1")).await.unwrap_err();
    assert_eq!(err.code(), "DC-011", "{err}");
    assert_eq!(login(&h, &store, "alice", alice).await.unwrap_err().code(), "DC-011");
    let wrong = h.host.login_account_at(&store, "carol", "wrong", client(), ip("127.0.0.2")).await.unwrap_err();
    assert_eq!(wrong.code(), "DC-203");
    assert!(store.account("example.org", "alice").await.unwrap().is_none());
    assert!(store.account("bound.org", "carol").await.unwrap().is_none());
}

#[tokio::test]
async fn removed_users_are_deactivated_and_come_back() {
    let slapd = Slapd::start();
    let h = host(DomainSpec::ldap(&slapd));
    let backend = Backend::sqlite();
    let store = backend.store().await;
    full(&h, &store).await;
    let bob = account(&store, "bob").await;
    slapd.ldapmodify("dn: uid=bob,ou=people,dc=example,dc=org\nchangetype: modrdn\nnewrdn: uid=bob\ndeleteoldrdn: 1\nnewsuperior: ou=contractors,dc=example,dc=org\n");
    let gone = full(&h, &store).await;
    assert_eq!(gone.counts.deactivated, 1);
    let inactive = account(&store, "bob").await;
    assert!(!inactive.active && inactive.deactivated_at.is_some());
    let refused = login(&h, &store, "bob@example.org", Fixture::BOB.password).await.unwrap_err();
    assert_eq!(refused.code(), "DC-207", "outside the search base, bob is unknown: {refused}");
    slapd.ldapmodify("dn: uid=bob,ou=contractors,dc=example,dc=org\nchangetype: modrdn\nnewrdn: uid=bob\ndeleteoldrdn: 1\nnewsuperior: ou=people,dc=example,dc=org\n");
    let back = full(&h, &store).await;
    assert_eq!(back.counts.reactivated, 1, "{back:?}");
    let returned = account(&store, "bob").await;
    assert!(returned.active);
    assert_eq!(returned.id, bob.id, "the same account, with its data");
}

#[tokio::test]
async fn the_guard_stops_a_filter_change_that_hides_most_users() {
    let slapd = Slapd::start_with(SlapdOptions { users: 200, ..Default::default() });
    let backend = Backend::sqlite();
    let store = backend.store().await;
    full(&host(DomainSpec::ldap(&slapd)), &store).await;
    let narrowed = host(DomainSpec::ldap(&slapd).set("sync_filter", "(&(objectClass=inetOrgPerson)(uid=a*))"));
    let before = store.accounts(None).await.unwrap();
    // Not asked for a full pass: the changed filter makes the stored cookie void, so it is one anyway.
    let err = sync(&narrowed, &store, SyncOptions::default()).await.unwrap_err();
    assert_eq!(err.code(), "DC-705", "{err}");
    assert!(err.to_string().contains("--force"));
    assert_eq!(store.accounts(None).await.unwrap(), before, "nothing changed");
    let plan = sync(&narrowed, &store, SyncOptions { full: true, dry_run: true, force: true }).await.unwrap();
    assert!(plan.counts.deactivated > 200 && plan.details.iter().any(|d| d.starts_with("deactivate ")));
    assert_eq!(store.accounts(None).await.unwrap(), before, "a dry run writes nothing");
    let forced = sync(&narrowed, &store, SyncOptions { full: true, force: true, ..Default::default() }).await.unwrap();
    assert_eq!(forced.counts.deactivated, plan.counts.deactivated);
}

#[tokio::test]
async fn local_admins_log_in_while_the_directory_is_down() {
    let mut slapd = Slapd::start();
    let backend = Backend::sqlite();
    let store = backend.store().await;
    let h = host(DomainSpec::ldap(&slapd).raw("accounts", "{ offline_login_days = 1 }"));
    h.host.add_local(&store, "root@example.org", "admin-pass-1", true).await.unwrap();
    login(&h, &store, "alice@example.org", Fixture::ALICE.password).await.expect("alice logs in while up");
    slapd.stop();
    let admin = login(&h, &store, "root@example.org", "admin-pass-1").await.expect("the local admin logs in");
    assert_eq!((admin.via, admin.account.admin), (Via::Local, true));
    let wrong = login(&h, &store, "root@example.org", "nope").await.unwrap_err();
    assert_eq!(wrong.code(), "DC-704");
    let cached = login(&h, &store, "Alice@example.org", Fixture::ALICE.password).await.expect("cached password");
    assert_eq!(cached.via, Via::OfflineCache);
    let bad = login(&h, &store, "alice@example.org", "guess").await.unwrap_err();
    assert_eq!(bad.code(), "DC-703", "{bad}");
    let unknown = login(&h, &store, "bob@example.org", Fixture::BOB.password).await.unwrap_err();
    assert_eq!((unknown.code(), unknown.kind()), ("DC-703", ErrorKind::Unreachable), "{unknown}");
    let no_cache = host(DomainSpec::ldap(&slapd));
    let err = login(&no_cache, &store, "alice@example.org", Fixture::ALICE.password).await.unwrap_err();
    assert_eq!(err.code(), "DC-703", "offline logins are off by default");
    let empty = login(&h, &store, "root@example.org", "").await.unwrap_err();
    assert_eq!(empty.code(), "DC-201");
}

#[tokio::test]
async fn migration_keeps_the_account_and_lists_the_unmatched() {
    let slapd = Slapd::start();
    let backend = Backend::sqlite();
    let store = backend.store().await;
    let h = host(DomainSpec::ldap(&slapd));
    let local = h.host.add_local(&store, "alice@example.org", "old-local", false).await.unwrap();
    h.host.add_local(&store, "ghost@example.org", "boo-boo-1", false).await.unwrap();
    h.host.add_local(&store, "root@example.org", "admin-pass-1", true).await.unwrap();
    let before = login(&h, &store, "alice@example.org", "old-local").await.unwrap();
    assert_eq!(before.via, Via::Local);
    let report = h.host.migrate(&store, "example.org", &[]).await.unwrap();
    assert_eq!(report.migrated, vec![("alice".to_owned(), Fixture::ALICE.dn())]);
    assert_eq!(report.unmatched, vec!["ghost".to_owned()]);
    let alice = account(&store, "alice").await;
    assert_eq!((alice.id.as_str(), alice.source), (local.id.as_str(), Source::Directory));
    assert!(alice.password_hash.is_none());
    let after = login(&h, &store, "alice@example.org", Fixture::ALICE.password).await.unwrap();
    assert_eq!((after.via, after.account.id.as_str()), (Via::Directory, local.id.as_str()));
    assert_eq!(account(&store, "root").await.source, Source::Local, "--all keeps administrators local");
}

#[tokio::test]
async fn a_domain_for_mapped_groups_only_refuses_others_at_login() {
    let slapd = Slapd::start();
    let spec = DomainSpec::ldap(&slapd)
        .raw("accounts", "{ sync_only_mapped_groups = true }")
        .raw("groups", r#"{ map = { "cn=devs,ou=groups,dc=example,dc=org" = "dev" } }"#);
    let h = host(spec);
    let backend = Backend::sqlite();
    let store = backend.store().await;
    let alice = login(&h, &store, "alice@example.org", Fixture::ALICE.password).await.expect("alice is in devs");
    assert!(alice.account.app_groups.contains("dev"));
    let bob = login(&h, &store, "bob@example.org", Fixture::BOB.password).await.unwrap_err();
    assert_eq!((bob.code(), bob.kind()), ("DC-708", ErrorKind::LogonRestricted), "{bob}");
    assert!(store.account("example.org", "bob").await.unwrap().is_none());
    let report = full(&h, &store).await;
    assert_eq!((report.counts.skipped, report.counts.created), (report.counts.seen - 1, 0), "{report:?}");
}

/// Another writer takes a login between our check and our insert: that user's write fails with DC-605 and
/// the rest of the transaction goes on (PostgreSQL, where writers run side by side).
#[tokio::test]
async fn a_login_taken_by_another_writer_is_that_users_error() {
    let backend = Backend::postgres();
    let ours = backend.store().await;
    let theirs = backend.store().await;
    let mut tx = ours.begin().await.unwrap();
    assert!(tx.by_logins("example.org", &["race".to_owned()]).await.unwrap().is_empty());
    let mut other = theirs.begin().await.unwrap();
    other.insert(&Account::new("example.org", "race", "race", Source::Directory, 1)).await.unwrap();
    other.commit().await.unwrap();
    let err = tx.insert(&Account::new("example.org", "race", "race", Source::Directory, 2)).await.unwrap_err();
    assert_eq!(err.code(), "DC-605", "{err}");
    tx.insert(&Account::new("example.org", "calm", "calm", Source::Directory, 2))
        .await
        .expect("the transaction goes on");
    tx.commit().await.unwrap();
    let names: Vec<String> = ours.accounts(Some("example.org")).await.unwrap().into_iter().map(|a| a.login).collect();
    assert_eq!(names, ["calm", "race"]);
}

/// Two syncs of one domain at once (two hosts on one PostgreSQL) take turns: the second finds the first's
/// accounts instead of colliding with them.
#[tokio::test]
async fn concurrent_syncs_of_a_domain_take_turns() {
    let slapd = Slapd::start_with(SlapdOptions { users: 300, ..Default::default() });
    let backend = Backend::postgres();
    let (one, two) = (backend.store().await, backend.store().await);
    let (h1, h2) = (host(DomainSpec::ldap(&slapd)), host(DomainSpec::ldap(&slapd)));
    let opts = SyncOptions { full: true, ..Default::default() };
    let (a, b) = tokio::join!(sync(&h1, &one, opts), sync(&h2, &two, opts));
    let (a, b) = (a.expect("first sync"), b.expect("second sync"));
    assert_eq!((a.counts.errors, b.counts.errors), (0, 0), "{a:?} {b:?}");
    assert_eq!(a.counts.created + b.counts.created, 306, "each user created once: {a:?} {b:?}");
    assert_eq!(one.accounts(None).await.unwrap().len(), 306);
}

/// `group_membership = "member-of"` takes the groups the server lists on the user, with no search: at
/// login and in a sync alike.
#[tokio::test]
async fn member_of_membership_reads_the_user_entry_only() {
    let slapd = Slapd::start();
    slapd.ldapmodify(
        "dn: cn=outer,ou=groups,dc=example,dc=org\nchangetype: add\nobjectClass: groupOfNames\ncn: outer\nmember: cn=devs,ou=groups,dc=example,dc=org\n",
    );
    let h = host(DomainSpec::ldap(&slapd).set("group_membership", "member-of"));
    let backend = Backend::sqlite();
    let store = backend.store().await;
    let alice = login(&h, &store, "alice@example.org", Fixture::ALICE.password).await.unwrap().account;
    let expected: BTreeSet<String> =
        ["cn=devs,ou=groups,dc=example,dc=org", "cn=staff,ou=groups,dc=example,dc=org"].map(String::from).into();
    assert_eq!(alice.groups, expected, "memberOf only: no nesting (outer), no uniqueMember (ops)");
    let bob = login(&h, &store, "bob@example.org", Fixture::BOB.password).await.unwrap().account;
    assert!(!bob.groups.iter().any(|g| g.starts_with("cn=ops")), "ops lists bob as uniqueMember only");
    let report = full(&h, &store).await;
    assert_eq!((report.counts.updated, report.counts.errors), (0, 0), "the sync agrees with the logins: {report:?}");
    let bad =
        TestHost::start(&[stage::for_tests().ldap()], &[DomainSpec::ldap(&slapd).set("group_membership", "guess")]);
    assert!(bad.unwrap_err().to_string().contains("group_membership"));
}

/// Group DNs compare by their RFC 4514 meaning in every path: a group whose DN holds an escaped comma and
/// non-ASCII letters, nested in another named with a different spelling, and `[domain.groups.map]` keys
/// written with other escapes (`\2c`, `\C3\BC`, quotes), spaces, case and an OID: a login and a sync give
/// the same app groups, in both ways of finding groups.
#[tokio::test]
async fn group_dns_compare_by_meaning_at_login_and_in_a_sync() {
    use base64::Engine as _;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    for mode in ["search", "nested-member-of"] {
        let slapd = Slapd::start();
        slapd.ldapmodify(&format!(
            "dn: cn=M\\C3\\BCller\\2C J\\C3\\BCrgen,ou=groups,dc=example,dc=org\nchangetype: add\nobjectClass: groupOfNames\ncn:: {}\nmember: uid=alice,ou=people,dc=example,dc=org\n",
            b64("Müller, Jürgen")
        ));
        slapd.ldapmodify(
            "dn: cn=Sales\\, EMEA,ou=groups,dc=example,dc=org\nchangetype: add\nobjectClass: groupOfNames\ncn: Sales, EMEA\nmember: CN=m\\c3\\bcller\\, j\\c3\\bcrgen,OU=Groups,DC=Example,DC=Org\n",
        );
        let spec = DomainSpec::ldap(&slapd).set("group_membership", mode).raw(
            "groups",
            r#"{ map = { "2.5.4.3 = m\\C3\\BCLLER\\2c j\\c3\\bcRGEN , ou = Groups , dc=EXAMPLE,dc=org" = "mueller-app", "CN=\"Sales, EMEA\",OU=Groups,DC=Example,DC=Org" = "sales-app", "cn=Devs , OU=groups,dc=example,dc=org" = "dev-app" } }"#,
        );
        let h = host(spec);
        let backend = Backend::sqlite();
        let store = backend.store().await;
        let alice = login(&h, &store, "alice@example.org", Fixture::ALICE.password).await.unwrap().account;
        let apps: BTreeSet<&str> = alice.app_groups.iter().map(String::as_str).collect();
        assert_eq!(apps, BTreeSet::from(["dev-app", "mueller-app", "sales-app"]), "{mode}: {alice:?}");
        assert!(
            alice.groups.contains(&dirconn_abi::normalize_dn("cn=Sales\\, EMEA,ou=groups,dc=example,dc=org")),
            "{mode}: nested through the group with the escaped comma: {:?}",
            alice.groups
        );
        let bob = login(&h, &store, "bob@example.org", Fixture::BOB.password).await.unwrap().account;
        assert!(bob.app_groups.is_empty(), "{mode}: {bob:?}");
        let report = full(&h, &store).await;
        assert_eq!((report.counts.updated, report.counts.errors), (0, 0), "{mode}: the sync agrees: {report:?}");
        let synced = account(&store, "alice").await;
        assert_eq!((&synced.app_groups, &synced.groups), (&alice.app_groups, &alice.groups), "{mode}");
    }
}

#[tokio::test]
async fn a_login_that_changes_nothing_writes_nothing_within_a_minute() {
    let slapd = Slapd::start();
    let backend = Backend::sqlite();
    let store = backend.store().await;
    let h = host(DomainSpec::ldap(&slapd));
    login(&h, &store, "alice@example.org", Fixture::ALICE.password).await.unwrap();
    let set_last_login = |ago: i64| {
        let store = &store;
        async move {
            let before = account(store, "alice").await;
            let mut a = before.clone();
            a.last_login = Some(dirconn_store::now() - ago);
            let mut tx = store.begin().await.unwrap();
            tx.update(&a, &before).await.unwrap();
            tx.commit().await.unwrap();
            a.last_login
        }
    };
    // Logged in 10 s ago, nothing changed in the directory: the login is answered without a write.
    let ten_ago = set_last_login(10).await;
    let again = login(&h, &store, "alice@example.org", Fixture::ALICE.password).await.unwrap();
    assert_eq!((again.created, again.account.last_login), (false, ten_ago));
    assert_eq!(account(&store, "alice").await.last_login, ten_ago, "nothing was written");
    // A change in the directory is written at the next login, however recent the last one.
    slapd.ldapmodify(&format!(
        "dn: {}\nchangetype: modify\nreplace: telephoneNumber\ntelephoneNumber: +1 555 7777\n",
        Fixture::ALICE.dn()
    ));
    let changed = login(&h, &store, "alice@example.org", Fixture::ALICE.password).await.unwrap();
    assert_eq!(changed.account.fields.text(Field::Phone), Some("+1 555 7777"));
    let stored = account(&store, "alice").await;
    assert_eq!(stored.fields.text(Field::Phone), Some("+1 555 7777"));
    assert!(stored.last_login > ten_ago, "written with the change: {:?} vs {ten_ago:?}", stored.last_login);
    // Over a minute ago: the login writes last_login again.
    let old = set_last_login(dirconn_host::accounts::LAST_LOGIN_RESOLUTION_SECS + 5).await;
    login(&h, &store, "alice@example.org", Fixture::ALICE.password).await.unwrap();
    assert!(account(&store, "alice").await.last_login > old);
    // A wrong password never takes the quick path.
    let err = login(&h, &store, "alice@example.org", "wrong").await.unwrap_err();
    assert_eq!(err.code(), "DC-203");
}
