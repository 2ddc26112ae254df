//! The hostile-login corpus every password check is tried with: filter and DN injections, control and
//! NUL bytes, a 64 KiB login, invisible characters. None may log in, with any check.

/// The logins, each to be sent as `<login>@example.org` with a real user's password.
pub fn logins() -> Vec<String> {
    vec![
        "*".into(),
        "*)(uid=*".into(),
        "admin)(|(objectClass=*".into(),
        "\\".into(),
        "alice\0".into(),
        "\0".into(),
        "a".repeat(64 * 1024),
        "alice\r\n".into(),
        "\u{7}bell".into(),
        "alice)(&".into(),
        "*alice*".into(),
        "al*".into(),
        "(uid=alice)".into(),
        "alice)(!(uid=x".into(),
        "uid=alice,ou=people,dc=example,dc=org".into(),
        "alice\\2a".into(),
        "\\2a".into(),
        "))))))))".into(),
        "((((((((".into(),
        " alice".into(),
        "alice ".into(),
        "ﬀ\u{200b}alice".into(),
        "%2a".into(),
        "alice'--".into(),
        "\u{feff}alice".into(),
        "alice/admin".into(),
        "alice@EVIL.ORG".into(),
        "krbtgt/EXAMPLE.ORG".into(),
    ]
}
