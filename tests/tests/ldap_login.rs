//! Logins through the host and the real `ldap` cdylib against a real OpenLDAP slapd on loopback.

use std::time::{Duration, Instant};

use dirconn_abi::{ClientContext, ErrorKind};
use dirconn_host::Error;
use dirconn_tests::{DomainSpec, Fixture, Slapd, TestHost, net::BlackHole, stage};

fn host(_slapd: &Slapd, spec: DomainSpec) -> TestHost {
    TestHost::start(&[stage::for_tests().ldap()], &[spec]).expect("host loads")
}

async fn login(h: &TestHost, login: &str, password: &str) -> Result<dirconn_abi::UserEntry, Error> {
    h.host.login(login, password, ClientContext::default()).await.map(|(_, user)| user)
}

fn kind(result: &Result<dirconn_abi::UserEntry, Error>) -> ErrorKind {
    result.as_ref().map(|_| ()).expect_err("the login should fail").kind()
}

#[tokio::test]
async fn correct_login_returns_the_entry_with_groups() {
    let slapd = Slapd::start();
    let h = host(&slapd, DomainSpec::ldap(&slapd));
    let user = login(&h, "alice@example.org", Fixture::ALICE.password).await.expect("alice logs in");
    assert_eq!(user.dn.as_str(), Fixture::ALICE.dn());
    assert_eq!(user.login.as_str(), "alice");
    assert_eq!(user.email.as_ref().map(|s| s.as_str()).into_option(), Some("alice@example.org"));
    assert_eq!(user.id.len(), 36, "entryUUID is the stable id: {}", user.id);
    let groups: Vec<&str> = user.groups.iter().map(|g| g.as_str()).collect();
    assert!(groups.contains(&"cn=staff,ou=groups,dc=example,dc=org"), "{groups:?}");
    assert!(groups.contains(&"cn=devs,ou=groups,dc=example,dc=org"), "{groups:?}");
    assert!(user.first_text("userPassword").is_none(), "the service account cannot read passwords");
    // A bare login goes to the only domain.
    login(&h, "bob", Fixture::BOB.password).await.expect("bob logs in without @domain");
}

#[tokio::test]
async fn wrong_password_unknown_user_and_ambiguous_login_are_told_apart() {
    let slapd = Slapd::start();
    let h = host(&slapd, DomainSpec::ldap(&slapd).set("search_base", slapd.base_dn()));
    let wrong = login(&h, "alice@example.org", "not-alices").await;
    assert_eq!(kind(&wrong), ErrorKind::InvalidCredentials);
    assert_eq!(wrong.unwrap_err().code(), "DC-203");
    let unknown = login(&h, "nobody@example.org", "whatever").await;
    assert_eq!(kind(&unknown), ErrorKind::NotFound);
    assert_eq!(unknown.unwrap_err().code(), "DC-207");
    let twin = login(&h, "twin@example.org", "twin-pass").await;
    assert_eq!(kind(&twin), ErrorKind::Ambiguous, "two entries under the base have uid=twin");
    let unknown_domain = login(&h, "alice@elsewhere.org", Fixture::ALICE.password).await;
    assert_eq!(unknown_domain.unwrap_err().code(), "DC-010");
}

#[tokio::test]
async fn empty_password_is_refused_without_any_network_call() {
    let hole = BlackHole::start();
    let slapd = Slapd::start();
    let spec = DomainSpec::ldap(&slapd).set("urls", &format!("[\"{}\"]", hole.url()));
    let h = host(&slapd, spec);
    let started = Instant::now();
    let result = login(&h, "alice@example.org", "").await;
    assert_eq!(kind(&result), ErrorKind::InvalidInput);
    assert_eq!(result.unwrap_err().code(), "DC-201");
    assert!(started.elapsed() < Duration::from_millis(500));
    assert_eq!(hole.accepted(), 0, "no connection was made");
    // The engine refuses too, for callers that bypass the host.
    let dir = engine(&slapd, &hole.url());
    let err = dir.authenticate("alice", "").await.unwrap_err();
    assert_eq!(err.code(), "DC-201");
    assert_eq!(hole.accepted(), 0, "no connection was made by the engine either");
}

fn engine(slapd: &Slapd, url: &str) -> dirconn_ldap::Directory {
    let json = format!(
        r#"{{"urls":["{url}"],"bind_dn":"{}","bind_password_file":"{}","search_base":"{}","operation_timeout":"2s"}}"#,
        slapd.service_dn(),
        slapd.service_password_file().display(),
        slapd.base_dn()
    );
    let settings = dirconn_ldap::LdapSettings::from_json(
        "example.org",
        &json,
        std::path::Path::new("/"),
        dirconn_plugin_ldap::DEFAULTS,
    )
    .expect("settings");
    dirconn_ldap::Directory::new(settings).expect("directory")
}

