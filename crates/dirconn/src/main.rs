//! `dirconn`: the administrator's command line: plugins, domains, connection tests, test logins.
//!
//! Exit codes: 0 ok; 1 denied (wrong password, locked, unknown user…); 2 usage or configuration error;
//! 3 directory unreachable (network, timeout, TLS); 4 internal error (a plugin failed).

mod output;

use std::{
    io::{BufRead, IsTerminal},
    path::PathBuf,
    process::ExitCode,
};

use clap::{Parser, Subcommand};
use dirconn_abi::{ClientContext, ErrorKind};
use dirconn_host::{Error, Host, HostConfig, PluginRegistry, log_sink};
use zeroize::Zeroizing;

/// Connects a mail server's domains to their directories (Active Directory, Open Directory, LDAP).
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
        match kind {
            k if k.is_denial() => Exit::Denied,
            ErrorKind::Configuration => Exit::Config,
            ErrorKind::Unreachable | ErrorKind::Timeout | ErrorKind::Tls => Exit::Unreachable,
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
    init_logging(cli.verbose);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
    let exit = match runtime.block_on(run(&cli)) {
        Ok(exit) => exit,
        Err(err) => {
            output::error(&err, cli.json);
            Exit::from(err.kind())
        }
    };
    ExitCode::from(exit as u8)
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
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

fn load(cli: &Cli) -> Result<Host, Error> {
    Host::load(&cli.config, cli.plugin_dir.as_deref())
}

async fn run(cli: &Cli) -> Result<Exit, Error> {
    match &cli.command {
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
            Ok(outcome.map_or_else(|e| e.kind().into(), |_| Exit::Ok))
        }
        Command::Login { login, password_stdin } => {
            let host = load(cli)?;
            let route = host.route(login)?;
            let password = read_password(*password_stdin, login)?;
            let started = std::time::Instant::now();
            let outcome = route.domain.authenticate(route.login, &password, cli_client()).await;
            output::auth(route.domain, route.login, &outcome, started.elapsed(), cli.json);
            Ok(outcome.map_or_else(|e| e.kind().into(), |_| Exit::Ok))
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

fn cli_client() -> ClientContext {
    ClientContext {
        address: abi_stable::std_types::ROption::RNone,
        protocol: abi_stable::std_types::ROption::RSome("cli".into()),
    }
}

/// Reads a password from standard input's first line, or asks at the terminal. Never from argv.
fn read_password(from_stdin: bool, login: &str) -> Result<Zeroizing<String>, Error> {
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
    rpassword::prompt_password(format!("Password for {login}: "))
        .map(Zeroizing::new)
        .map_err(|e| usage(format!("the password prompt failed: {e}.")))
}
