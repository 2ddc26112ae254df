//! `cargo xtask demo`: a throwaway OpenLDAP on loopback (or, with `--connector active-directory`, a Samba AD
//! DC in a private network namespace), the plugins built and staged, a configuration written, and the
//! `dirconn` command line run against it as an administrator would; then `dirconn serve` on the same
//! configuration with, as root, a real Dovecot logging users in through it ([`service`]). Between the two,
//! the same domain with its passwords checked by a throwaway MIT KDC ([`kerberos`]).

mod kerberos;
mod open_directory;
mod service;

use std::{
    io::Write,
    process::{Command, Stdio},
    time::Instant,
};

use dirconn_tests::{
    Fixture, Slapd,
    samba::{self, SambaDc},
};

use crate::{Error, binary, build_plugins, cargo_bin, ensure_mail, ensure_samba, ensure_slapd, is_root};

/// One step of the demo: a command line, what is typed on standard input, and the exit code expected.
struct Step<'a> {
    title: &'a str,
    args: Vec<String>,
    stdin: Option<&'a str>,
    expect: i32,
}

pub fn run(keep: bool) -> Result<(), Error> {
    ensure_slapd()?;
    // Dovecot runs only as root (its processes switch users); without root that part is skipped.
    if is_root() {
        ensure_mail()?;
        crate::ensure_kdc()?;
    }
    build_plugins(false, false)?;
    run_cmd(&["build", "--quiet", "-p", "dirconn"])?;
    let began = Instant::now();
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
            title: "Postfix's recipient table, from the store: an address of alice's (any case) is her mailbox",
            args: args(&["postmap", "mailbox", "ALICE@Example.org"]),
            stdin: None,
            expect: 0,
        },
        Step {
            title: "…an address nobody has is not found (Postfix refuses it at RCPT TO: no backscatter)",
            args: args(&["postmap", "mailbox", "nobody@example.org"]),
            stdin: None,
            expect: 1,
        },
        Step {
            title: "…and who may send as bob@example.org after SMTP AUTH",
            args: args(&["postmap", "senders", "bob@example.org"]),
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
    let mut surprises = run_steps(&steps, "alice logs in")?;
    // The same domain with its passwords checked by a Kerberos realm.
    let kdc = if dirconn_tests::kdc::available() {
        let (kdc, kerberos_config) = kerberos::start(&config)?;
        surprises.extend(run_steps(&kerberos::steps(&kerberos_config), "Kerberos: alice logs in")?);
        Some(kdc)
    } else {
        println!("\n(no MIT KDC here: the Kerberos chapter is skipped; apt-get install krb5-kdc krb5-admin-server)");
        None
    };
    drop(kdc);
    let (od, od_config) = open_directory::start()?;
    surprises.extend(run_steps(&open_directory::steps(&od_config), "Open Directory: dora")?);
    drop(od);
    let mut running = service::start(&config)?;
    surprises.extend(running.show()?);
    if keep {
        println!(
            "\nThe directory and the service keep running; try for example:\n  cargo run -p dirconn -- --config {c} \
             test-auth example.org bob   (bob-pass)\n  cargo run -p dirconn -- --config {c} audit --last 10\n{}\nPress \
             Enter to stop them.",
            running.hint()
        );
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    }
    println!();
    running.stop();
    let slapd_pid = slapd.pid();
    drop(slapd);
    println!("slapd (pid {slapd_pid}) stopped; its folder was removed.");
    println!("The demo took {:.1} s after the build.", began.elapsed().as_secs_f64());
    conclude(&surprises)
}

