//! `cargo xtask`: the project's automation, in Rust: build-plugins, demo, test, bench, docs, screenshots, dist, fuzz.

mod bench;
mod demo;
mod dist;
mod fuzz;

use std::{
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

use clap::{Parser, Subcommand};
use dirconn_tests::stage;

/// Automation for the dirconn workspace.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Task,
}

#[derive(Debug, Subcommand)]
enum Task {
    /// Build the connector plugins and stage them in target/<profile>/plugins (fixtures in …/test-plugins).
    BuildPlugins {
        /// Build with the release profile.
        #[arg(long)]
        release: bool,
        /// Also build the test fixture plugins.
        #[arg(long)]
        fixtures: bool,
    },
    /// Start a throwaway OpenLDAP on loopback, stage the plugins, log users in through the host, then run
    /// `dirconn serve` with (as root) a real Dovecot in front of it.
    Demo {
        /// Keep the directory running until Enter is pressed, to try commands by hand.
        #[arg(long)]
        keep: bool,
        /// `ldap` (OpenLDAP) or `active-directory` (a Samba AD DC in a private network namespace; root).
        #[arg(long, default_value = "ldap")]
        connector: String,
    },
    /// Format check, clippy with warnings denied, and every test (cargo-nextest).
    Test {
        /// Skip the format and clippy checks.
        #[arg(long)]
        no_lint: bool,
        /// Extra arguments for cargo nextest run (a filter, say).
        rest: Vec<String>,
    },
    /// The load run: 64 keep-alive clients logging in through a release `dirconn serve` for 60 s; prints the
    /// throughput, p99 and the RSS sampled every 5 s, and fails on any answer but a 200 or on RSS growth.
    Load(bench::LoadArgs),
    /// Benchmarks that run dirconn and a reference side by side and print the ratio.
    Bench {
        #[command(subcommand)]
        which: bench::Which,
    },
    /// Write the generated parts of docs/ (error codes, exit codes, connector keys) from the code; with
    /// --check, only say which pages differ (exit 1).
    Docs {
        /// Do not write; fail when a page differs.
        #[arg(long)]
        check: bool,
    },
    /// Build a release tarball and a `.deb` in target/dist (the binary, the plugins, a hardened systemd unit,
    /// an example configuration, the mail-server snippets, the man page and completions).
    Dist {
        /// The debug profile instead of release (quicker; what the package's test installs).
        #[arg(long)]
        debug: bool,
        /// The package's version (default: the workspace's).
        #[arg(long)]
        version: Option<String>,
        /// Where the packages go (default: target/dist).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run the cargo-fuzz targets of fuzz/ (nightly) over their committed corpora, each for a while, and
    /// print per target the runs, the corpus size and the crashes (exit 1 on a crash).
    Fuzz {
        /// Seconds each target runs.
        #[arg(long, default_value_t = 60)]
        seconds: u64,
        /// Only this target (the names of fuzz/fuzz_targets/*.rs).
        #[arg(long)]
        target: Option<String>,
        /// Minimise each corpus afterwards (`cargo fuzz cmin`), to commit it small.
        #[arg(long)]
        cmin: bool,
    },
    /// Take the web pages' screenshots of the docs again (docs/src/web/*.png), by running their browser
    /// tests (a headless Chromium: apt-get install chromium chromium-driver).
    Screenshots,
}

/// What can stop a task.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A command could not start or failed.
    #[error("`{command}` failed: {reason}")]
    Command {
        /// The command line.
        command: String,
        /// What happened.
        reason: String,
    },
    /// An I/O operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The OS's answer.
        source: std::io::Error,
    },
    /// A step of a task did not give the expected outcome.
    #[error("{0}")]
    Check(String),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Task::BuildPlugins { release, fixtures } => build_plugins(release, fixtures).map(|_| ()),
        Task::Demo { keep, connector } => match connector.as_str() {
            "ldap" => demo::run(keep),
            "active-directory" => demo::run_ad(keep),
            other => Err(Error::Check(format!("no demo for the `{other}` connector (ldap, active-directory)"))),
        },
        Task::Test { no_lint, rest } => test(no_lint, &rest),
        Task::Bench { which } => bench::run_bench(which),
        Task::Load(args) => bench::run_bench(bench::Which::Load(args)),
        Task::Docs { check } => docs(check),
        Task::Screenshots => screenshots(),
        Task::Dist { debug, version, out } => dist::dist(&dist::Dist { debug, version, out }).map(|_| ()),
        Task::Fuzz { seconds, target, cmin } => fuzz::fuzz(&fuzz::Fuzz { seconds, target, cmin }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err}");
            ExitCode::FAILURE
        }
    }
}

