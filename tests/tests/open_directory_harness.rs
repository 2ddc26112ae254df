//! The Open Directory harness itself: a stock slapd accepts the project's LDIF of Apple's schema and the
//! OD layout; users are found by every short name and by mail, GUIDs match case-exactly (as on OD), the
//! users bind with their passwords, groups carry GUID members, `memberUid` and nesting, and the realm is in
//! `cn=KerberosKDC,cn=config`.

use dirconn_tests::open_directory::{self, DANGLING_GUID, GROUPS, GROUPS_DN, REALM, USERS, USERS_DN};

fn dns(ldif: &str) -> Vec<String> {
    ldif.lines().filter_map(|l| l.strip_prefix("dn: ")).map(str::to_owned).collect()
}

#[test]
fn apple_schema_and_an_od_layout_on_stock_slapd() {
    let slapd = open_directory::start();
    eprintln!("OD-shaped slapd ready in {:?}", slapd.startup_time());
    let schema = slapd.ldapsearch(&["-b", "cn=Subschema", "-s", "base", "(objectClass=*)", "objectClasses"]);
    for class in ["'apple-user'", "'apple-group'", "'apple-configuration'", "'container'"] {
        assert!(schema.contains(class), "{class} not in the subschema");
    }
    let alice = &USERS[0];
    for filter in [
        "(&(objectClass=apple-user)(uid=alice))".to_owned(),
        "(&(objectClass=apple-user)(uid=liddell))".to_owned(),
        "(&(objectClass=apple-user)(mail=a.liddell@example.org))".to_owned(),
        format!("(apple-generateduid={})", alice.guid),
    ] {
        assert_eq!(dns(&slapd.ldapsearch(&["-b", USERS_DN, &filter, "1.1"])), vec![alice.dn()], "{filter}");
    }
    // caseExactMatch: a lowercase GUID matches nothing.
    let lower = format!("(apple-generateduid={})", alice.guid.to_lowercase());
    assert!(dns(&slapd.ldapsearch(&["-b", USERS_DN, &lower, "1.1"])).is_empty());
    // Every user binds with its password (a simple bind, as a connector's user bind).
    for u in USERS {
        let out = std::process::Command::new("ldapwhoami")
            .args(["-x", "-H", &slapd.ldap_url(), "-D", &u.dn(), "-w", u.password])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}: {}", u.dn(), String::from_utf8_lossy(&out.stderr));
    }
    let dora = slapd.ldapsearch(&["-b", &USERS[3].dn(), "-s", "base", "(objectClass=*)", "authAuthority"]);
    assert!(dora.contains("authAuthority: ;DisabledUser;;Kerberosv5;"), "{dora}");
    let groups = dns(&slapd.ldapsearch(&["-b", GROUPS_DN, "(objectClass=apple-group)", "1.1"]));
    assert_eq!(groups.len(), GROUPS.len(), "{groups:?}");
    let devs = slapd.ldapsearch(&["-b", &GROUPS[1].dn(), "-s", "base", "(objectClass=*)"]);
    assert!(devs.contains(&format!("apple-group-memberguid: {}", alice.guid)), "{devs}");
    assert!(devs.contains(&format!("apple-group-nestedgroup: {}", GROUPS[2].guid)), "{devs}");
    let dangling = slapd.ldapsearch(&["-b", GROUPS_DN, &format!("(apple-generateduid={DANGLING_GUID})"), "1.1"]);
    assert!(dns(&dangling).is_empty(), "the dangling GUID resolves to nothing");
    let kdc = slapd.ldapsearch(&["-b", "cn=KerberosKDC,cn=config,dc=example,dc=org", "-s", "base", "(objectClass=*)"]);
    assert!(kdc.contains(&format!("apple-config-realname: {REALM}")), "{kdc}");
}

#[test]
fn wrong_passwords_are_answered_50_as_on_open_directory() {
    let slapd = open_directory::start();
    let _serve = open_directory::answer_wrong_passwords_with_50(&slapd);
    let carol = &USERS[2];
    let bind = |password: &str| {
        std::process::Command::new("ldapwhoami")
            .args(["-x", "-H", &slapd.ldap_url(), "-D", &carol.dn(), "-w", password])
            .output()
            .unwrap()
    };
    let wrong = bind("not-carols");
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("Insufficient access (50)"), "{wrong:?}");
    let right = bind(carol.password);
    assert!(right.status.success(), "the right password still binds: {right:?}");
}