/// Runs the steps with the debug `dirconn`; returns the steps whose exit code was not the one expected.
/// The plugin's warnings are shown on the step whose title starts with `loud`; the others stay quiet.
fn run_steps(steps: &[Step<'_>], loud: &str) -> Result<Vec<String>, Error> {
    let dirconn = binary(false, "dirconn");
    let mut surprises = Vec::new();
    for step in steps {
        println!("\n== {} ==", step.title);
        println!(
            "$ dirconn {}{}",
            step.args.join(" "),
            if step.stdin.is_some() { "   (password on stdin)" } else { "" }
        );
        let log = if step.title.starts_with(loud) { "warn" } else { "error" };
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
    Ok(surprises)
}

fn conclude(surprises: &[String]) -> Result<(), Error> {
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

/// The Active Directory demo: a Samba AD DC with 2,500 users in this process's own network namespace (its
/// ports are fixed), and the `dirconn` command line against it over LDAPS.
pub fn run_ad(keep: bool) -> Result<(), Error> {
    if let Some(why) = samba::unavailable() {
        return Err(Error::Check(format!("the Active Directory demo cannot run here: {why}")));
    }
    ensure_samba()?;
    build_plugins(false, false)?;
    run_cmd(&["build", "--quiet", "-p", "dirconn"])?;
    samba::enter_private_network()
        .map_err(|source| Error::Io { what: "entering a network namespace".into(), source })?;
    println!("\nStarting a throwaway Samba AD DC (the first time, its template takes about a minute to build)…");
    let dc = SambaDc::start();
    println!("samba pid {} ready: {} (base {}, NT domain {})", dc.pid(), dc.ldaps_url(), dc.base_dn(), dc.nt_domain());
    let dir = dc.dir().join("dirconn");
    std::fs::create_dir_all(&dir).map_err(|source| Error::Io { what: "creating the demo folder".into(), source })?;
    let config = dir.join("dirconn.toml");
    let text = format!(
        r#"# dirconn demo configuration (written by cargo xtask demo --connector active-directory)
plugin_dir = "{plugins}"

[[domain]]
name = "example.com"
display_name = "Example AD"
connector = "active-directory"
login_suffixes = ["example.test", "corp.example.test"]
urls = ["{ldaps}"]
ca_file = "{ca}"
bind_dn = "{bind_dn}"
bind_password_file = "{secret}"
search_base = "{base}"
nt_domain = "{nt}"

[domain.groups]
assign_all = "mail-users"
[domain.groups.map]
"CN=devs,CN=Users,{base}" = "developers"
"#,
        plugins = dirconn_tests::stage::Staged::of("debug").plugin_dir.display(),
        ldaps = dc.ldaps_url(),
        ca = dc.ca_file().display(),
        bind_dn = dc.service_dn(),
        secret = dc.service_password_file().display(),
        base = dc.base_dn(),
        nt = dc.nt_domain(),
    );
    std::fs::write(&config, text)
        .map_err(|source| Error::Io { what: "writing the demo configuration".into(), source })?;
    println!("Configuration written to {}:\n", config.display());
    print!("{}", std::fs::read_to_string(&config).unwrap_or_default());
    let c = config.display().to_string();
    let args = |rest: &[&str]| -> Vec<String> {
        let mut v = vec!["--config".to_owned(), c.clone()];
        v.extend(rest.iter().map(|s| (*s).to_owned()));
        v
    };
    let steps = [
        Step {
            title: "Test the connection: DC, TLS, service account, naming context, user container, NT domain",
            args: args(&["test-connection", "example.com"]),
            stdin: None,
            expect: 0,
        },
        Step { title: "The filters in use", args: args(&["filter", "example.com"]), stdin: None, expect: 0 },
        Step {
            title: "Sync 2,500 users into the account store (paged; disabled users get no account)",
            args: args(&["sync", "example.com"]),
            stdin: None,
            expect: 0,
        },
        Step {
            title: "Sync again: incremental (uSNChanged on the same DC)",
            args: args(&["sync", "example.com"]),
            stdin: None,
            expect: 0,
        },
        Step {
            title: "alice logs in with her account name",
            args: args(&["login", "alice@example.com", "--password-stdin"]),
            stdin: Some("Passw0rd-alice"),
            expect: 0,
        },
        Step {
            title: "alice logs in as EXAMPLE\\alice",
            args: args(&["login", "EXAMPLE\\alice", "--password-stdin"]),
            stdin: Some("Passw0rd-alice"),
            expect: 0,
        },
        Step {
            title: "a user logs in with a UPN of another suffix",
            args: args(&["login", "upn.user@corp.example.test", "--password-stdin"]),
            stdin: Some("Passw0rd-upnuser"),
            expect: 0,
        },
        Step {
            title: "a disabled account (AD sub-code 533): the administrator sees why, the user is told as little as for a wrong password",
            args: args(&["login", "disabled-user@example.com", "--password-stdin"]),
            stdin: Some("Passw0rd-disabled-user"),
            expect: 1,
        },
        Step {
            title: "a password that must be changed (773)",
            args: args(&["test-auth", "example.com", "must-change", "--password-stdin"]),
            stdin: Some("Passw0rd-must-change"),
            expect: 1,
        },
        Step {
            title: "The service account resets bob's password (unicodePwd over LDAPS)",
            args: args(&["passwd", "example.com", "bob", "--password-stdin"]),
            stdin: Some("New-pass-42"),
            expect: 0,
        },
        Step {
            title: "bob logs in with the new password",
            args: args(&["login", "bob@example.com", "--password-stdin"]),
            stdin: Some("New-pass-42"),
            expect: 0,
        },
        Step {
            title: "A user whose primary group is a custom group, with the state and groups AD gives",
            args: args(&["lookup", "example.com", "primary-user"]),
            stdin: None,
            expect: 0,
        },
        Step {
            title: "alice's account: AD attributes mapped (company, city, country, photo), nested groups",
            args: args(&["accounts", "show", "alice@example.com"]),
            stdin: None,
            expect: 0,
        },
        Step {
            title: "The last sync reports",
            args: args(&["sync-report", "example.com", "--last", "2"]),
            stdin: None,
            expect: 0,
        },
    ];
    let surprises = run_steps(&steps, "no step")?;
    if keep {
        println!(
            "\nThe DC keeps running in this process's network namespace; from another shell, enter it with\n  nsenter -t {} -n cargo run -p dirconn -- --config {c} test-auth example.com alice\nPress Enter to stop it.",
            std::process::id()
        );
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
    }
    drop(dc);
    println!("\nThe Samba DC stopped; its folder was removed.");
    conclude(&surprises)
}