/// Builds and stages the plugins, printing where they went.
pub fn build_plugins(release: bool, fixtures: bool) -> Result<stage::Staged, Error> {
    let staged =
        stage::build(release, fixtures).map_err(|source| Error::Io { what: "building the plugins".into(), source })?;
    println!("plugins staged in {}", staged.plugin_dir.display());
    if fixtures {
        println!("test fixtures staged in {}", staged.fixture_dir.display());
    }
    Ok(staged)
}

/// Runs a command in the workspace root, failing on a non-zero exit.
pub fn run(program: &str, args: &[&str]) -> Result<(), Error> {
    let line = format!("{program} {}", args.join(" "));
    println!("$ {line}");
    let status = without_cargo_vars(Command::new(program))
        .args(args)
        .current_dir(stage::workspace_root())
        .status()
        .map_err(|e| Error::Command { command: line.clone(), reason: e.to_string() })?;
    if status.success() { Ok(()) } else { Err(Error::Command { command: line, reason: status.to_string() }) }
}

/// `cmd` without the variables `cargo run` set for xtask (CARGO_PKG_NAME, CARGO_MANIFEST_DIR…): build
/// scripts that watch them (ring's) would otherwise rebuild in the nested cargo, then again in the next
/// `cargo xtask`.
fn without_cargo_vars(mut cmd: Command) -> Command {
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_") && !matches!(key.as_ref(), "CARGO_HOME" | "CARGO_TARGET_DIR") {
            cmd.env_remove(key.as_ref());
        }
    }
    cmd
}

fn cargo_bin() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

fn test(no_lint: bool, rest: &[String]) -> Result<(), Error> {
    let cargo = cargo_bin();
    if !no_lint {
        run(&cargo, &["fmt", "--all", "--check"])?;
        run(&cargo, &["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"])?;
    }
    build_book()?;
    ensure_slapd()?;
    ensure_postgres()?;
    ensure_kdc()?;
    ensure_pam()?;
    ensure_browser()?;
    // A Samba AD DC needs root (its fixed ports live in a private network namespace); without root the
    // Active Directory tests say so and skip.
    if is_root() {
        ensure_samba()?;
        ensure_mail_servers()?;
    } else {
        eprintln!("not root: the Active Directory tests (a Samba AD DC) and the mail-server tests will be skipped");
    }
    build_plugins(false, true)?;
    let nextest =
        Command::new(&cargo).args(["nextest", "--version"]).output().map(|o| o.status.success()).unwrap_or(false);
    let mut args: Vec<&str> = if nextest {
        vec!["nextest", "run", "--workspace", "--no-fail-fast"]
    } else {
        eprintln!("cargo-nextest is not installed; running cargo test instead (cargo install cargo-nextest)");
        vec!["test", "--workspace", "--no-fail-fast"]
    };
    args.extend(rest.iter().map(String::as_str));
    let line = format!("{cargo} {}", args.join(" "));
    println!("$ {line}");
    let status = without_cargo_vars(Command::new(&cargo))
        .args(&args)
        .env("DIRCONN_TEST_PLUGINS_STAGED", "1")
        .current_dir(stage::workspace_root())
        .status()
        .map_err(|e| Error::Command { command: line.clone(), reason: e.to_string() })?;
    if status.success() { Ok(()) } else { Err(Error::Command { command: line, reason: status.to_string() }) }
}

/// Runs the web pages' browser tests with their screenshots written into docs/src/web.
fn screenshots() -> Result<(), Error> {
    let cargo = cargo_bin();
    ensure_slapd()?;
    ensure_browser()?;
    if is_root() {
        ensure_samba()?;
    }
    build_plugins(false, true)?;
    // The tests run the staged binary as it is: build it first.
    run(&cargo, &["build", "--quiet", "-p", "dirconn"])?;
    let dir = stage::workspace_root().join("docs/src/web");
    let args = ["nextest", "run", "-p", "dirconn-tests", "--test", "web_pages", "--no-fail-fast"];
    let line = format!("DIRCONN_SCREENSHOT_DIR={} {cargo} {}", dir.display(), args.join(" "));
    println!("$ {line}");
    let status = without_cargo_vars(Command::new(&cargo))
        .args(args)
        .env("DIRCONN_TEST_PLUGINS_STAGED", "1")
        .env("DIRCONN_SCREENSHOT_DIR", &dir)
        .current_dir(stage::workspace_root())
        .status()
        .map_err(|e| Error::Command { command: line.clone(), reason: e.to_string() })?;
    if status.success() { Ok(()) } else { Err(Error::Command { command: line, reason: status.to_string() }) }
}

