//! `dirconn serve` as a process for integration tests: a temporary folder with the staged generic LDAP
//! plugin, a configuration written from a [`ServeSpec`] (domains, store, `[service]` with the HTTP API and
//! the metrics listener on free `127.0.0.1` ports, one mail-server and one admin client with their token
//! files), the built `dirconn` binary started on it with its log in a file, ready once `/healthz` answers,
//! and stopped by its PID on drop (SIGTERM, then SIGKILL).

use std::{
    fs,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use tempfile::TempDir;

use crate::{
    DomainSpec,
    http::Http,
    net::free_port,
    process::{spawn_tied_to_process, stop_child},
    stage,
};

/// The log filter the service runs with: debug for dirconn and its plugins, quieter libraries.
pub const LOG_FILTER: &str = "debug,hyper=info,hyper_util=info,h2=info,rustls=info,sqlx=warn,tower=info,mio=info";

const START_ATTEMPTS: usize = 3;
const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// One `[[service.client]]`.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    /// Its name.
    pub name: String,
    /// `mail-server` or `admin`.
    pub role: String,
    /// The token written into `<name>.token`.
    pub token: String,
}

impl ClientSpec {
    /// A client with a fresh random token.
    pub fn new(name: &str, role: &str) -> ClientSpec {
        ClientSpec { name: name.to_owned(), role: role.to_owned(), token: random_token() }
    }
}

