//! `cargo xtask demo`: a throwaway OpenLDAP on loopback, the plugins built and staged, a configuration
//! written, and the `dirconn` command line run against it as an administrator would.

use std::{
    io::Write,
    process::{Command, Stdio},
};

use dirconn_tests::{Fixture, Slapd};

use crate::{Error, binary, build_plugins, cargo_bin, ensure_slapd};

/// One step of the demo: a command line, what is typed on standard input, and the exit code expected.
struct Step<'a> {
    title: &'a str,
    args: Vec<String>,
    stdin: Option<&'a str>,
    expect: i32,
}

pub fn run(keep: bool) -> Result<(), Error> {
    ensure_slapd()?;
    build_plugins(false, false)?;
    run_cmd(&["build", "--quiet", "-p", "dirconn"])?;
    println!("\nStarting a throwaway OpenLDAP (slapd) on 127.0.0.1 with sample users…");
    let slapd = Slapd::start();
    println!(
        "slapd pid {} ready in {} ms: {} and {} (base {})",
        slapd.pid(),
        slapd.startup_time().as_millis(),
        slapd.ldap_url(),
        slapd.ldaps_url(),
        slapd.base_dn()
    );
    let config = write_config(&slapd)?;
    println!("Configuration written to {}:\n", config.display());
    print!("{}", std::fs::read_to_string(&config).unwrap_or_default());
    let c = config.display().to_string();
    let args = |rest: &[&str]| -> Vec<String> {
        let mut v = vec!["--config".to_owned(), c.clone()];
        v.extend(rest.iter().map(|s| (*s).to_owned()));
        v
    };
    let alice = Fixture::ALICE;
    let steps = [
        Step { title: "The plugins the host loaded", args: args(&["plugins"]), stdin: None, expect: 0 },
        Step { title: "The configured domains", args: args(&["domains"]), stdin: None, expect: 0 },
        Step {
            title: "Test the connection stage by stage (the first URL is dead on purpose: failover)",
            args: args(&["test-connection", "example.org", "--login", "alice"]),
            stdin: None,
            expect: 3,
        },
        Step { title: "The filters in use", args: args(&["filter", "example.org"]), stdin: None, expect: 0 },
        Step {
            title: "Plan a sync of the directory into the account store (dry run: nothing written)",
            args: args(&["sync", "example.org", "--dry-run"]),
            stdin: None,
            expect: 0,
        },
        Step {
            title: "Sync: every directory user becomes an account (names, email, phone, groups mapped)",
            args: args(&["sync", "example.org"]),
            stdin: None,
            expect: 0,
        },
        Step {
            title: "Sync again: incremental (syncrepl), nothing to write",
            args: args(&["sync", "example.org"]),
            stdin: None,
            expect: 0,
        },
        Step { title: "The accounts in the store", args: args(&["accounts", "list"]), stdin: None, expect: 0 },
        Step {
            title: "alice logs in with her directory password (the plugin's log shows the failover, tagged with the domain)",
            args: args(&["login", "alice@example.org", "--password-stdin"]),
            stdin: Some(alice.password),
            expect: 0,
        },
        Step {
            title: "alice with a wrong password",
            args: args(&["login", "alice@example.org", "--password-stdin"]),
            stdin: Some("not-her-password"),
            expect: 1,
        },
        Step {
            title: "carol's password was reset by an administrator: she must change it",
            args: args(&["login", "carol@example.org", "--password-stdin"]),
            stdin: Some(Fixture::CAROL.password),
            expect: 1,
        },
        Step {
            title: "someone who is not in the directory",
            args: args(&["login", "nobody@example.org", "--password-stdin"]),
            stdin: Some("whatever"),
            expect: 1,
        },
        Step {
            title: "an LDAP injection attempt as the login",
            args: args(&["login", "*)(uid=*@example.org", "--password-stdin"]),
            stdin: Some("x"),
            expect: 1,
        },
        Step {
            title: "an empty password is refused before any network call",
            args: args(&["login", "alice@example.org", "--password-stdin"]),
            stdin: Some(""),
            expect: 1,
        },
        Step {
            title: "Look bob up with the service account (JSON)",
            args: args(&["--json", "lookup", "example.org", "bob"]),
            stdin: None,
            expect: 0,
        },
        Step {
            title: "alice's account after her login: mapped fields, directory groups, app groups",
            args: args(&["accounts", "show", "alice@example.org"]),
            stdin: None,
            expect: 0,
        },
        Step {
            title: "A local administrator, who can log in even when the directory is down",
            args: args(&["local", "add", "postmaster@example.org", "--admin", "--password-stdin"]),
            stdin: Some("postmaster-pass"),
            expect: 0,
        },
        Step {
            title: "The last sync reports",
            args: args(&["sync-report", "example.org", "--last", "2"]),
            stdin: None,
            expect: 0,
        },
    ];
    let dirconn = binary(false, "dirconn");
    let mut surprises = Vec::new();
    for step in &steps {
        println!("\n== {} ==", step.title);
        println!(
            "$ dirconn {}{}",
            step.args.join(" "),
            if step.stdin.is_some() { "   (password on stdin)" } else { "" }
        );
        // Plugin warnings (the dead first URL) are shown once, on alice's login; the other steps stay quiet.
        let log = if step.title.starts_with("alice logs in") { "warn" } else { "error" };
        let mut child =
            Command::new(&dirconn)
                .args(&step.args)
                .env("DIRCONN_LOG", log)
                .stdin(Stdio::piped())
                .spawn()
                .map_err(|e| Error::Command { command: dirconn.display().to_string(), reason: e.to_string() })?;
        if let Some(mut stdin) = child.stdin.take() {
            let _ = writeln!(stdin, "{}", step.stdin.unwrap_or(""));
        }
        let status = child.wait().map_err(|e| Error::Io { what: "waiting for dirconn".into(), source: e })?;
        let code = status.code().unwrap_or(-1);
        println!("(exit code {code})");
        if code != step.expect {
            surprises.push(format!("`{}` exited {code}, expected {}", step.title, step.expect));
        }
    }
    if keep {
        println!(
            "\nThe directory keeps running; try for example:\n  cargo run -p dirconn -- --config {c} test-auth example.org bob\nPress Enter to stop it."
        );
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    }
    drop(slapd);
    println!("\nslapd stopped; its folder was removed.");
    if surprises.is_empty() {
        println!("Demo complete: every step gave the expected outcome.");
        Ok(())
    } else {
        Err(Error::Check(format!("the demo saw unexpected outcomes: {}", surprises.join("; "))))
    }
}

