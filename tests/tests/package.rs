//! The `.deb` of `cargo xtask dist`, installed on this machine with dpkg (root only; in CI it must run):
//! the binary and its plugins answer from their installed places, the service user, state folder, unit, man
//! page and completions are there; an upgrade keeps the configuration and the store and brings the store to
//! the new schema as the service user; a purge leaves nothing behind.

use std::{
    path::Path,
    process::{Command, Output},
};

use dirconn_tests::stage;

fn sh(program: &str, args: &[&str]) -> Output {
    Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"))
}

#[track_caller]
fn ok(out: Output, what: &str) -> String {
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{what} failed ({}):\n{text}", out.status);
    text
}

/// As the service user.
fn as_dirconn(args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write as _;
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=dirconn", "--regid=dirconn", "--init-groups", "/usr/bin/dirconn"]).args(args);
    cmd.stdin(std::process::Stdio::piped()).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("setpriv");
    if let Some(text) = stdin {
        child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

/// Purges the package when the test ends, however it ends.
struct Purge;

impl Drop for Purge {
    fn drop(&mut self) {
        let _ = sh("dpkg", &["--purge", "dirconn"]);
    }
}

fn build(version: &str, out: &Path) -> std::path::PathBuf {
    let out_text = out.display().to_string();
    stage::cargo(&["xtask", "dist", "--debug", "--version", version, "--out", &out_text]).expect("cargo xtask dist");
    let arch = String::from_utf8(sh("dpkg", &["--print-architecture"]).stdout).unwrap().trim().to_owned();
    out.join(format!("dirconn_{version}_{arch}.deb"))
}

#[test]
fn the_deb_installs_upgrades_keeping_the_store_and_purges() {
    let root = unsafe { libc::geteuid() } == 0;
    if !root || !Path::new("/usr/bin/dpkg-deb").exists() {
        assert!(std::env::var_os("CI").is_none(), "the package test must run in CI (root, dpkg)");
        eprintln!("skipped: installing a .deb needs root and dpkg");
        return;
    }
    // Never over a dirconn installed by someone else.
    if Path::new("/usr/bin/dirconn").exists() || Path::new("/etc/dirconn").exists() {
        assert!(std::env::var_os("CI").is_none(), "/usr/bin/dirconn or /etc/dirconn exists on the CI machine");
        eprintln!("skipped: dirconn is installed on this machine");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let first = build("0.1.0~pkgtest1", dir.path());
    let second = build("0.1.0~pkgtest2", dir.path());
    let _purge = Purge;

    ok(sh("dpkg", &["-i", &first.display().to_string()]), "dpkg -i");
    let version = ok(sh("/usr/bin/dirconn", &["--version"]), "dirconn --version");
    assert!(version.starts_with("dirconn 0.1.0"), "{version}");
    let plugins = ok(sh("/usr/bin/dirconn", &["plugins"]), "dirconn plugins");
    for kind in ["ldap", "active-directory", "open-directory"] {
        assert!(plugins.contains(kind), "the installed plugins lack {kind}:\n{plugins}");
    }
    assert!(plugins.contains("/usr/lib/dirconn/plugins"), "{plugins}");
    ok(sh("getent", &["passwd", "dirconn"]), "the service user");
    for file in [
        "/lib/systemd/system/dirconn.service",
        "/usr/share/man/man1/dirconn.1.gz",
        "/usr/share/bash-completion/completions/dirconn",
        "/usr/share/zsh/vendor-completions/_dirconn",
        "/usr/share/fish/vendor_completions.d/dirconn.fish",
        "/usr/share/doc/dirconn/examples/dovecot/dirconn.lua",
        "/var/lib/dirconn",
    ] {
        assert!(Path::new(file).exists(), "{file} is not installed");
    }
    let unit = std::fs::read_to_string("/lib/systemd/system/dirconn.service").unwrap();
    for line in ["User=dirconn", "ProtectSystem=strict", "NoNewPrivileges=yes", "StateDirectory=dirconn"] {
        assert!(unit.contains(line), "the unit lacks {line}");
    }
    let conf = ok(sh("stat", &["-c", "%a %G", "/etc/dirconn/dirconn.toml"]), "stat");
    assert_eq!(conf.trim(), "640 dirconn");

    // The administrator adds a domain and a local account (the store is the service user's).
    let text = std::fs::read_to_string("/etc/dirconn/dirconn.toml").unwrap();
    let domain = "[[domain]]\nname = \"example.org\"\nconnector = \"ldap\"\nurls = [\"ldap://127.0.0.1:1\"]\n\
        bind_dn = \"cn=dirconn,dc=example,dc=org\"\nbind_password = \"unused\"\nsearch_base = \"dc=example,dc=org\"\n\n";
    std::fs::write("/etc/dirconn/dirconn.toml", text.replacen("[service]", &format!("{domain}[service]"), 1)).unwrap();
    ok(
        as_dirconn(&["local", "add", "postmaster@example.org", "--admin", "--password-stdin"], Some("a-long-password")),
        "local add",
    );

    // The upgrade keeps the configuration (a changed conffile) and the store, and migrates it as the user.
    let upgrade = ok(sh("dpkg", &["-i", "--force-confold", &second.display().to_string()]), "the upgrade");
    let schema = dirconn_store::schema_version();
    assert!(upgrade.contains(&format!("schema version {schema}")), "the upgrade did not migrate the store:\n{upgrade}");
    assert!(std::fs::read_to_string("/etc/dirconn/dirconn.toml").unwrap().contains("example.org"));
    let accounts = ok(as_dirconn(&["accounts", "list"], None), "accounts list");
    assert!(accounts.contains("postmaster"), "{accounts}");
    let installed = ok(sh("dpkg-query", &["-W", "-f=${Version}", "dirconn"]), "dpkg-query");
    assert_eq!(installed, "0.1.0~pkgtest2");

    // A purge removes the files, the state and the user.
    ok(sh("dpkg", &["--purge", "dirconn"]), "dpkg --purge");
    for gone in ["/usr/bin/dirconn", "/usr/lib/dirconn", "/var/lib/dirconn", "/etc/dirconn"] {
        assert!(!Path::new(gone).exists(), "{gone} is left after the purge");
    }
    assert!(!sh("getent", &["passwd", "dirconn"]).status.success(), "the service user is left");
}
