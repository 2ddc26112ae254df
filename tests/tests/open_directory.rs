//! The `open-directory` connector against a real slapd with the project's LDIF of Apple's schema and
//! OD-shaped data ([`dirconn_tests::open_directory`]): logins by every short name and by mail are one
//! account; a wrong password answered 50, as OD does, is invalid credentials; users disabled by
//! `authAuthority` or by `com.apple.access_disabled` are refused with their code and never created; groups
//! by GUID and by `memberUid`, nesting two levels deep, a cycle and a dangling GUID; groups mapped to app
//! groups; full and incremental sync keyed by GUID with a rename and a disable; the realm read from
//! `cn=KerberosKDC,cn=config` for the Kerberos check; the connection test on OD and on a plain OpenLDAP.

use dirconn_abi::{ClientContext, ErrorKind, StageStatus};
use dirconn_host::{Error, SyncOptions, sync_domain};
use dirconn_store::{Account, Field, Store};
use dirconn_tests::{
    DomainSpec, MitKdc, Slapd, TestHost,
    open_directory::{self, GROUPS_DN, USERS},
    stage,
};

const DOMAIN: &str = "example.org";

fn host(spec: DomainSpec) -> TestHost {
    TestHost::start(&[stage::for_tests().open_directory()], &[spec]).expect("host loads")
}

fn group(name: &str) -> String {
    format!("cn={name},{GROUPS_DN}")
}

async fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("accounts.db").display().to_string()).await.unwrap();
    (dir, store)
}

async fn account(store: &Store, login: &str) -> Account {
    store.account(DOMAIN, login).await.unwrap().unwrap_or_else(|| panic!("no account {login}"))
}

async fn user_groups(h: &TestHost, login: &str) -> Vec<String> {
    let mut groups: Vec<String> =
        h.host.domain(DOMAIN).unwrap().lookup(login).await.unwrap().groups.iter().map(|g| g.to_string()).collect();
    groups.sort();
    groups
}

fn code(outcome: &Result<impl std::fmt::Debug, Error>) -> String {
    match outcome {
        Ok(_) => "ok".into(),
        Err(e) => e.code().to_owned(),
    }
}

#[tokio::test]
async fn logins_by_every_short_name_and_by_mail_are_one_account() {
    let slapd = open_directory::start();
    let h = host(
        DomainSpec::open_directory(&slapd)
            .raw("groups", "{ map = { \"cn=staff,cn=groups,dc=example,dc=org\" = \"mail-staff\" } }"),
    );
    let (_dir, store) = store().await;
    let alice = &USERS[0];
    let mut ids = Vec::new();
    for login in ["alice", "liddell", "a.liddell@example.org", "alice@example.org"] {
        let outcome = h.host.login_account(&store, login, alice.password, ClientContext::default()).await;
        let outcome = outcome.unwrap_or_else(|e| panic!("{login}: {e}"));
        ids.push(outcome.account.id.clone());
        assert_eq!(outcome.account.directory_key.as_deref(), Some(alice.guid), "the GUID as OD writes it");
    }
    ids.dedup();
    assert_eq!(ids.len(), 1, "one account for every form: {ids:?}");
    let a = account(&store, "alice").await;
    // Besides login@domain (alice@example.org, the primary), every other mail value is an address.
    assert_eq!(a.addresses, ["a.liddell@example.org"]);
    assert_eq!(a.fields.text(Field::FirstName), Some("Alice"));
    assert_eq!(a.fields.text(Field::Email), Some("alice@example.org"));
    assert!(a.groups.contains(&group("devs")) && a.groups.contains(&group("staff")), "{:?}", a.groups);
    assert!(a.app_groups.contains("mail-staff"), "staff nests devs, so alice gets the app group: {:?}", a.app_groups);
}

#[tokio::test]
async fn wrong_passwords_answered_50_and_disabled_users_are_refused_with_their_code() {
    let slapd = open_directory::start();
    let _serve = open_directory::answer_wrong_passwords_with_50(&slapd);
    let h = host(DomainSpec::open_directory(&slapd));
    let domain = h.host.domain(DOMAIN).unwrap();
    let wrong = domain.authenticate("carol", "not-carols-password", ClientContext::default()).await;
    assert_eq!(code(&wrong), "DC-203", "{wrong:?}");
    assert_eq!(wrong.unwrap_err().kind(), ErrorKind::InvalidCredentials);
    assert_eq!(code(&domain.authenticate("carol", USERS[2].password, ClientContext::default()).await), "ok");
    for (u, why) in [(&USERS[3], "authAuthority holds ;DisabledUser;"), (&USERS[4], "com.apple.access_disabled")] {
        let refused = domain.authenticate(u.short_names[0], u.password, ClientContext::default()).await;
        assert_eq!(code(&refused), "DC-209", "{}: {refused:?}", u.short_names[0]);
        let err = refused.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AccountDisabled);
        assert!(format!("{err:?}").contains(why), "{err:?}");
        let wrong = domain.authenticate(u.short_names[0], "wrong", ClientContext::default()).await;
        assert_eq!(code(&wrong), "DC-203", "a wrong password says nothing of the state");
    }
}

