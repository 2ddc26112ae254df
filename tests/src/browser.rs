//! A real browser for tests: Debian's headless Chromium driven by its `chromedriver` over WebDriver (fantoccini),
//! with explicit waits, screenshots and an axe-core accessibility check.
//!
//! Every [`Browser`] has its own chromedriver on a free loopback port, in a process group of its own, and its own
//! fresh Chromium profile; dropping it stops that process group (chromedriver and the Chromium it started).
//! [`Browser::close`] ends the WebDriver session first, which lets Chromium quit cleanly.
//!
//! axe-core is injected with WebDriver's *execute script*, which Chromium runs through the DevTools protocol outside
//! the page's Content-Security-Policy: it works under `script-src 'self'` (checked by `tests/browser_harness.rs`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::wd::TimeoutConfiguration;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::daemon::log_tail;
use crate::process::{spawn_tied_to_process, stop_child};

/// Debian's chromedriver (package `chromium-driver`).
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// Debian's Chromium launcher (package `chromium`).
pub const CHROMIUM: &str = "/usr/bin/chromium";
/// What to install when [`Browser::available`] is false.
pub const INSTALL_HINT: &str =
    "install Debian's packages `chromium chromium-driver` (apt-get install chromium chromium-driver)";

const START_ATTEMPTS: usize = 3;
const READY_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`Browser::wait_for`] waits for an element.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(10);
const CHROME_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-gpu",
    "--window-size=1280,900",
    // chromedriver then talks to Chromium over a pipe, not a port: Chromium quits when chromedriver dies, even by
    // SIGKILL or PR_SET_PDEATHSIG (with a debugging port it would live on, orphaned).
    "--remote-debugging-pipe",
];

/// One violation reported by axe-core.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AxeViolation {
    /// The rule, e.g. `image-alt`.
    pub id: String,
    /// `minor`, `moderate`, `serious` or `critical` (empty when axe gives none).
    pub impact: String,
    /// What the rule checks.
    pub description: String,
    /// How to fix it, in short.
    pub help: String,
    /// One CSS selector per offending node (nested frames and shadow roots joined by ` >>> `).
    pub targets: Vec<String>,
}

impl AxeViolation {
    /// Whether the impact is `serious` or `critical`.
    pub fn is_serious(&self) -> bool {
        matches!(self.impact.as_str(), "serious" | "critical")
    }
}

/// A chromedriver we started, in its own process group; stopped (with its Chromium) when dropped.
#[derive(Debug)]
struct Driver {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let Ok(group) = libc::pid_t::try_from(self.child.id()) else { return };
        // SAFETY: kill(2) on the process group that our child leads (it was spawned with process_group(0)).
        unsafe { libc::kill(-group, libc::SIGTERM) };
        stop_child(&mut self.child, libc::SIGTERM, STOP_TIMEOUT);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while group_has_live_members(group) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: as above; whatever of the group is left (a Chromium that ignored SIGTERM) is killed.
        unsafe { libc::kill(-group, libc::SIGKILL) };
    }
}

/// Whether a process other than a zombie is in process group `group` (read from `/proc/*/stat`).
fn group_has_live_members(group: libc::pid_t) -> bool {
    let Ok(entries) = std::fs::read_dir("/proc") else { return false };
    entries.flatten().any(|entry| {
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // After the command's closing parenthesis: state, ppid, pgrp, ...
        let mut fields = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default().split_whitespace();
        let state = fields.next();
        let pgrp = fields.nth(1).and_then(|p| p.parse::<libc::pid_t>().ok());
        pgrp == Some(group) && state.is_some_and(|s| s != "Z" && s != "X")
    })
}