/// The path of a built binary of the workspace.
pub fn binary(release: bool, name: &str) -> std::path::PathBuf {
    stage::target_dir().join(if release { "release" } else { "debug" }).join(name)
}

/// Builds the administrators' book with mdBook (installing it with `cargo install --locked mdbook` when it
/// is missing), so that a page that does not build fails the tests; links and anchors between the pages
/// are checked by the tidy test (`dirconn_docs::links`).
fn build_book() -> Result<(), Error> {
    let installed = || {
        std::env::var_os("CARGO_HOME")
            .map(std::path::PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")))
            .map(|home| home.join("bin/mdbook"))
            .filter(|p| p.is_file())
            .map(|p| p.to_string_lossy().into_owned())
            .or_else(|| have("mdbook").then(|| "mdbook".to_owned()))
    };
    let mdbook = match installed() {
        Some(mdbook) => mdbook,
        None => {
            println!("mdBook is not installed: installing it (once) to build the docs");
            run(&cargo_bin(), &["install", "--locked", "mdbook"])?;
            installed().ok_or_else(|| Error::Check("mdbook was installed but is not found".into()))?
        }
    };
    let out = stage::target_dir().join("book");
    let out = out.to_string_lossy();
    run(&mdbook, &["build", "docs", "--dest-dir", &out])
}

/// `cargo xtask docs`: writes (or, with `check`, compares) the pages generated from the code.
fn docs(check: bool) -> Result<(), Error> {
    let root = stage::workspace_root();
    let failed = |p: dirconn_docs::Problem| Error::Check(p.to_string());
    if check {
        let stale = dirconn_docs::stale(&root).map_err(failed)?;
        if stale.is_empty() {
            println!("docs: the generated parts are up to date");
            return Ok(());
        }
        let list: Vec<String> = stale.iter().map(|p| p.display().to_string()).collect();
        return Err(Error::Check(format!("docs differ from the code; run `cargo xtask docs`: {}", list.join(", "))));
    }
    for (path, text) in dirconn_docs::generate(&root).map_err(failed)? {
        if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            std::fs::write(&path, text).map_err(|source| Error::Io { what: path.display().to_string(), source })?;
            println!("docs: wrote {}", path.display());
        }
    }
    Ok(())
}

/// Makes sure OpenLDAP's slapd and ldap-utils are installed: as root with apt-get, installs them;
/// otherwise says what to install.
pub fn ensure_slapd() -> Result<(), Error> {
    let found = |p: &str| have(p) || Path::new("/usr/sbin").join(p).is_file();
    ensure_packages("OpenLDAP", &["slapd", "ldap-utils"], found("slapd") && found("ldapmodify"))
}

/// The Debian packages of a Dovecot whose logins go through dirconn's Lua script.
pub const MAIL_PACKAGES: [&str; 4] = ["dovecot-core", "dovecot-imapd", "dovecot-auth-lua", "lua-cjson"];

/// Makes sure Dovecot (IMAP) with its Lua passdb and lua-cjson is installed (as root with apt-get,
/// installs them; otherwise says what to install).
pub fn ensure_mail() -> Result<(), Error> {
    let present = MAIL_PACKAGES.iter().all(|p| {
        Command::new("dpkg-query")
            .args(["-W", "-f=${Status}", p])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
    });
    ensure_packages("Dovecot with Lua", &MAIL_PACKAGES, present)
}

/// The Debian packages of the mail servers the service's tests run against.
pub const MAIL_SERVER_PACKAGES: [&str; 9] = [
    "dovecot-core",
    "dovecot-imapd",
    "dovecot-auth-lua",
    "dovecot-ldap",
    "lua-cjson",
    "postfix",
    "postfix-ldap",
    "nginx",
    "libnginx-mod-mail",
];