#[tokio::test]
async fn hostile_logins_never_log_in_and_never_panic() {
    let slapd = Slapd::start();
    let h = host(&slapd, DomainSpec::ldap(&slapd).set("search_base", slapd.base_dn()));
    let hostile = dirconn_tests::hostile::logins();
    for l in &hostile {
        // Alice's real password: an injection that matched her entry would log in.
        let outcome = login(&h, &format!("{l}@example.org"), Fixture::ALICE.password).await;
        let err = outcome.err().unwrap_or_else(|| panic!("{:?} logged in", l.chars().take(40).collect::<String>()));
        assert!(
            matches!(err.kind(), ErrorKind::NotFound | ErrorKind::InvalidInput),
            "{:?}: {err}",
            l.chars().take(40).collect::<String>()
        );
        let c = err.connector_error().expect("a connector error");
        assert!(!c.message.is_empty() && !c.fix.is_empty() && c.code.starts_with("DC-"), "{c:?}");
    }
    assert!(hostile.len() >= 20);
    login(&h, "alice@example.org", Fixture::ALICE.password).await.expect("the host still serves alice");
}

#[tokio::test]
async fn ppolicy_lockout_wins_even_with_the_right_password() {
    let slapd = Slapd::start();
    let h = host(&slapd, DomainSpec::ldap(&slapd));
    for _ in 0..3 {
        let r = login(&h, "dave@example.org", "wrong").await;
        assert_eq!(kind(&r), ErrorKind::InvalidCredentials);
    }
    let locked = login(&h, "dave@example.org", Fixture::DAVE.password).await;
    assert_eq!(kind(&locked), ErrorKind::AccountLocked);
    assert_eq!(locked.unwrap_err().code(), "DC-204");
}

#[tokio::test]
async fn a_reset_password_must_be_changed() {
    let slapd = Slapd::start();
    let h = host(&slapd, DomainSpec::ldap(&slapd));
    let r = login(&h, "carol@example.org", Fixture::CAROL.password).await;
    assert_eq!(kind(&r), ErrorKind::MustChangePassword);
    assert_eq!(r.unwrap_err().code(), "DC-205");
    let wrong = login(&h, "carol@example.org", "nope").await;
    assert_eq!(kind(&wrong), ErrorKind::InvalidCredentials, "a wrong password is not 'must change'");
}

#[tokio::test]
async fn ldaps_and_starttls_log_in_with_the_right_ca() {
    let slapd = Slapd::start();
    let ca = slapd.ca_file().display().to_string();
    let ldaps = DomainSpec::ldap(&slapd).set("urls", &format!("[\"{}\"]", slapd.ldaps_url())).set("ca_file", &ca);
    let h = host(&slapd, ldaps);
    login(&h, "alice@example.org", Fixture::ALICE.password).await.expect("over LDAPS");
    let starttls = DomainSpec::ldap(&slapd).raw("starttls", "true").set("ca_file", &ca);
    let h = host(&slapd, starttls);
    login(&h, "alice@example.org", Fixture::ALICE.password).await.expect("over StartTLS");
}

#[tokio::test]
async fn failover_from_a_dead_first_url_to_a_live_second() {
    let slapd = Slapd::start();
    let dead = format!("ldap://127.0.0.1:{}", dirconn_tests::net::refused_port());
    let spec = DomainSpec::ldap(&slapd).set("urls", &format!("[\"{dead}\", \"{}\"]", slapd.ldap_url()));
    let h = host(&slapd, spec);
    for _ in 0..3 {
        login(&h, "alice@example.org", Fixture::ALICE.password).await.expect("the second URL serves");
    }
    let all_dead = DomainSpec::ldap(&slapd).set("urls", &format!("[\"{dead}\"]"));
    let h = host(&slapd, all_dead);
    let err = login(&h, "alice@example.org", Fixture::ALICE.password).await.unwrap_err();
    assert_eq!((err.kind(), err.code()), (ErrorKind::Unreachable, "DC-302"), "{err}");
}

