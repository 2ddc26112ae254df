//! `dirconn`: the administrator's command line: plugins, domains, connection tests, test logins.
//!
//! Exit codes: 0 ok; 1 denied (wrong password, locked, unknown user…); 2 usage or configuration error;
//! 3 directory unreachable (network, timeout, TLS); 4 internal error (a plugin failed).

mod audit;
mod output;

use std::{
    io::{BufRead, IsTerminal},
    path::PathBuf,
    process::ExitCode,
    time::Duration,
};

use clap::{Parser, Subcommand};
use dirconn_abi::{ClientContext, ErrorKind};
use dirconn_host::{Error, Host, HostConfig, PluginRegistry, SyncOptions, log_sink, sync_domain};
use zeroize::Zeroizing;

/// Connects a mail server's domains to their directories (Active Directory, Apple Open Directory and any
/// LDAP server).
#[derive(Debug, Parser)]
#[command(name = "dirconn", version, about, long_about = None)]
struct Cli {
    /// The configuration file.
    #[arg(long, short, env = "DIRCONN_CONFIG", default_value = "/etc/dirconn/dirconn.toml", global = true)]
    config: PathBuf,
    /// Load plugins from this folder instead of the configuration's plugin_dir.
    #[arg(long, env = "DIRCONN_PLUGIN_DIR", global = true)]
    plugin_dir: Option<PathBuf>,
    /// Print machine-readable JSON on standard output.
    #[arg(long, global = true)]
    json: bool,
    /// More log output on standard error (-v info, -vv debug, -vvv trace).
    #[arg(long, short, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the loaded plugins (kinds, versions, paths) and the files refused, with the reason.
    Plugins,
    /// List the configured domains and their connectors.
    Domains,
    /// Test a domain's directory stage by stage (URL, resolve, TCP, TLS, service bind, search base, filter).
    TestConnection {
        /// The mail domain.
        domain: String,
        /// Also look this user up (and bind as them with --password-stdin or --ask-password).
        #[arg(long)]
        login: Option<String>,
        /// Read the user's password from the first line of standard input.
        #[arg(long, requires = "login", conflicts_with = "ask_password")]
        password_stdin: bool,
        /// Ask for the user's password at the terminal.
        #[arg(long, requires = "login")]
        ask_password: bool,
    },
    /// Test a login against one domain and show what the directory returned.
    TestAuth {
        /// The mail domain.
        domain: String,
        /// The login within it.
        login: String,
        /// Read the password from the first line of standard input instead of asking.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Log in as a user would: user@domain is routed to its domain.
    Login {
        /// `user@domain`, or `user` with one domain or a default_domain.
        login: String,
        /// Read the password from the first line of standard input instead of asking.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Look a user up with the service account (no password).
    Lookup {
        /// The mail domain.
        domain: String,
        /// The login within it.
        login: String,
    },
    /// List the attribute names of the directory's schema and of a sample user (for attribute mapping).
    Attributes {
        /// The mail domain.
        domain: String,
    },
    /// Show the search base, scope and filters a domain uses.
    Filter {
        /// The mail domain.
        domain: String,
    },
    /// Sync a domain's directory users into the account store (incremental when the directory allows).
    Sync {
        /// The mail domain.
        domain: String,
        /// Show what would change; write nothing but the report.
        #[arg(long)]
        dry_run: bool,
        /// List every user even when an incremental sync is possible.
        #[arg(long)]
        full: bool,
        /// Deactivate accounts even beyond the deactivation guard.
        #[arg(long)]
        force: bool,
    },
    /// Show the last sync reports of a domain.
    SyncReport {
        /// The mail domain.
        domain: String,
        /// How many reports.
        #[arg(long, default_value_t = 5)]
        last: i64,
    },
    /// List or show accounts of the store.
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Manage local accounts (passwords kept as argon2id hashes; administrators work while the directory is down).
    #[command(subcommand)]
    Local(LocalCommand),
    /// Turn local accounts into directory-backed ones where a directory entry matches (login, then email).
    Migrate {
        /// The mail domain.
        domain: String,
        /// The accounts to migrate (logins within the domain).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        logins: Vec<String>,
        /// Every local account of the domain except administrators.
        #[arg(long)]
        all: bool,
    },
    /// Show the authentication audit: the login attempts of every interface, newest first.
    Audit {
        /// Only the attempts routed to this domain.
        domain: Option<String>,
        /// Only the attempts with this login as typed, or this account (`user@domain`).
        #[arg(long)]
        login: Option<String>,
        /// Only the attempts with this outcome: `ok` or an error code (`DC-203`).
        #[arg(long)]
        outcome: Option<String>,
        /// Only the attempts within this long before now (`15m`, `1h`, `7d`).
        #[arg(long, value_parser = humantime::parse_duration)]
        since: Option<Duration>,
        /// How many attempts at most (the newest).
        #[arg(long, default_value_t = dirconn_views::AUDIT_DEFAULT_LAST,
            value_parser = clap::value_parser!(i64).range(1..=dirconn_views::AUDIT_MAX_LAST))]
        last: i64,
    },
    /// Bring the account store to this version's schema (the service and every command do it when they open
    /// the store; packages run it at upgrade).
    UpgradeStore,
    /// Write the man page (`dirconn.1`) and the bash, zsh and fish completions into a folder (for packages).
    #[command(hide = true)]
    GenerateDocs {
        /// The folder.
        out: PathBuf,
    },
    /// Run the service: the HTTP API, the Dovecot auth sockets, Postfix socketmap tables, nginx auth_http,
    /// metrics and scheduled syncs ([service] table), until SIGTERM; SIGHUP reloads the configuration.
    Serve,
    /// Look a key up in one of Postfix's tables (mailbox, alias, domains, senders) as `dirconn serve`'s
    /// socketmap answers it, from the store. Exits 1 when the key is not found.
    Postmap {
        /// The table: mailbox, alias, domains or senders.
        #[arg(value_parser = clap::builder::ValueParser::new(|s: &str| s.parse::<dirconn_host::MailMap>()))]
        map: dirconn_host::MailMap,
        /// The key: an address (`user@domain`), or a domain for `domains`.
        key: String,
    },
    /// Reset a directory user's password with the service account, or change it as the user (--change).
    /// Active Directory: over LDAPS or StartTLS only.
    Passwd {
        /// The mail domain.
        domain: String,
        /// The login within it (`user`, `user@upn-suffix`, `DOMAIN\user`).
        login: String,
        /// Change the password as the user: the current password is asked first.
        #[arg(long)]
        change: bool,
        /// Read the passwords from standard input: the current one first with --change, then the new one.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Subcommand)]
enum AccountsCommand {
    /// List the accounts of one domain, or of all.
    List {
        /// The mail domain (all domains if left out).
        domain: Option<String>,
    },
    /// Show one account with its fields and groups.
    Show {
        /// `user@domain`.
        login: String,
    },
}

#[derive(Debug, Subcommand)]
enum LocalCommand {
    /// Create a local account.
    Add {
        /// `user@domain`.
        login: String,
        /// Make it an administrator.
        #[arg(long)]
        admin: bool,
        /// Read the password from the first line of standard input instead of asking.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Set a local account's password.
    Passwd {
        /// `user@domain`.
        login: String,
        /// Read the password from the first line of standard input instead of asking.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Delete a local account.
    Remove {
        /// `user@domain`.
        login: String,
    },
}

/// What the command line exits with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    Ok = 0,
    Denied = 1,
    Config = 2,
    Unreachable = 3,
    Internal = 4,
}

impl From<ErrorKind> for Exit {
    fn from(kind: ErrorKind) -> Exit {
        match dirconn_views::exit_code(kind) {
            1 => Exit::Denied,
            2 => Exit::Config,
            3 => Exit::Unreachable,
            _ => Exit::Internal,
        }
    }
}

fn main() -> ExitCode {
    // Die quietly like other tools when the reader of our output goes away (`dirconn … | head`).
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    if let Command::GenerateDocs { out } = &cli.command {
        return match generate_docs(out) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("dirconn: writing the man page and completions into {}: {e}", out.display());
                ExitCode::from(Exit::Internal as u8)
            }
        };
    }
    init_logging(cli.verbose);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    let exit = match runtime.block_on(run(&cli)) {
        Ok(exit) => exit,
        Err(err) => {
            output::error(&err, cli.json);
            Exit::from(err.kind())
        }
    };
    ExitCode::from(exit as u8)
}

/// The man page and the shell completions, from the command line's definition.
fn generate_docs(out: &std::path::Path) -> std::io::Result<()> {
    use clap::CommandFactory as _;
    std::fs::create_dir_all(out)?;
    let mut page = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut page)?;
    std::fs::write(out.join("dirconn.1"), page)?;
    for shell in [clap_complete::Shell::Bash, clap_complete::Shell::Zsh, clap_complete::Shell::Fish] {
        clap_complete::generate_to(shell, &mut Cli::command(), "dirconn", out)?;
    }
    Ok(())
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("DIRCONN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colours only on a terminal: logs redirected to a file or a journal stay plain text.
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

fn load(cli: &Cli) -> Result<Host, Error> {
    Host::load(&cli.config, cli.plugin_dir.as_deref())
}

async fn run(cli: &Cli) -> Result<Exit, Error> {
    match &cli.command {
        // Handled in `main`, before any configuration is read.
        Command::GenerateDocs { .. } => Ok(Exit::Ok),
        Command::Plugins => {
            let dir = match &cli.plugin_dir {
                Some(dir) => dir.clone(),
                None => HostConfig::load(&cli.config)?.plugin_dir,
            };
            let registry = PluginRegistry::load_dir(&dir, log_sink())?;
            output::plugins(&dir, &registry, cli.json);
            Ok(Exit::Ok)
        }
        Command::Domains => {
            output::domains(&load(cli)?, cli.json);
            Ok(Exit::Ok)
        }
        Command::UpgradeStore => {
            let config = HostConfig::load(&cli.config)?;
            let store = dirconn_store::Store::open(&config.store).await?;
            let message =
                format!("The account store {} is at schema version {}.", store.url(), dirconn_store::schema_version());
            output::done(&message, cli.json);
            store.close().await;
            Ok(Exit::Ok)
        }
        Command::TestConnection { domain, login, password_stdin, ask_password } => {
            let host = load(cli)?;
            let domain = host.domain(domain)?;
            let password = match (login, password_stdin, ask_password) {
                (Some(login), true, _) => Some(read_password(true, login)?),
                (Some(login), _, true) => Some(read_password(false, login)?),
                _ => None,
            };
            let report = domain.test_connection(login.as_deref(), password.as_deref().map(|p| p.as_str())).await?;
            output::report(domain, &report, cli.json);
            Ok(report.first_failure().and_then(|s| s.error.as_ref().into_option()).map_or(Exit::Ok, |e| e.kind.into()))
        }
        Command::TestAuth { domain, login, password_stdin } => {
            let host = load(cli)?;
            let domain = host.domain(domain)?;
            let password = read_password(*password_stdin, login)?;
            let started = std::time::Instant::now();
            let outcome = domain.authenticate(login, &password, cli_client()).await;
            output::auth(domain, login, &outcome, started.elapsed(), cli.json);
            if !cli.json {
                // Which check answered: the connector's `password_check` (the LDAP-based connectors' key).
                let settings = host.config().domains.iter().find(|d| d.name == domain.name).map(|d| &d.settings);
                let check = settings.and_then(|s| s.get("password_check")).and_then(|v| v.as_str()).unwrap_or("bind");
                println!(
                    "  password check: {check} (`dirconn test-connection {} --login {login}` shows each stage)",
                    domain.name
                );
            }
            Ok(outcome.map_or_else(|e| e.kind().into(), |_| Exit::Ok))
        }
        Command::Login { login, password_stdin } => {
            let host = load(cli)?;
            let route = host.route(login)?;
            let password = read_password(*password_stdin, login)?;
            let store = host.open_store().await?;
            let (at, started) = (dirconn_store::now_ms(), std::time::Instant::now());
            let outcome = host.login_account(&store, login, &password, cli_client()).await;
            let took = started.elapsed();
            audit::record_login(&store, &route.domain.name, login, &outcome, at, took).await;
            output::account_login(route.domain, route.login, &outcome, took, cli.json);
            Ok(outcome.map_or_else(|e| e.kind().into(), |_| Exit::Ok))
        }
        Command::Sync { domain, dry_run, full, force } => {
            let host = load(cli)?;
            let domain = host.domain(domain)?;
            let store = host.open_store().await?;
            let opts = SyncOptions { dry_run: *dry_run, full: *full, force: *force };
            let bar = progress_bar(cli.json);
            let result = sync_domain(domain, &store, opts, |p| {
                if let Some(bar) = &bar {
                    bar.set_message(format!(
                        "{} users read, {} created, {} updated, {} errors",
                        p.seen, p.counts.created, p.counts.updated, p.counts.errors
                    ));
                    bar.tick();
                }
            })
            .await;
            if let Some(bar) = bar {
                bar.finish_and_clear();
            }
            let report = result?;
            output::sync_report(&report, cli.json);
            Ok(Exit::Ok)
        }
        Command::SyncReport { domain, last } => {
            let host = load(cli)?;
            let domain = host.domain(domain)?;
            let store = host.open_store().await?;
            output::sync_reports(&store.reports(&domain.name, *last).await?, cli.json);
            Ok(Exit::Ok)
        }
        Command::Audit { domain, login, outcome, since, last } => {
            let host = load(cli)?;
            let domain = domain.as_deref().map(|d| host.domain(d)).transpose()?;
            let store = host.open_store().await?;
            let query = audit::query(domain.map(|d| d.name.clone()), login, outcome, *since, *last);
            output::audit(&store.audit(&query).await?, cli.json);
            Ok(Exit::Ok)
        }
        Command::Postmap { map, key } => {
            let host = load(cli)?;
            let store = host.open_store().await?;
            let value = host.lookup_map(&store, *map, key).await?;
            let found = value.is_some();
            output::map_lookup(&dirconn_views::MapLookup::new(map.name(), key, value), cli.json);
            Ok(if found { Exit::Ok } else { Exit::Denied })
        }
        Command::Accounts(AccountsCommand::List { domain }) => {
            let host = load(cli)?;
            let domain = domain.as_deref().map(|d| host.domain(d)).transpose()?;
            let store = host.open_store().await?;
            output::accounts(&store.accounts(domain.map(|d| d.name.as_str())).await?, cli.json);
            Ok(Exit::Ok)
        }
        Command::Accounts(AccountsCommand::Show { login }) => {
            let host = load(cli)?;
            let route = host.route(login)?;
            let store = host.open_store().await?;
            let name = dirconn_host::accounts::account_name(route.login);
            match store.account(&route.domain.name, &name).await? {
                Some(account) => {
                    output::account(&account, cli.json);
                    Ok(Exit::Ok)
                }
                None => Err(Error::Account {
                    message: format!("There is no account {name}@{}.", route.domain.name),
                    fix: "`dirconn accounts list` shows the accounts; `dirconn sync` imports directory users.".into(),
                }),
            }
        }
        Command::Local(LocalCommand::Add { login, admin, password_stdin }) => {
            let host = load(cli)?;
            let password = read_password(*password_stdin, login)?;
            let store = host.open_store().await?;
            let account = host.add_local(&store, login, &password, *admin).await?;
            output::done(&format!("created the local account {}@{}", account.login, account.domain), cli.json);
            Ok(Exit::Ok)
        }
        Command::Local(LocalCommand::Passwd { login, password_stdin }) => {
            let host = load(cli)?;
            let password = read_password(*password_stdin, login)?;
            let store = host.open_store().await?;
            let account = host.set_local_password(&store, login, &password).await?;
            output::done(&format!("set the password of {}@{}", account.login, account.domain), cli.json);
            Ok(Exit::Ok)
        }
        Command::Local(LocalCommand::Remove { login }) => {
            let host = load(cli)?;
            let store = host.open_store().await?;
            let account = host.remove_local(&store, login).await?;
            output::done(&format!("deleted the local account {}@{}", account.login, account.domain), cli.json);
            Ok(Exit::Ok)
        }
        Command::Migrate { domain, logins, all: _ } => {
            let host = load(cli)?;
            let store = host.open_store().await?;
            let report = host.migrate(&store, domain, logins).await?;
            output::migration(&report, cli.json);
            Ok(Exit::Ok)
        }
        Command::Passwd { domain, login, change, password_stdin } => {
            let host = load(cli)?;
            let domain = host.domain(domain)?;
            let old = if *change {
                Some(read_secret(*password_stdin, &format!("Current password for {login}: "))?)
            } else {
                None
            };
            let new = read_secret(*password_stdin, &format!("New password for {login}: "))?;
            if !*password_stdin && *read_secret(false, &format!("New password for {login} again: "))? != *new {
                return Err(Error::Input {
                    message: "the two new passwords differ; nothing was changed.".into(),
                    fix: "Run the command again and type the same new password twice.".into(),
                });
            }
            let outcome = domain.set_password(login, old.as_deref().map(|p| p.as_str()), &new).await;
            output::password(domain, login, *change, &outcome, cli.json);
            Ok(outcome.map_or_else(|e| e.kind().into(), |()| Exit::Ok))
        }
        Command::Serve => {
            let opts = dirconn_service::Options {
                config: cli.config.clone(),
                plugin_dir: cli.plugin_dir.clone(),
                web: Some(dirconn_web::router),
            };
            match dirconn_service::run(opts).await {
                Ok(()) => Ok(Exit::Ok),
                Err(dirconn_service::StartError::Host(e)) => Err(e),
                Err(dirconn_service::StartError::Service(e)) => {
                    output::service_error(&e, cli.json);
                    Ok(Exit::Config)
                }
            }
        }
        Command::Lookup { domain, login } => {
            let host = load(cli)?;
            let domain = host.domain(domain)?;
            let user = domain.lookup(login).await?;
            output::user(domain, &user, cli.json);
            Ok(Exit::Ok)
        }
        Command::Attributes { domain } => {
            let host = load(cli)?;
            let domain = host.domain(domain)?;
            output::attributes(domain, &domain.attributes().await?, cli.json);
            Ok(Exit::Ok)
        }
        Command::Filter { domain } => {
            let host = load(cli)?;
            let domain = host.domain(domain)?;
            output::filter(domain, &domain.filter()?, cli.json);
            Ok(Exit::Ok)
        }
    }
}

/// A spinner with counts on a terminal; nothing when the output is JSON or not a terminal.
fn progress_bar(as_json: bool) -> Option<indicatif::ProgressBar> {
    if as_json || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    Some(bar)
}

fn cli_client() -> ClientContext {
    ClientContext {
        address: abi_stable::std_types::ROption::RNone,
        protocol: abi_stable::std_types::ROption::RSome("cli".into()),
    }
}

/// Reads a password from standard input's first line, or asks at the terminal. Never from argv.
fn read_password(from_stdin: bool, login: &str) -> Result<Zeroizing<String>, Error> {
    read_secret(from_stdin, &format!("Password for {login}: "))
}

/// Reads one secret: the next line of standard input, or an answer at the terminal to `prompt`.
fn read_secret(from_stdin: bool, prompt: &str) -> Result<Zeroizing<String>, Error> {
    let usage = |problem: String| Error::Input {
        message: problem,
        fix: "Run it at a terminal to be asked, or pass the password on standard input with --password-stdin.".into(),
    };
    if from_stdin {
        let mut line = Zeroizing::new(String::new());
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| usage(format!("reading the password from standard input failed: {e}.")))?;
        let trimmed = Zeroizing::new(line.trim_end_matches(['\n', '\r']).to_owned());
        return Ok(trimmed);
    }
    if !std::io::stdin().is_terminal() {
        return Err(usage(
            "there is no terminal to ask for the password; pass it on standard input with --password-stdin.".into(),
        ));
    }
    rpassword::prompt_password(prompt)
        .map(Zeroizing::new)
        .map_err(|e| usage(format!("the password prompt failed: {e}.")))
}
