//! The Active Directory connector against a real Samba AD DC (one per test, in its own network namespace):
//! login forms, bind sub-codes and what users are told, nested / primary / large groups, paged listings,
//! objectGUID keys, account state, password reset and change, the uSNChanged sync (with the addresses of
//! proxyAddresses) and the connection test.

use dirconn_abi::{ClientContext, ErrorKind, StageStatus};
use dirconn_host::{Error, MailMap, SyncOptions, sync_domain};
use dirconn_ldap::{Directory, LdapSettings, ad};
use dirconn_store::{Field, Store, SyncReport, Value};
use dirconn_tests::{
    DomainSpec, TestHost,
    samba::{self, SambaDc, with_dc},
    stage,
};

/// The mail domain the tests configure: not the AD realm, so that `user@maildomain` is its own form.
const MAIL_DOMAIN: &str = "example.com";

/// The AD domain over LDAPS with the harness's CA, as the service account.
fn spec(dc: &SambaDc) -> DomainSpec {
    DomainSpec::active_directory(dc)
}

fn host(spec: DomainSpec) -> TestHost {
    TestHost::start(&[stage::for_tests().active_directory()], &[spec]).expect("host loads")
}

fn password(sam: &str) -> String {
    format!("Passw0rd-{sam}")
}

async fn store_in(dir: &tempfile::TempDir) -> Store {
    Store::open(&dir.path().join("accounts.db").display().to_string()).await.expect("store opens")
}

async fn sync(h: &TestHost, store: &Store, full: bool) -> SyncReport {
    let opts = SyncOptions { full, force: true, ..Default::default() };
    sync_domain(h.host.domain(MAIL_DOMAIN).unwrap(), store, opts, |_| {}).await.expect("sync completes")
}

async fn authenticate(h: &TestHost, login: &str, password: &str) -> Result<dirconn_abi::UserEntry, Error> {
    h.host.domain(MAIL_DOMAIN).unwrap().authenticate(login, password, ClientContext::default()).await
}

fn code(err: &Error) -> String {
    err.connector_error().map(|c| c.code.to_string()).unwrap_or_else(|| err.code().to_owned())
}

/// The engine itself on the DC, for what the ABI does not show (ranged reads, raw searches).
fn directory(dc: &SambaDc, extra: &str) -> Directory {
    let json = format!(
        r#"{{"urls":["{}"],"ca_file":"{}","bind_dn":"{}","bind_password_file":"{}","search_base":"{}"{extra}}}"#,
        dc.ldaps_url(),
        dc.ca_file().display(),
        dc.service_dn(),
        dc.service_password_file().display(),
        dc.base_dn()
    );
    let settings = LdapSettings::from_json(
        MAIL_DOMAIN,
        &json,
        std::path::Path::new("/"),
        dirconn_plugin_active_directory::DEFAULTS,
    )
    .expect("settings");
    Directory::new(settings).expect("directory")
}

fn dn_has<'a>(groups: impl IntoIterator<Item = &'a String>, cn: &str) -> bool {
    groups.into_iter().any(|g| g.to_lowercase().starts_with(&format!("cn={},", cn.to_lowercase())))
}

fn groups_of(user: &dirconn_abi::UserEntry) -> Vec<String> {
    user.groups.iter().map(|g| g.to_string()).collect()
}