#[tokio::test]
async fn a_black_hole_server_fails_within_the_configured_timeout() {
    let slapd = Slapd::start();
    let hole = BlackHole::start();
    let spec = DomainSpec::ldap(&slapd)
        .set("urls", &format!("[\"{}\"]", hole.url()))
        .raw("connect_timeout", "\"1s\"")
        .raw("operation_timeout", "\"1s\"");
    let h = host(&slapd, spec);
    let started = Instant::now();
    let err = login(&h, "alice@example.org", Fixture::ALICE.password).await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert_eq!(err.code(), "DC-306", "accepted but never answered: {err}");
    assert!(took < Duration::from_secs(4), "took {took:?}");
    assert!(hole.accepted() >= 1);
    // LDAPS to a black hole: the TLS handshake never completes.
    let spec = DomainSpec::ldap(&slapd)
        .set("urls", &format!("[\"ldaps://127.0.0.1:{}\"]", hole.port()))
        .set("ca_file", &slapd.ca_file().display().to_string())
        .raw("connect_timeout", "\"1s\"");
    let h = host(&slapd, spec);
    let started = Instant::now();
    let err = login(&h, "alice@example.org", Fixture::ALICE.password).await.unwrap_err();
    assert_eq!((err.kind(), err.code()), (ErrorKind::Timeout, "DC-305"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(4));
}

#[tokio::test]
async fn many_concurrent_logins_share_the_pool() {
    let slapd = Slapd::start();
    let h = host(&slapd, DomainSpec::ldap(&slapd).raw("pool_size", "2"));
    let logins = (0..40).map(|i| {
        let (who, pw) = if i % 2 == 0 { ("alice", Fixture::ALICE.password) } else { ("bob", Fixture::BOB.password) };
        let h = &h;
        async move { login(h, &format!("{who}@example.org"), pw).await }
    });
    let results = futures::future::join_all(logins).await;
    assert!(
        results.iter().all(Result::is_ok),
        "{:?}",
        results.iter().filter_map(|r| r.as_ref().err()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_search_base_names_the_domain_when_no_name_is_given() {
    let slapd = Slapd::start();
    let spec = DomainSpec::ldap(&slapd).remove("name").set("search_base", "ou=people,DC=example,DC=org");
    let h = host(&slapd, spec);
    assert_eq!(h.host.domains()[0].name, "example.org");
    login(&h, "alice@example.org", Fixture::ALICE.password).await.expect("routed by the derived name");
}

#[tokio::test]
async fn a_group_filter_finds_groups_memberof_does_not_list() {
    let slapd = Slapd::start();
    let filter = "(|(&(objectClass=groupOfNames)(member={dn}))(&(objectClass=groupOfUniqueNames)(uniqueMember={dn})))";
    let spec = DomainSpec::ldap(&slapd)
        .set("group_filter", filter)
        .set("group_base", &format!("ou=groups,{}", slapd.base_dn()));
    let h = host(&slapd, spec);
    let bob = login(&h, "bob@example.org", Fixture::BOB.password).await.expect("bob logs in");
    let groups: Vec<&str> = bob.groups.iter().map(|g| g.as_str()).collect();
    assert!(groups.contains(&"cn=ops,ou=groups,dc=example,dc=org"), "groupOfUniqueNames via the filter: {groups:?}");
    assert!(groups.contains(&"cn=staff,ou=groups,dc=example,dc=org"), "{groups:?}");
    assert_eq!(groups.len(), 2, "memberOf and the filter agree on staff; no duplicates: {groups:?}");
}

#[tokio::test]
async fn subtree_off_searches_one_level_only() {
    let slapd = Slapd::start();
    let spec = DomainSpec::ldap(&slapd).set("search_base", slapd.base_dn()).raw("subtree", "false");
    let h = host(&slapd, spec);
    let r = login(&h, "alice@example.org", Fixture::ALICE.password).await;
    assert_eq!(kind(&r), ErrorKind::NotFound, "alice lives one level further down, in ou=people");
}

#[tokio::test]
async fn an_administrators_permanent_lock_is_reported_as_locked() {
    let slapd = Slapd::start();
    slapd.ldapmodify(&format!(
        "dn: {}\nchangetype: modify\nreplace: pwdAccountLockedTime\npwdAccountLockedTime: 000001010000Z\n",
        Fixture::BOB.dn()
    ));
    let h = host(&slapd, DomainSpec::ldap(&slapd));
    let locked = login(&h, "bob@example.org", Fixture::BOB.password).await;
    assert_eq!(kind(&locked), ErrorKind::AccountLocked);
    login(&h, "alice@example.org", Fixture::ALICE.password).await.expect("others are not affected");
}

#[tokio::test]
async fn pooled_connections_recover_when_the_directory_restarts() {
    let mut slapd = Slapd::start();
    let h = host(&slapd, DomainSpec::ldap(&slapd).raw("pool_size", "2"));
    login(&h, "alice@example.org", Fixture::ALICE.password).await.expect("before the restart");
    let old_pid = slapd.pid();
    slapd.restart();
    assert_ne!(slapd.pid(), old_pid);
    // The pooled service connections are now dead; the next logins must not see it.
    for _ in 0..3 {
        login(&h, "alice@example.org", Fixture::ALICE.password).await.expect("after the restart");
    }
}

#[tokio::test]
async fn ipv6_urls_in_brackets_log_in_over_ldap_and_ldaps() {
    let slapd = Slapd::start_with(dirconn_tests::SlapdOptions { ipv6: true, ..Default::default() });
    let plain = DomainSpec::ldap(&slapd).set("urls", &format!("[\"ldap://[::1]:{}\"]", slapd.ldap_port()));
    login(&host(&slapd, plain), "alice@example.org", Fixture::ALICE.password).await.expect("over ldap://[::1]");
    let tls = DomainSpec::ldap(&slapd)
        .set("urls", &format!("[\"ldaps://[::1]:{}\"]", slapd.ldaps_port()))
        .set("ca_file", &slapd.ca_file().display().to_string());
    login(&host(&slapd, tls), "alice@example.org", Fixture::ALICE.password).await.expect("over ldaps://[::1]");
    let starttls = DomainSpec::ldap(&slapd)
        .set("urls", &format!("[\"ldap://[::1]:{}\"]", slapd.ldap_port()))
        .raw("starttls", "true")
        .set("ca_file", &slapd.ca_file().display().to_string());
    let h = host(&slapd, starttls);
    login(&h, "alice@example.org", Fixture::ALICE.password).await.expect("StartTLS over [::1]");
    let report = h.host.domains()[0].test_connection(None, None).await.unwrap();
    assert!(report.passed(), "{report:#?}");
}

/// `group_membership = "nested-member-of"` on generic LDAP: the groups come from alice's memberOf (the
/// memberof overlay) and each group's own memberOf, upward; the links stay for `group_cache_ttl`, and a
/// TTL of zero reads them at every login. groupOfUniqueNames (ops) is not in memberOf, so not found.
#[tokio::test]
async fn nested_member_of_walks_the_groups_memberof_with_cached_links() {
    let slapd = Slapd::start();
    for ldif in [
        "dn: cn=outer,ou=groups,dc=example,dc=org\nchangetype: add\nobjectClass: groupOfNames\ncn: outer\nmember: cn=devs,ou=groups,dc=example,dc=org\n",
        "dn: cn=top,ou=groups,dc=example,dc=org\nchangetype: add\nobjectClass: groupOfNames\ncn: top\nmember: cn=outer,ou=groups,dc=example,dc=org\nmember: uid=dave,ou=people,dc=example,dc=org\n",
    ] {
        slapd.ldapmodify(ldif);
    }
    let cached = host(&slapd, DomainSpec::ldap(&slapd).set("group_membership", "nested-member-of"));
    let fresh =
        host(&slapd, DomainSpec::ldap(&slapd).set("group_membership", "nested-member-of").set("group_cache_ttl", "0s"));
    let groups = |user: &dirconn_abi::UserEntry| -> Vec<String> { user.groups.iter().map(|g| g.to_string()).collect() };
    let expected = [
        "cn=devs,ou=groups,dc=example,dc=org",
        "cn=outer,ou=groups,dc=example,dc=org",
        "cn=staff,ou=groups,dc=example,dc=org",
        "cn=top,ou=groups,dc=example,dc=org",
    ];
    for h in [&cached, &fresh] {
        let mut found = groups(&login(h, "alice@example.org", Fixture::ALICE.password).await.expect("alice"));
        found.sort();
        assert_eq!(found, expected, "direct groups from memberOf, then two levels up");
    }
    let bob = login(&cached, "bob@example.org", Fixture::BOB.password).await.expect("bob");
    assert_eq!(groups(&bob), ["cn=staff,ou=groups,dc=example,dc=org"], "ops lists bob as uniqueMember only");
    // outer leaves top: the cached link still says otherwise until it expires; a zero TTL sees it at once.
    slapd.ldapmodify(
        "dn: cn=top,ou=groups,dc=example,dc=org\nchangetype: modify\ndelete: member\nmember: cn=outer,ou=groups,dc=example,dc=org\n",
    );
    let from_cache = groups(&login(&cached, "alice@example.org", Fixture::ALICE.password).await.unwrap());
    assert!(from_cache.contains(&"cn=top,ou=groups,dc=example,dc=org".to_owned()), "{from_cache:?}");
    let read_again = groups(&login(&fresh, "alice@example.org", Fixture::ALICE.password).await.unwrap());
    assert!(!read_again.contains(&"cn=top,ou=groups,dc=example,dc=org".to_owned()), "{read_again:?}");
    assert!(read_again.contains(&"cn=outer,ou=groups,dc=example,dc=org".to_owned()), "{read_again:?}");
}