fn run_cmd(args: &[&str]) -> Result<(), Error> {
    crate::run(&cargo_bin(), args)
}

fn write_config(slapd: &Slapd) -> Result<std::path::PathBuf, Error> {
    let dir = slapd.dir().join("dirconn");
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io { what: "creating the demo folder".into(), source })?;
    let plugin_dir = dirconn_tests::stage::Staged::of("debug").plugin_dir;
    let dead = format!("ldaps://127.0.0.1:{}", dirconn_tests::net::refused_port());
    let text = format!(
        r#"# dirconn demo configuration (written by cargo xtask demo)
plugin_dir = "{plugins}"

[[domain]]
name = "example.org"
display_name = "Example staff directory"
connector = "ldap"
urls = ["{dead}", "{ldaps}"]
ca_file = "{ca}"
connect_timeout = "2s"
operation_timeout = "5s"
bind_dn = "{bind_dn}"
bind_password_file = "{secret}"
search_base = "ou=people,{base}"
user_filter = "(&(objectClass=inetOrgPerson)(|(uid={{login}})(mail={{email}})))"

[domain.accounts]
login_policy = "auto-create"
sync_schedule = "15m"

[domain.mapping]
first_name = "givenName"
last_name = "sn"
email = "mail"
phone = "telephoneNumber"
organization = "o"
city = "l"
state = "st"

[domain.groups]
assign_all = "mail-users"
[domain.groups.map]
"cn=staff,ou=groups,{base}" = "staff"
"cn=devs,ou=groups,{base}" = "developers"
"#,
        plugins = plugin_dir.display(),
        ldaps = slapd.ldaps_url(),
        ca = slapd.ca_file().display(),
        bind_dn = slapd.service_dn(),
        secret = slapd.service_password_file().display(),
        base = slapd.base_dn(),
    );
    let path = dir.join("dirconn.toml");
    std::fs::write(&path, text)
        .map_err(|source| Error::Io { what: "writing the demo configuration".into(), source })?;
    Ok(path)
}