#[test]
fn every_login_form_finds_the_user() {
    with_dc(|dc| async move {
        // The UPN suffixes are routed to the domain by the host (`login_suffixes`), with the suffix kept.
        let h = host(spec(&dc).raw("login_suffixes", r#"["example.test", "corp.example.test"]"#));
        let alice = password("alice");
        // As a mail server's users type them: through the host's routing.
        for login in ["alice", "alice@example.test", "EXAMPLE\\alice", "example\\alice", "alice@example.com"] {
            let (domain, user) =
                h.host.login(login, &alice, ClientContext::default()).await.unwrap_or_else(|e| panic!("{login}: {e}"));
            assert_eq!(domain.name, MAIL_DOMAIN);
            assert_eq!(user.login.as_str(), "alice", "{login}");
            assert_eq!(user.dn.as_str(), "CN=Alice Liddell,CN=Users,DC=example,DC=test");
        }
        // The connector itself takes the UPN too (test-auth, lookups).
        authenticate(&h, "alice@example.test", &alice).await.unwrap();
        // A UPN with another suffix, and the comma / non-ASCII DN.
        let (_, user) =
            h.host.login("upn.user@corp.example.test", &password("upnuser"), ClientContext::default()).await.unwrap();
        assert_eq!(user.login.as_str(), "upnuser");
        // A suffix no domain lists is refused by the host.
        let err = h.host.login("alice@elsewhere.org", &alice, ClientContext::default()).await.unwrap_err();
        assert_eq!(err.code(), "DC-010", "{err}");
        let user = authenticate(&h, "jmueller", &password("jmueller")).await.unwrap();
        assert!(user.dn.as_str().starts_with("CN=Müller\\, Jürgen,"), "{}", user.dn);
        // Another NT domain is refused before the network; a foreign suffix does not match sAMAccountName.
        let err = authenticate(&h, "OTHER\\alice", &alice).await.unwrap_err();
        assert_eq!(code(&err), "DC-202", "{err}");
        let err = authenticate(&h, "alice@elsewhere.org", &alice).await.unwrap_err();
        assert_eq!(code(&err), "DC-207", "{err}");
    });
}

#[test]
fn bind_sub_codes_are_distinct_outcomes_and_users_are_told_the_policy() {
    with_dc(|dc| async move {
        let h = host(spec(&dc));
        let domain = h.host.domain(MAIL_DOMAIN).unwrap();
        // 52e: a wrong password.
        let err = authenticate(&h, "bob", "wrong").await.unwrap_err();
        assert_eq!((code(&err), err.kind()), ("DC-203".into(), ErrorKind::InvalidCredentials), "{err}");
        assert!(err.connector_error().unwrap().diagnostic.as_ref().unwrap().contains("data 52e"));
        let cases = [
            ("disabled-user", "DC-209", ErrorKind::AccountDisabled, "533"),
            ("expired-account", "DC-210", ErrorKind::AccountExpired, "701"),
            ("must-change", "DC-205", ErrorKind::MustChangePassword, "773"),
            ("expired-password", "DC-206", ErrorKind::PasswordExpired, "532"),
        ];
        for (sam, want_code, want_kind, sub) in cases {
            let err = authenticate(&h, sam, &password(sam)).await.unwrap_err();
            assert_eq!((code(&err), err.kind()), (want_code.into(), want_kind), "{sam}: {err}");
            let diag = err.connector_error().unwrap().diagnostic.clone().unwrap();
            assert!(diag.contains(&format!("data {sub}")), "{sam}: {diag}");
        }
        // 775: three bad passwords lock the account; then even the right one is refused as locked.
        for _ in 0..3 {
            let _ = authenticate(&h, "lock-me", "wrong").await;
        }
        let err = authenticate(&h, "lock-me", &password("lock-me")).await.unwrap_err();
        assert_eq!((code(&err), err.kind()), ("DC-204".into(), ErrorKind::AccountLocked), "{err}");
        let locked = h.host.domain(MAIL_DOMAIN).unwrap().lookup("lock-me").await.unwrap();
        assert!(locked.state.iter().any(|s| s.as_str() == "locked"), "{:?}", locked.state);
        // The documented policy: states are not told apart from a wrong password, unless revealed; an
        // expired password or one to change is told (only the right password gets those answers).
        assert_eq!(domain.end_user_message(ErrorKind::AccountLocked), dirconn_host::messages::INVALID);
        assert_eq!(domain.end_user_message(ErrorKind::AccountDisabled), dirconn_host::messages::INVALID);
        assert!(domain.end_user_message(ErrorKind::MustChangePassword).contains("must be changed"));
        let revealing = host(spec(&dc).raw("accounts", "{ reveal_account_state = true }"));
        let domain = revealing.host.domain(MAIL_DOMAIN).unwrap();
        assert!(domain.end_user_message(ErrorKind::AccountLocked).contains("locked"));
        // test-connection with a login shows the state of the account behind the sub-code.
        let report = h
            .host
            .domain(MAIL_DOMAIN)
            .unwrap()
            .test_connection(Some("disabled-user"), Some(&password("disabled-user")))
            .await
            .unwrap();
        let bind = report.stages.iter().find(|s| s.stage.as_str() == "user-bind").unwrap();
        assert_eq!(bind.error.as_ref().unwrap().code.as_str(), "DC-209");
        let lookup = h.host.domain(MAIL_DOMAIN).unwrap().lookup("disabled-user").await.unwrap();
        assert!(lookup.is_disabled(), "{:?}", lookup.state);
        let lookup = h.host.domain(MAIL_DOMAIN).unwrap().lookup("must-change").await.unwrap();
        assert!(lookup.state.iter().any(|s| s.as_str() == "must-change-password"), "{:?}", lookup.state);
    });
}

#[test]
fn groups_nested_primary_and_large() {
    with_dc(|dc| async move {
        // Every way of finding groups at login gives the same answer: the default upward walk, the matching
        // rule in chain, and the generic member search.
        for mode in ["nested-member-of", "chain", "search"] {
            let h = host(spec(&dc).set("group_membership", mode));
            let domain = h.host.domain(MAIL_DOMAIN).unwrap();
            for _ in 0..2 {
                // Twice: the second login walks the cached group links.
                let alice = groups_of(&domain.lookup("alice").await.unwrap());
                for cn in ["devs", "staff", "all-staff", "Domain Users", "Users"] {
                    assert!(dn_has(&alice, cn), "{mode}: alice lacks {cn}: {alice:?}");
                }
                assert_eq!(alice.len(), 5, "{mode}: {alice:?}");
            }
            let primary = groups_of(&domain.lookup("primary-user").await.unwrap());
            assert!(dn_has(&primary, "custom-primary"), "{mode}: {primary:?}");
            let late = groups_of(&domain.lookup("user1600").await.unwrap());
            assert!(dn_has(&late, "big-group"), "{mode}: {late:?}");
            let outside = groups_of(&domain.lookup("user2000").await.unwrap());
            assert!(!dn_has(&outside, "big-group") && dn_has(&outside, "Domain Users"), "{mode}: {outside:?}");
        }
        // The engine reads the 1,600 members range by range.
        let dir = directory(&dc, r#","range_size":500"#);
        let (mut found, _) = dir
            .service_search(
                &format!("CN=big-group,{}", dc.users_dn()),
                ldap3::Scope::Base,
                "(objectClass=group)",
                &["member;range=0-499".to_owned()],
                0,
                "test",
            )
            .await
            .unwrap();
        let mut group = found.remove(0);
        assert!(group.attrs.keys().any(|k| k.starts_with("member;range=0-499")), "{:?}", group.attrs.keys());
        dir.complete_ranges(&mut group).await.unwrap();
        assert_eq!(group.attrs["member"].len(), 1600);
        // In a sync, staff is put into big-group, so alice (devs ⊂ staff) is in it: by the groups' memberOf
        // (the default), and by member lists followed beyond the first range (`search`), whatever place
        // staff takes among 1,601 members.
        dc.samba_tool(&["group", "addmembers", "big-group", "staff"]);
        for mode in ["nested-member-of", "search"] {
            let h = host(spec(&dc).raw("range_size", "100").set("group_membership", mode));
            let dir = tempfile::tempdir().unwrap();
            let store = store_in(&dir).await;
            let report = sync(&h, &store, true).await;
            assert_eq!(report.counts.errors, 0, "{mode}: {:?}", report.details);
            let account = store.account(MAIL_DOMAIN, "alice").await.unwrap().unwrap();
            let groups = &account.groups;
            assert!(dn_has(groups, "big-group") && dn_has(groups, "all-staff"), "{mode}: {groups:?}");
            let login = groups_of(&h.host.domain(MAIL_DOMAIN).unwrap().lookup("alice").await.unwrap());
            let login: std::collections::BTreeSet<String> =
                login.iter().map(|g| dirconn_abi::normalize_dn(g)).collect();
            assert_eq!(&login, groups, "{mode}: a login finds what the sync found");
            let account = store.account(MAIL_DOMAIN, "primary-user").await.unwrap().unwrap();
            assert!(dn_has(&account.groups, "custom-primary"), "{mode}: {:?}", account.groups);
        }
    });
}

#[test]
fn a_full_sync_pages_through_2500_users_keyed_by_object_guid() {
    with_dc(|dc| async move {
        let h = host(spec(&dc).raw("page_size", "1000"));
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(&dir).await;
        let report = sync(&h, &store, true).await;
        assert_eq!(report.counts.errors, 0, "{:?}", report.details);
        assert!(report.counts.created >= 2500, "{:?}", report.counts);
        let accounts = store.accounts(Some(MAIL_DOMAIN)).await.unwrap();
        assert!(accounts.iter().filter(|a| a.login.starts_with("user")).count() >= 2500);
        // Disabled in AD: never an active account.
        assert!(store.account(MAIL_DOMAIN, "disabled-user").await.unwrap().is_none_or(|a| !a.active));
        // objectGUID: the key is the GUID text form, and it finds the same entry again.
        let alice = store.account(MAIL_DOMAIN, "alice").await.unwrap().unwrap();
        let key = alice.directory_key.clone().unwrap();
        let bytes = ad::guid_bytes(&key).expect("a GUID");
        assert_eq!(ad::guid_text(&bytes).as_deref(), Some(key.as_str()));
        let dir_engine = directory(&dc, "");
        let (found, _) = dir_engine
            .service_search(
                dc.base_dn(),
                ldap3::Scope::Subtree,
                &format!("(objectGUID={})", ad::filter_bytes(&bytes)),
                &["sAMAccountName".to_owned()],
                0,
                "test",
            )
            .await
            .unwrap();
        // A subtree search from the domain root also brings Samba's referral to CN=Configuration: it is
        // neither chased nor taken for an entry.
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].dn, "CN=Alice Liddell,CN=Users,DC=example,DC=test");
        // The AD mapping: company, city, country and the thumbnailPhoto bytes.
        assert_eq!(alice.fields.get(Field::Organization), Some(&Value::Text("Example Corp".into())));
        assert!(matches!(alice.fields.get(Field::Photo), Some(Value::Bytes(b)) if b.starts_with(&[0xff, 0xd8])));
        assert_eq!(alice.fields.get(Field::Custom1), Some(&Value::Text("alice@example.test".into())), "the UPN");
        assert_eq!(alice.fields.get(Field::Custom2), Some(&Value::Text("Alice Liddell".into())), "displayName");
    });
}

#[test]
fn incremental_sync_follows_changes_on_the_same_dc() {
    with_dc(|dc| async move {
        let h = host(spec(&dc));
        let dir = tempfile::tempdir().unwrap();
        let store = store_in(&dir).await;
        let first = sync(&h, &store, false).await;
        assert_eq!(first.mode, "full");
        let quiet = sync(&h, &store, false).await;
        assert_eq!((quiet.mode.as_str(), quiet.counts.seen), ("incremental", 0), "{quiet:?}");
        // A changed attribute, a new group membership, a disabled and a deleted user.
        // Bob's new addresses: proxyAddresses with the primary in capitals, an alias in another domain, and
        // a value of another type.
        dc.ldapmodify(&format!(
            "dn: CN=bob,{}\nchangetype: modify\nreplace: telephoneNumber\ntelephoneNumber: +1 555 0199\n-\n\
             replace: proxyAddresses\nproxyAddresses: smtp:bob@legacy.example.net\n\
             proxyAddresses: SMTP:Bob.Builder@example.com\nproxyAddresses: X500:/o=Example/cn=bob\n",
            dc.users_dn()
        ));
        dc.samba_tool(&["group", "addmembers", "devs", "user0042"]);
        dc.samba_tool(&["user", "disable", "user0043"]);
        dc.samba_tool(&["user", "delete", "user0044"]);
        let inc = sync(&h, &store, false).await;
        assert_eq!(inc.mode, "incremental", "{inc:?}");
        assert!(inc.counts.seen <= 10, "only the changes are read: {:?}", inc.counts);
        let bob = store.account(MAIL_DOMAIN, "bob").await.unwrap().unwrap();
        assert_eq!(bob.fields.get(Field::Phone), Some(&Value::Text("+1 555 0199".into())));
        assert!(
            bob.addresses.ends_with(&["bob.builder@example.com".into(), "bob@legacy.example.net".into()]),
            "the SMTP: primary, then the smtp: alias, never X500: {:?}",
            bob.addresses
        );
        for (map, key, want) in [
            (MailMap::Mailbox, "BOB@legacy.example.net", Some("bob@example.com")),
            (MailMap::Alias, "bob.builder@example.com", Some("bob@example.com")),
            (MailMap::Senders, "bob@legacy.example.net", Some("bob@example.com")),
            (MailMap::Mailbox, "x500:/o=example/cn=bob", None),
        ] {
            assert_eq!(h.host.lookup_map(&store, map, key).await.unwrap().as_deref(), want, "{map} {key}");
        }
        let u42 = store.account(MAIL_DOMAIN, "user0042").await.unwrap().unwrap();
        assert!(dn_has(&u42.groups, "devs") && dn_has(&u42.groups, "all-staff"));
        assert!(!store.account(MAIL_DOMAIN, "user0043").await.unwrap().unwrap().active, "disabled → deactivated");
        assert_eq!(inc.counts.deactivated, 1, "{inc:?}");
        // The disabled entry is renamed and a new person gets the old name: the new entry gets an account of
        // its own, never the disabled one's (its entry still exists).
        let old_key = store.account(MAIL_DOMAIN, "user0043").await.unwrap().unwrap().directory_key;
        dc.ldapmodify(&format!(
            "dn: {}\nchangetype: modify\nreplace: sAMAccountName\nsAMAccountName: user0043-old\n-\n\
             replace: userPrincipalName\nuserPrincipalName: user0043-old@example.test\n",
            samba::generated_dn(43)
        ));
        dc.samba_tool(&["user", "add", "user0043", "Another-pass-43"]);
        let inc = sync(&h, &store, false).await;
        assert_eq!(inc.counts.created, 1, "{inc:?}");
        let old = store.account(MAIL_DOMAIN, "user0043").await.unwrap().unwrap();
        assert_eq!((old.directory_key, old.active), (old_key, false), "the disabled account stays its entry's");
        let newcomer = store
            .accounts(Some(MAIL_DOMAIN))
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.auth_name == "user0043" && a.active)
            .expect("the new user0043 has an account");
        assert_eq!(newcomer.login, "user00430", "the lowest free name");
        // The service account may not read CN=Deleted Objects (AD's default): the report says so, and the
        // deleted user is found by the next full pass.
        assert!(store.account(MAIL_DOMAIN, "user0044").await.unwrap().unwrap().active);
        assert!(inc.details.iter().any(|d| d.contains("cannot read CN=Deleted Objects")), "{:?}", inc.details);
        let full = sync(&h, &store, true).await;
        assert_eq!(full.counts.deactivated, 1, "{full:?}");
        assert!(!store.account(MAIL_DOMAIN, "user0044").await.unwrap().unwrap().active, "deleted → deactivated");
        // An account allowed to read the tombstones sees deletions in the incremental pass itself.
        let secret = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(secret.path(), dc.admin_password()).unwrap();
        let admin = host(
            spec(&dc).set("bind_dn", dc.admin_dn()).set("bind_password_file", &secret.path().display().to_string()),
        );
        let admin_dir = tempfile::tempdir().unwrap();
        let admin_store = store_in(&admin_dir).await;
        sync(&admin, &admin_store, false).await;
        dc.samba_tool(&["user", "delete", "user0045"]);
        let inc = sync(&admin, &admin_store, false).await;
        assert_eq!((inc.mode.as_str(), inc.counts.deactivated), ("incremental", 1), "{inc:?}");
        assert!(!admin_store.account(MAIL_DOMAIN, "user0045").await.unwrap().unwrap().active);
        // A cookie from another DC (USNs are per DC) gives a full pass.
        let stored = store.cookie(MAIL_DOMAIN).await.unwrap().unwrap();
        let text = String::from_utf8(stored).unwrap();
        let other = text.replace("CN=DC1,", "CN=DC2,");
        assert_ne!(other, text, "the cookie names the DC: {text}");
        let mut tx = store.begin().await.unwrap();
        tx.set_cookie(MAIL_DOMAIN, Some(other.as_bytes()), 0).await.unwrap();
        tx.commit().await.unwrap();
        let switched = sync(&h, &store, false).await;
        assert_eq!(switched.mode, "full");
        assert!(switched.details.iter().any(|d| d.contains("another domain controller")), "{:?}", switched.details);
    });
}