/// Makes sure Dovecot (with Lua and LDAP), Postfix and nginx's mail module are installed (as root with
/// apt-get; Postfix's installer is told "No configuration" first, so nothing asks a question).
pub fn ensure_mail_servers() -> Result<(), Error> {
    let installed = |p: &&str| {
        Command::new("dpkg-query")
            .args(["-W", "-f=${Status}", p])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("install ok installed"))
    };
    let present = MAIL_SERVER_PACKAGES.iter().all(installed);
    if !present && is_root() {
        let mut debconf = Command::new("debconf-set-selections")
            .stdin(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| Error::Command { command: "debconf-set-selections".into(), reason: e.to_string() })?;
        if let Some(stdin) = debconf.stdin.as_mut() {
            use std::io::Write as _;
            let _ = stdin.write_all(b"postfix postfix/main_mailer_type select No configuration\n");
        }
        let _ = debconf.wait();
    }
    ensure_packages("the mail servers", &MAIL_SERVER_PACKAGES, present)
}

/// Makes sure a headless Chromium and its WebDriver are installed, for the web pages' browser tests (as root
/// with apt-get).
pub fn ensure_browser() -> Result<(), Error> {
    ensure_packages(
        "a headless browser",
        &["chromium", "chromium-driver"],
        dirconn_tests::browser::Browser::available(),
    )
}

/// Makes sure an MIT Kerberos KDC (`krb5kdc`, `kdb5_util`, `kadmin.local`) and its client tools are installed
/// (as root with apt-get; the packages start no daemon here, and the harness runs its own).
pub fn ensure_kdc() -> Result<(), Error> {
    let present = dirconn_tests::kdc::available() && have("kinit") && have("faketime");
    ensure_packages("an MIT Kerberos KDC", &["krb5-kdc", "krb5-admin-server", "krb5-user", "faketime"], present)
}

/// Makes sure pam_krb5 is installed for the PAM tests (pam_debug and pam_exec come with libpam-modules).
/// Installing libpam-krb5 runs pam-auth-update, which adds pam_krb5 to /etc/pam.d/common-*: that change is
/// undone at once (the tests read their own service files from a temp folder).
pub fn ensure_pam() -> Result<(), Error> {
    let present = Path::new("/usr/lib/x86_64-linux-gnu/security/pam_krb5.so").is_file();
    ensure_packages("pam_krb5", &["libpam-krb5", "libpam0g-dev"], present)?;
    if !present && have("pam-auth-update") {
        run("pam-auth-update", &["--package", "--disable", "krb5"])?;
    }
    Ok(())
}

/// Makes sure PostgreSQL's `initdb` and `postgres` are installed (in PATH or Debian's
/// /usr/lib/postgresql/*/bin): as root with apt-get, installs `postgresql`; otherwise says what to install.
pub fn ensure_postgres() -> Result<(), Error> {
    ensure_packages("PostgreSQL", &["postgresql"], dirconn_tests::postgres::Postgres::available())
}

/// The Debian packages of a Samba AD DC (see ../shared/REAL-SERVERS.md): `samba-ad-provision` is only
/// recommended by `samba-ad-dc`, and provisioning needs it.
pub const SAMBA_PACKAGES: [&str; 8] =
    ["samba", "samba-ad-dc", "samba-ad-provision", "krb5-user", "winbind", "ldb-tools", "faketime", "python3-samba"];

/// Makes sure a Samba AD DC can be provisioned (as root with apt-get, installs it).
pub fn ensure_samba() -> Result<(), Error> {
    let present =
        ["samba", "samba-tool", "faketime"].iter().all(|p| have(p) || Path::new("/usr/sbin").join(p).is_file())
            && Path::new("/usr/share/samba/setup/provision.ldif").is_file();
    ensure_packages("Samba AD DC", &SAMBA_PACKAGES, present)
}

/// Installs Debian `packages` with apt-get (as root) unless `present`; otherwise says what to install.
fn ensure_packages(what: &str, packages: &[&str], present: bool) -> Result<(), Error> {
    if present {
        return Ok(());
    }
    let list = packages.join(" ");
    if !(is_root() && have("apt-get")) {
        return Err(Error::Check(format!("{what} is needed: sudo apt-get install --no-install-recommends {list}")));
    }
    println!("Installing {what} ({list}) with apt-get…");
    run("apt-get", &["update", "-q"])?;
    let status = Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map_err(|e| Error::Command { command: "apt-get install".into(), reason: e.to_string() })?;
    if status.success() { Ok(()) } else { Err(Error::Check(format!("apt-get install {list} failed"))) }
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false)
}

/// Whether a program is on PATH.
pub fn have(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| Path::new(&d).join(program).is_file()))
        .unwrap_or(false)
}