/// Starts chromedriver on a free port and waits until its `/status` says it is ready.
fn start_driver(log: &Path) -> Result<Driver, String> {
    let mut last = String::new();
    for _ in 0..START_ATTEMPTS {
        let port = crate::net::free_port();
        let out = std::fs::File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| format!("cannot clone a file handle: {e}"))?;
        let mut cmd = Command::new(CHROMEDRIVER);
        cmd.arg(format!("--port={port}")).arg("--allowed-ips=127.0.0.1").stdin(Stdio::null()).stdout(out).stderr(err);
        std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
        let child = spawn_tied_to_process(cmd, libc::SIGTERM)
            .map_err(|e| format!("cannot spawn {CHROMEDRIVER} ({INSTALL_HINT}): {e}"))?;
        let mut driver = Driver { child, port, log: log.to_owned() };
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = driver.child.try_wait() {
                last = format!("chromedriver exited early ({status}); its output:\n{}", log_tail(log));
                break;
            }
            let mut http = crate::http::Http::new(([127, 0, 0, 1], port).into()).with_timeout(Duration::from_secs(2));
            if let Ok(answer) = http.send("GET", "/status", &[], None)
                && answer.status == 200
                && serde_json::from_slice::<Value>(&answer.body).is_ok_and(|s| s["value"]["ready"] == json!(true))
            {
                return Ok(driver);
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "chromedriver on port {port} not ready within {READY_TIMEOUT:?}; its output:\n{}",
                    log_tail(&driver.log)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    Err(last)
}

/// A headless Chromium and the chromedriver that drives it.
#[derive(Debug)]
pub struct Browser {
    client: Client,
    /// Held, and dropped after the client: stops chromedriver and its Chromium.
    _driver: Driver,
    _home: TempDir,
}

impl Browser {
    /// Whether chromedriver and Chromium are installed (else tests should panic with [`INSTALL_HINT`]).
    pub fn available() -> bool {
        Path::new(CHROMEDRIVER).exists() && Path::new(CHROMIUM).exists()
    }

    /// Starts chromedriver and a Chromium with a fresh profile; panics with chromedriver's output on failure.
    pub async fn start() -> Browser {
        assert!(Browser::available(), "{CHROMEDRIVER} or {CHROMIUM} is missing: {INSTALL_HINT}");
        let home = tempfile::Builder::new().prefix("dirconn-browser-").tempdir().expect("a temporary folder");
        let log = home.path().join("chromedriver.log");
        let driver = tokio::task::spawn_blocking(move || start_driver(&log))
            .await
            .expect("the chromedriver start-up thread")
            .unwrap_or_else(|e| panic!("{e}"));
        let mut args: Vec<String> = CHROME_ARGS.iter().map(|a| (*a).to_owned()).collect();
        args.push(format!("--user-data-dir={}", home.path().join("profile").display()));
        let caps = json!({ "goog:chromeOptions": { "binary": CHROMIUM, "args": args } });
        let Value::Object(caps) = caps else { unreachable!("a JSON object") };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", driver.port))
            .await
            .unwrap_or_else(|e| {
                panic!("no WebDriver session with Chromium: {e}; chromedriver's output:\n{}", log_tail(&driver.log))
            });
        let timeouts = TimeoutConfiguration::new(Some(Duration::from_secs(60)), Some(Duration::from_secs(60)), None);
        client.update_timeouts(timeouts).await.expect("set the WebDriver timeouts");
        Browser { client, _driver: driver, _home: home }
    }

    /// The WebDriver client, for anything the helpers here do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Ends the WebDriver session (Chromium quits), then stops chromedriver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// The current page's HTML.
    pub async fn source(&self) -> String {
        self.client.source().await.unwrap_or_else(|e| panic!("cannot read the page source: {e}"))
    }

    /// The first element matching `css`, waiting up to [`WAIT_TIMEOUT`] for it; panics with the URL and page.
    pub async fn wait_for(&self, css: &str) -> Element {
        match self.client.wait().at_most(WAIT_TIMEOUT).for_element(Locator::Css(css)).await {
            Ok(element) => element,
            Err(e) => {
                let url = self.client.current_url().await.map(|u| u.to_string()).unwrap_or_else(|e| e.to_string());
                let source = self.client.source().await.unwrap_or_else(|e| e.to_string());
                let excerpt: String = source.chars().take(3000).collect();
                panic!("no element `{css}` within {WAIT_TIMEOUT:?} ({e}) on {url}; the page:\n{excerpt}")
            }
        }
    }

    /// The visible text of the element matching `css`.
    pub async fn text_of(&self, css: &str) -> String {
        self.wait_for(css).await.text().await.unwrap_or_else(|e| panic!("cannot read the text of `{css}`: {e}"))
    }

    /// Clears the field matching `css` and types `value` into it.
    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.wait_for(css).await;
        field.clear().await.unwrap_or_else(|e| panic!("cannot clear `{css}`: {e}"));
        field.send_keys(value).await.unwrap_or_else(|e| panic!("cannot type into `{css}`: {e}"));
    }

    /// Clicks the element matching `css`, scrolled to the middle of the window first (WebDriver scrolls it
    /// only just into view, where a sticky bar may cover it).
    pub async fn click(&self, css: &str) {
        let element = self.wait_for(css).await;
        let arg = serde_json::to_value(&element).expect("an element reference");
        let scroll = "arguments[0].scrollIntoView({block: 'center'});";
        self.client.execute(scroll, vec![arg]).await.unwrap_or_else(|e| panic!("cannot scroll to `{css}`: {e}"));
        element.click().await.unwrap_or_else(|e| panic!("cannot click `{css}`: {e}"));
    }

    /// The current page's cookies as `(name, value)`, `HttpOnly` ones included.
    pub async fn cookies(&self) -> Vec<(String, String)> {
        let cookies = self.client.get_all_cookies().await.unwrap_or_else(|e| panic!("cannot read the cookies: {e}"));
        cookies.iter().map(|c| (c.name().to_owned(), c.value().to_owned())).collect()
    }

    /// Saves a PNG of the viewport as `<name>.png` in `DIRCONN_SCREENSHOT_DIR`, else `target/web-screenshots/`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let dir = std::env::var_os("DIRCONN_SCREENSHOT_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| crate::stage::target_dir().join("web-screenshots"));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let safe: String =
            name.chars().map(|c| if c.is_ascii_alphanumeric() || "-_.".contains(c) { c } else { '_' }).collect();
        let path = dir.join(format!("{}.png", safe.trim_end_matches(".png")));
        let png = self.client.screenshot().await.unwrap_or_else(|e| panic!("cannot take a screenshot: {e}"));
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
        path
    }

    /// Runs axe-core (tests/fixtures/axe-core, injected if the page lacks it) on the current page; its violations.
    pub async fn axe(&self) -> Vec<AxeViolation> {
        let loaded = self.client.execute("return typeof window.axe === 'object';", vec![]).await;
        if loaded.ok() != Some(json!(true)) {
            let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/axe-core/axe.min.js");
            let script =
                std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
            self.client.execute(&script, vec![]).await.unwrap_or_else(|e| panic!("cannot inject axe-core: {e}"));
        }
        let answer = self.client.execute_async(AXE_RUN, vec![]).await.unwrap_or_else(|e| panic!("axe.run(): {e}"));
        let Some(violations) = answer.as_array() else { panic!("axe.run() failed: {answer}") };
        let text = |v: &Value, key: &str| v[key].as_str().unwrap_or_default().to_owned();
        violations
            .iter()
            .map(|v| AxeViolation {
                id: text(v, "id"),
                impact: text(v, "impact"),
                description: text(v, "description"),
                help: text(v, "help"),
                targets: v["targets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str().map(str::to_owned))
                    .collect(),
            })
            .collect()
    }

    /// Panics listing every `serious` or `critical` axe violation on the current page (`page` names it).
    pub async fn assert_accessible(&self, page: &str) {
        let serious: Vec<String> = self
            .axe()
            .await
            .into_iter()
            .filter(AxeViolation::is_serious)
            .map(|v| format!("  {} [{}]: {} ({}) at {}", v.id, v.impact, v.help, v.description, v.targets.join(", ")))
            .collect();
        assert!(
            serious.is_empty(),
            "axe-core finds serious accessibility violations on {page}:\n{}",
            serious.join("\n")
        );
    }
}

/// Runs axe on the document and answers a plain array of violations (or `{error}`), for execute-async.
const AXE_RUN: &str = r#"
const done = arguments[arguments.length - 1];
const selector = (t) => Array.isArray(t) ? t.join(' >>> ') : String(t);
window.axe.run(document, { resultTypes: ['violations'] })
  .then((r) => done(r.violations.map((v) => ({
    id: v.id, impact: v.impact || '', description: v.description, help: v.help,
    targets: v.nodes.map((n) => n.target.map(selector).join(' >>> ')),
  }))))
  .catch((e) => done({ error: String(e && e.stack || e) }));
"#;