#[tokio::test]
async fn groups_by_guid_and_member_uid_nested_with_a_cycle_and_a_dangling_guid() {
    let slapd = open_directory::start();
    let h = host(DomainSpec::open_directory(&slapd));
    // carol: core by GUID, legacy by memberUid only; core ⊂ devs ⊂ staff (two levels).
    assert_eq!(user_groups(&h, "carol").await, [group("core"), group("devs"), group("legacy"), group("staff")]);
    // bob: staff, and cycle-a ⇄ cycle-b: each once.
    assert_eq!(user_groups(&h, "bob").await, [group("cycle-a"), group("cycle-b"), group("staff")]);
    // alice: devs and dangling (whose nested GUID resolves to nothing), staff above devs.
    assert_eq!(user_groups(&h, "alice").await, [group("dangling"), group("devs"), group("staff")]);
    assert_eq!(user_groups(&h, "liddell").await, user_groups(&h, "alice").await);
}

#[tokio::test]
async fn full_and_incremental_sync_keyed_by_guid_with_a_rename_and_a_disable() {
    let slapd = open_directory::start();
    let h = host(DomainSpec::open_directory(&slapd));
    let (_dir, store) = store().await;
    let domain = h.host.domain(DOMAIN).unwrap();
    let report = sync_domain(domain, &store, SyncOptions { full: true, ..Default::default() }, |_| {}).await.unwrap();
    assert_eq!((report.mode.as_str(), report.counts.created), ("full", 3), "{report:?}");
    assert!(store.account(DOMAIN, "dora").await.unwrap().is_none(), "disabled users are never created");
    assert!(store.account(DOMAIN, "eve").await.unwrap().is_none(), "disabled by group: never created");
    assert!(
        report.details.iter().any(|d| d.contains(open_directory::DANGLING_GUID)),
        "the dangling GUID is noted: {:?}",
        report.details
    );
    let carol = account(&store, "carol").await;
    assert_eq!(carol.groups.len(), 4, "the sync finds what a login finds: {:?}", carol.groups);
    let bob_before = account(&store, "bob").await;
    slapd.ldapmodify(&format!("dn: {}\nchangetype: modrdn\nnewrdn: uid=robert\ndeleteoldrdn: 1\n", USERS[1].dn()));
    slapd.ldapmodify(&format!(
        "dn: {}\nchangetype: modify\nreplace: authAuthority\nauthAuthority: ;DisabledUser;;Kerberosv5;;carol@EXAMPLE.ORG;EXAMPLE.ORG;\n",
        USERS[2].dn()
    ));
    let report = sync_domain(domain, &store, SyncOptions::default(), |_| {}).await.unwrap();
    assert_eq!(report.mode, "incremental", "{report:?}");
    assert!(report.counts.seen <= 3, "only the changes are read: {report:?}");
    let bob = account(&store, "bob").await;
    assert_eq!((bob.id.as_str(), bob.auth_name.as_str()), (bob_before.id.as_str(), "robert"), "renamed, same account");
    assert_eq!(bob.directory_key, bob_before.directory_key);
    assert!(!account(&store, "carol").await.active, "disabled in the directory: deactivated");
    assert!(account(&store, "alice").await.active);
}

#[tokio::test]
async fn the_kerberos_realm_is_read_from_the_directory() {
    if !dirconn_tests::kdc::available() {
        eprintln!("skipped: no MIT KDC on this machine");
        return;
    }
    let slapd = open_directory::start();
    let kdc = MitKdc::start();
    kdc.add_user("alice", "alice-realm-pass");
    let spec = DomainSpec::open_directory(&slapd)
        .set("password_check", "kerberos")
        .set("kdc", &format!("[\"{}\"]", kdc.address()))
        .raw("kerberos_validate", "false");
    let h = host(spec);
    let domain = h.host.domain(DOMAIN).unwrap();
    let user = domain.authenticate("liddell", "alice-realm-pass", ClientContext::default()).await.expect("realm login");
    assert_eq!(user.dn.as_str(), USERS[0].dn());
    assert_eq!(code(&domain.authenticate("alice", USERS[0].password, ClientContext::default()).await), "DC-901");
    let report = domain.test_connection(Some("alice"), Some("alice-realm-pass")).await.unwrap();
    let stage = |name: &str| report.stages.iter().find(|s| s.stage.as_str() == name).cloned();
    let realm = stage("od-realm").expect("the realm stage");
    assert!(realm.detail.contains("EXAMPLE.ORG"), "{realm:?}");
    assert_eq!(stage("user-kerberos").map(|s| s.status), Some(StageStatus::Passed), "{report:?}");
}

#[tokio::test]
async fn the_connection_test_on_open_directory_and_on_a_plain_openldap() {
    let od = open_directory::start();
    let h = host(DomainSpec::open_directory(&od));
    let report = h.host.domain(DOMAIN).unwrap().test_connection(Some("alice"), Some(USERS[0].password)).await.unwrap();
    for name in ["od-layout", "od-schema", "od-realm", "user-bind"] {
        let s = report.stages.iter().find(|s| s.stage.as_str() == name).unwrap_or_else(|| panic!("{name}: {report:?}"));
        assert_eq!(s.status, StageStatus::Passed, "{s:?}");
    }
    let plain = Slapd::start();
    let h = host(DomainSpec::open_directory(&plain).set("search_base", "ou=people,dc=example,dc=org"));
    let report = h.host.domain(DOMAIN).unwrap().test_connection(None, None).await.unwrap();
    for name in ["od-layout", "od-schema", "od-realm"] {
        let s = report.stages.iter().find(|s| s.stage.as_str() == name).unwrap_or_else(|| panic!("{name}: {report:?}"));
        assert_eq!(s.status, StageStatus::Failed, "{s:?}");
        let err = s.error.as_ref().into_option().expect("an error");
        assert_eq!(err.code.as_str(), "DC-409", "{err:?}");
        assert!(err.fix.contains("connector = \"ldap\"") || err.fix.contains("kerberos_realm"), "{err:?}");
    }
}
