//! The demo's Open Directory chapter: a throwaway slapd with the project's LDIF of Apple's schema and an
//! OD-shaped directory (short-name aliases, GUID groups nested two levels, users disabled two ways), and
//! the `open-directory` connector against it: the OD stages of the connection test, logins by an alias and
//! by mail, a disabled user refused, a sync keyed by GUID.

use dirconn_tests::{Slapd, open_directory};

use super::Step;
use crate::Error;

/// Starts the OD-shaped slapd and writes its configuration (`dirconn-od.toml` in its folder).
pub fn start() -> Result<(Slapd, std::path::PathBuf), Error> {
    println!("\nStarting a throwaway slapd with Apple's Open Directory schema and an OD layout…");
    let slapd = open_directory::start();
    println!("slapd pid {} ready in {} ms: {}", slapd.pid(), slapd.startup_time().as_millis(), slapd.ldap_url());
    let text = format!(
        r#"# dirconn demo: an Open Directory domain (written by cargo xtask demo)
plugin_dir = "{plugins}"

[[domain]]
name = "example.org"
connector = "open-directory"
urls = ["{url}"]
bind_dn = "{bind_dn}"
bind_password_file = "{secret}"
search_base = "{users}"

[domain.groups.map]
"cn=staff,{groups}" = "staff"
"#,
        plugins = dirconn_tests::stage::Staged::of("debug").plugin_dir.display(),
        url = slapd.ldap_url(),
        bind_dn = slapd.service_dn(),
        secret = slapd.service_password_file().display(),
        users = open_directory::USERS_DN,
        groups = open_directory::GROUPS_DN,
    );
    let dir = slapd.dir().join("dirconn");
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io { what: "creating the OD demo folder".into(), source })?;
    let path = dir.join("dirconn-od.toml");
    std::fs::write(&path, &text).map_err(|source| Error::Io { what: "writing the OD configuration".into(), source })?;
    println!("Configuration written to {}:\n{text}", path.display());
    Ok((slapd, path))
}

/// The chapter's steps.
pub fn steps(config: &std::path::Path) -> Vec<Step<'static>> {
    let c = config.display().to_string();
    let args = |rest: &[&str]| -> Vec<String> {
        let mut v = vec!["--config".to_owned(), c.clone()];
        v.extend(rest.iter().map(|s| (*s).to_owned()));
        v
    };
    let [alice, _, _, dora, _] = open_directory::USERS;
    vec![
        Step {
            title: "Open Directory: test the connection (od-layout, od-schema, od-realm stages)",
            args: args(&["test-connection", "example.org", "--login", "liddell", "--password-stdin"]),
            stdin: Some(alice.password),
            expect: 0,
        },
        Step {
            title: "Open Directory: alice logs in by her alias short name `liddell`",
            args: args(&["login", "liddell@example.org", "--password-stdin"]),
            stdin: Some(alice.password),
            expect: 0,
        },
        Step {
            title: "Open Directory: …and by her second mail address: the same account",
            args: args(&["login", "a.liddell@example.org", "--password-stdin"]),
            stdin: Some(alice.password),
            expect: 0,
        },
        Step {
            title: "Open Directory: dora is disabled (;DisabledUser; in authAuthority): refused, with the right password",
            args: args(&["login", "dora@example.org", "--password-stdin"]),
            stdin: Some(dora.password),
            expect: 1,
        },
        Step {
            title: "Open Directory: carol's groups: core by GUID, legacy by memberUid, devs and staff by nesting",
            args: args(&["lookup", "example.org", "carol"]),
            stdin: None,
            expect: 0,
        },
        Step {
            title: "Open Directory: sync keyed by GUID (disabled users get no account; the dangling GUID is noted)",
            args: args(&["sync", "example.org"]),
            stdin: None,
            expect: 0,
        },
        Step { title: "Open Directory: the accounts", args: args(&["accounts", "list"]), stdin: None, expect: 0 },
    ]
}