/// A random 32-character token.
pub fn random_token() -> String {
    let bytes: [u8; 16] = rand::random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the service is configured with, besides its listeners.
#[derive(Debug, Clone)]
pub struct ServeSpec {
    /// The `[[domain]]` sections.
    pub domains: Vec<DomainSpec>,
    /// The store URL; `None`: `accounts.db` in the service's folder.
    pub store: Option<String>,
    /// `default_domain`.
    pub default_domain: Option<String>,
    /// Extra lines of the `[service]` table (`retry_after_seconds = 7`).
    pub service: Vec<String>,
    /// The clients: by default `mail` (mail-server) and `admin` (admin).
    pub clients: Vec<ClientSpec>,
    /// Another `dirconn` binary (a release build, for benchmarks); `None`: the tests' debug build.
    pub binary: Option<PathBuf>,
    /// Another generic LDAP plugin file; `None`: the tests' staged one.
    pub plugin: Option<PathBuf>,
}

impl ServeSpec {
    /// These domains, the default store, the two default clients.
    pub fn new(domains: Vec<DomainSpec>) -> ServeSpec {
        ServeSpec {
            domains,
            store: None,
            default_domain: None,
            service: Vec::new(),
            clients: vec![ClientSpec::new("mail", "mail-server"), ClientSpec::new("admin", "admin")],
            binary: None,
            plugin: None,
        }
    }

    /// The token of the client named `name`.
    pub fn token(&self, name: &str) -> &str {
        &self.clients.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no client {name}")).token
    }
}

/// A running `dirconn serve`.
#[derive(Debug)]
pub struct Serve {
    child: Option<Child>,
    pid: u32,
    api: SocketAddr,
    metrics: SocketAddr,
    spec: ServeSpec,
    config: PathBuf,
    log: PathBuf,
    // Last: removed after the process is stopped.
    dir: TempDir,
}

impl Serve {
    /// Writes the configuration and starts the service; returns once `/healthz` answers. Panics with the
    /// service's log when it does not come up.
    pub fn start(spec: ServeSpec) -> Serve {
        let mut dir = tempfile::Builder::new().prefix("dirconn-serve-").tempdir().expect("temp dir");
        let plugin_dir = dir.path().join("plugins");
        fs::create_dir(&plugin_dir).expect("plugin dir");
        let ldap = spec.plugin.clone().unwrap_or_else(|| stage::for_tests().ldap());
        let target = ldap.canonicalize().unwrap_or_else(|e| panic!("plugin {}: {e}", ldap.display()));
        std::os::unix::fs::symlink(target, plugin_dir.join(ldap.file_name().expect("a file"))).expect("symlink");
        // The Active Directory plugin and the echo fixture too, when a domain needs them.
        for (kind, plugin) in
            [("active-directory", stage::for_tests().active_directory()), ("fixture-echo", stage::for_tests().echo())]
        {
            if spec.domains.iter().any(|d| d.toml().contains(&format!("connector = \"{kind}\""))) {
                let target = plugin.canonicalize().unwrap_or_else(|e| panic!("plugin {}: {e}", plugin.display()));
                std::os::unix::fs::symlink(target, plugin_dir.join(plugin.file_name().expect("a file")))
                    .expect("symlink");
            }
        }
        let mut failures = Vec::new();
        loop {
            let api = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
            let mut serve = Serve {
                child: None,
                pid: 0,
                api,
                metrics,
                spec: spec.clone(),
                config: dir.path().join("dirconn.toml"),
                log: dir.path().join("serve.log"),
                dir,
            };
            serve.write_spec();
            match serve.launch() {
                Ok(()) => return serve,
                Err(failure) => {
                    failures.push(failure);
                    // A port taken in the race between free_port and the bind: try other ports.
                    if failures.len() == START_ATTEMPTS || !serve.log().contains("DC-802") {
                        panic!("dirconn serve did not start:\n{}", failures.join("\n---\n"));
                    }
                    dir = std::mem::replace(&mut serve.dir, TempDir::new().expect("temp dir"));
                }
            }
        }
    }

    fn launch(&mut self) -> Result<(), String> {
        let log = fs::File::create(&self.log).expect("log file");
        let binary = self.spec.binary.clone().unwrap_or_else(|| stage::dirconn_binary().to_owned());
        let mut cmd = Command::new(binary);
        cmd.arg("--config")
            .arg(&self.config)
            .arg("serve")
            .env_remove("DIRCONN_PLUGIN_DIR")
            .env("DIRCONN_LOG", LOG_FILTER)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        let child = spawn_tied_to_process(cmd, libc::SIGTERM).map_err(|e| format!("cannot run dirconn: {e}"))?;
        self.pid = child.id();
        self.child = Some(child);
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                return Err(format!("dirconn serve exited early ({status}); log:\n{}", self.log()));
            }
            if let Ok(r) = self.metrics().send("GET", "/healthz", &[], None)
                && r.status == 200
            {
                return Ok(());
            }
            if Instant::now() > deadline {
                self.stop();
                return Err(format!("/healthz did not answer within {READY_TIMEOUT:?}; log:\n{}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The configuration text of `spec` with this service's listeners (token files written beside).
    pub fn render(&self, spec: &ServeSpec) -> String {
        let mut text = format!("plugin_dir = \"{}\"\n", self.dir.path().join("plugins").display());
        if let Some(store) = &spec.store {
            text.push_str(&format!("store = \"{store}\"\n"));
        }
        if let Some(d) = &spec.default_domain {
            text.push_str(&format!("default_domain = \"{d}\"\n"));
        }
        text.push('\n');
        for d in &spec.domains {
            text.push_str(&d.toml());
            text.push('\n');
        }
        text.push_str(&format!(
            "[service]\nlisten = [\"{}\"]\nmetrics_listen = \"{}\"\nprobe_interval = \"1h\"\n",
            self.api, self.metrics
        ));
        for line in &spec.service {
            text.push_str(line);
            text.push('\n');
        }
        for c in &spec.clients {
            let file = format!("{}.token", c.name);
            fs::write(self.dir.path().join(&file), format!("{}\n", c.token)).expect("token file");
            text.push_str(&format!(
                "\n[[service.client]]\nname = \"{}\"\ntoken_file = \"{file}\"\nrole = \"{}\"\n",
                c.name, c.role
            ));
        }
        text
    }

    fn write_spec(&self) {
        self.write_config(&self.render(&self.spec));
    }

    /// Replaces the configuration file (takes effect at the next [`Serve::reload`]).
    pub fn write_config(&self, text: &str) {
        let tmp = self.dir.path().join(".dirconn.toml.tmp");
        fs::write(&tmp, text).expect("write config");
        fs::rename(&tmp, &self.config).expect("rename config");
    }

    /// Puts a new spec in the configuration file (takes effect at the next [`Serve::reload`]).
    pub fn set_spec(&mut self, spec: ServeSpec) {
        self.spec = spec;
        self.write_spec();
    }

    /// The spec the configuration file was last written from.
    pub fn spec(&self) -> &ServeSpec {
        &self.spec
    }

    /// The HTTP API's address.
    pub fn api_addr(&self) -> SocketAddr {
        self.api
    }

    /// The metrics listener's address.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics
    }

    /// A client of the API with the mail-server token.
    pub fn client(&self) -> Http {
        Http::new(self.api).with_token(self.spec.token("mail"))
    }

    /// A client of the API with the admin token.
    pub fn admin(&self) -> Http {
        Http::new(self.api).with_token(self.spec.token("admin"))
    }

    /// A client of the API without a token.
    pub fn anonymous(&self) -> Http {
        Http::new(self.api)
    }

    /// A client of the metrics listener.
    pub fn metrics(&self) -> Http {
        Http::new(self.metrics).with_timeout(Duration::from_secs(10))
    }

    /// The folder holding the configuration, token files, log and default store.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The configuration file.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// The default SQLite store's file (when [`ServeSpec::store`] is `None`).
    pub fn sqlite_path(&self) -> PathBuf {
        self.dir.path().join("accounts.db")
    }

    /// The store's URL as a test opens it.
    pub fn store_url(&self) -> String {
        self.spec.store.clone().unwrap_or_else(|| self.sqlite_path().display().to_string())
    }

    /// Runs `dirconn --config <the service's> ARGS` (the service's binary) with `stdin` (one line) as its
    /// standard input.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> std::process::Output {
        let binary = self.spec.binary.clone().unwrap_or_else(|| stage::dirconn_binary().to_owned());
        crate::process::dirconn_cli(&binary, &self.config, args, stdin)
    }

    /// The service's log so far (stdout and stderr).
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits until `needle` occurs at least `times` times in the log; false on timeout.
    pub fn wait_for_log(&self, needle: &str, times: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.log().matches(needle).count() >= times {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The PID.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Sends `signal` to the service's PID (while it runs).
    pub fn signal(&mut self, signal: libc::c_int) {
        if self.child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_none())
            && let Ok(pid) = libc::pid_t::try_from(self.pid)
        {
            // SAFETY: kill(2) on the PID of our own child, not reaped yet.
            unsafe {
                libc::kill(pid, signal);
            }
        }
    }

    /// SIGHUP: reload the configuration file.
    pub fn reload(&mut self) {
        self.signal(libc::SIGHUP);
    }

    /// Waits up to `timeout` for the process to exit.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut()?;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Stops the service: SIGTERM, then SIGKILL after 15 s. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, libc::SIGTERM, STOP_TIMEOUT);
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        self.stop();
    }
}