#[test]
fn passwords_are_reset_and_changed_over_tls_only() {
    with_dc(|dc| async move {
        let h = host(spec(&dc));
        let domain = h.host.domain(MAIL_DOMAIN).unwrap();
        // Reset by the service account, then the user logs in with it.
        domain.set_password("bob", None, "Reset-pw-1").await.unwrap();
        authenticate(&h, "bob", "Reset-pw-1").await.unwrap();
        // Change by the user (old → new); a wrong old password is refused.
        domain.set_password("EXAMPLE\\bob", Some("Reset-pw-1"), "Changed-pw-2").await.unwrap();
        authenticate(&h, "bob", "Changed-pw-2").await.unwrap();
        let err = domain.set_password("bob", Some("not-it"), "Changed-pw-3").await.unwrap_err();
        assert_eq!(code(&err), "DC-203", "{err}");
        // A user who must change the password cannot bind, and can still change it.
        domain.set_password("must-change", Some(&password("must-change")), "Changed-pw-4").await.unwrap();
        authenticate(&h, "must-change", "Changed-pw-4").await.unwrap();
        // The domain's policy (a PSO: at least 20 characters) refuses a short one, with its message.
        let err = domain.set_password("policy-user", None, "short").await.unwrap_err();
        assert_eq!(code(&err), "DC-214", "{err}");
        assert!(err.to_string().contains("does not meet the domain's password policy"), "{err}");
        // Plain LDAP and the Global Catalog are refused before any network call; StartTLS works.
        let plain = host(spec(&dc).set("urls", &format!("[\"{}\"]", dc.ldap_url())));
        let err = plain.host.domain(MAIL_DOMAIN).unwrap().set_password("bob", None, "Plain-pw-5").await.unwrap_err();
        assert_eq!(code(&err), "DC-215", "{err}");
        let gc = host(spec(&dc).set("urls", &format!("[\"{}\"]", dc.gcs_url())));
        let err = gc.host.domain(MAIL_DOMAIN).unwrap().set_password("bob", None, "Gc-pw-6").await.unwrap_err();
        assert_eq!(code(&err), "DC-216", "{err}");
        let starttls = host(spec(&dc).set("urls", &format!("[\"{}\"]", dc.ldap_url())).raw("starttls", "true"));
        starttls.host.domain(MAIL_DOMAIN).unwrap().set_password("bob", Some("Changed-pw-2"), "Tls-pw-7").await.unwrap();
        authenticate(&h, "bob", "Tls-pw-7").await.unwrap();
        // The command line: `dirconn passwd DOMAIN LOGIN` resets.
        let out = dirconn(&h.config, &["passwd", MAIL_DOMAIN, "alice", "--password-stdin"], "Cli-pw-8\n");
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        authenticate(&h, "alice", "Cli-pw-8").await.unwrap();
    });
}

#[test]
fn the_connection_test_adds_the_ad_stages_and_the_global_catalog_serves_lookups() {
    with_dc(|dc| async move {
        let h = host(spec(&dc));
        let report = h.host.domain(MAIL_DOMAIN).unwrap().test_connection(None, None).await.unwrap();
        for stage in ["service-bind", "search-base", "user-filter", "naming-context", "user-container", "nt-domain"] {
            let s = report.stages.iter().find(|s| s.stage.as_str() == stage).unwrap_or_else(|| panic!("no {stage}"));
            assert_eq!(s.status, StageStatus::Passed, "{stage}: {:?}", s);
        }
        let nc = report.stages.iter().find(|s| s.stage.as_str() == "naming-context").unwrap();
        assert!(nc.detail.contains("DC=example,DC=test"), "{}", nc.detail);
        // A wrong NT domain name is named with the server's.
        let wrong = host(spec(&dc).set("nt_domain", "WRONG"));
        let report = wrong.host.domain(MAIL_DOMAIN).unwrap().test_connection(None, None).await.unwrap();
        let nt = report.stages.iter().find(|s| s.stage.as_str() == "nt-domain").unwrap();
        assert_eq!(nt.status, StageStatus::Failed);
        assert_eq!(nt.error.as_ref().unwrap().code.as_str(), "DC-112");
        assert!(nt.error.as_ref().unwrap().message.contains("EXAMPLE"));
        // The Global Catalog (3268 plain, 3269 TLS) answers lookups and logins.
        for url in [dc.gc_url(), dc.gcs_url()] {
            let gc = host(spec(&dc).set("urls", &format!("[\"{url}\"]")));
            let user =
                gc.host.domain(MAIL_DOMAIN).unwrap().lookup("alice").await.unwrap_or_else(|e| panic!("{url}: {e}"));
            assert_eq!(user.login.as_str(), "alice");
        }
    });
}

fn dirconn(config: &std::path::Path, args: &[&str], stdin: &str) -> std::process::Output {
    dirconn_tests::process::dirconn_cli(stage::dirconn_binary(), config, args, Some(stdin.trim_end()))
}
