//! Dovecot's auth protocol served by `dirconn serve` (the built binary) over a real slapd: the real
//! `doveadm auth test` and `doveadm user` on one UNIX socket, and a raw client on the loopback TCP socket for
//! the LOGIN steps, PLAIN without an initial response, pipelined requests, account states, the line cap and
//! the temporary failures when the directory is down.

use std::{
    collections::BTreeMap,
    io::{BufRead as _, BufReader, Read as _, Write as _},
    net::{SocketAddr, TcpStream},
    os::unix::fs::{FileTypeExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use base64::Engine as _;
use dirconn_tests::{
    DomainSpec, Fixture, Slapd, TestHost,
    net::{BlackHole, free_port},
    process, stage,
};

/// The dirconn binary, built (incrementally) once per test process so that it is never stale.
fn dirconn() -> &'static PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        stage::cargo(&["build", "--quiet", "-p", "dirconn"]).expect("building dirconn");
        stage::target_dir().join("debug").join("dirconn")
    })
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// `dirconn serve` with `[service] dovecot_auth = [<dir>/auth, 127.0.0.1:<port>]`, stopped by its PID.
struct Serve {
    child: Option<Child>,
    socket: PathBuf,
    tcp: SocketAddr,
    config: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

fn domain(slapd: &Slapd) -> DomainSpec {
    DomainSpec::ldap(slapd).raw("userdb", r#"{ home = "/srv/mail/%d/%n", uid = 5000, gid = 5000 }"#)
}

impl Serve {
    /// A configuration with these domains, `top` lines before them, and the `[service]` table.
    fn config(domains: &[DomainSpec], top: &str) -> (tempfile::TempDir, PathBuf, PathBuf, SocketAddr) {
        let (dir, config) = TestHost::prepare(&[stage::for_tests().ldap()], domains);
        let socket = dir.path().join("auth");
        let tcp: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let mut text = format!("{top}\n{}", std::fs::read_to_string(&config).unwrap());
        text.push_str(&format!("[service]\ndovecot_auth = [\"{}\", \"{tcp}\"]\n", socket.display()));
        std::fs::write(&config, text).unwrap();
        (dir, config, socket, tcp)
    }

    fn spawn(config: &Path, log: &Path) -> Child {
        let mut cmd = Command::new(dirconn());
        cmd.arg("--config").arg(config).args(["-v", "serve"]).env_remove("DIRCONN_PLUGIN_DIR");
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(std::fs::File::create(log).unwrap());
        process::spawn_tied_to_process(cmd, libc::SIGTERM).expect("dirconn serve starts")
    }

    /// Starts the service and waits until the TCP socket answers.
    fn start(domains: &[DomainSpec], top: &str) -> Serve {
        Serve::launch(Serve::config(domains, top))
    }

    fn launch((dir, config, socket, tcp): (tempfile::TempDir, PathBuf, PathBuf, SocketAddr)) -> Serve {
        let log = dir.path().join("serve.log");
        let mut child = Serve::spawn(&config, &log);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(tcp).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("serve exited with {status}: {}", std::fs::read_to_string(&log).unwrap_or_default());
            }
            assert!(Instant::now() < deadline, "serve did not listen within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        Serve { child: Some(child), socket, tcp, config, log, _dir: dir }
    }

    /// Sends SIGTERM without waiting.
    fn terminate(&self) {
        let pid = self.child.as_ref().expect("running").id();
        // SAFETY: kill(2) on the PID of the child this test started and has not reaped.
        unsafe {
            libc::kill(pid as i32, libc::SIGTERM);
        }
    }

    /// SIGTERM; returns the exit code and the log.
    fn stop(&mut self) -> (Option<i32>, String) {
        let mut child = self.child.take().expect("running");
        process::stop_child(&mut child, libc::SIGTERM, Duration::from_secs(20));
        let code = child.wait().ok().and_then(|s| s.code());
        (code, std::fs::read_to_string(&self.log).unwrap_or_default())
    }

    fn doveadm(&self, args: &[&str]) -> Output {
        let empty = self._dir.path().join("doveadm.conf");
        std::fs::write(&empty, "").unwrap();
        let mut cmd = Command::new("doveadm");
        cmd.arg("-c").arg(&empty).args(&args[..2]).arg("-a").arg(&self.socket).args(&args[2..]);
        cmd.output().expect("doveadm runs")
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            process::stop_child(&mut child, libc::SIGKILL, Duration::from_secs(5));
        }
    }
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// A raw client of the TCP socket.
struct Raw {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Raw {
    fn connect(addr: SocketAddr) -> Raw {
        let writer = TcpStream::connect(addr).expect("connect");
        writer.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        Raw { reader: BufReader::new(writer.try_clone().unwrap()), writer }
    }

    /// Connects as an auth-client and reads the handshake up to `DONE`.
    fn client(addr: SocketAddr) -> (Raw, Vec<String>) {
        let mut raw = Raw::connect(addr);
        raw.send("VERSION\t1\t2\nCPID\t4242\n");
        let mut hello = Vec::new();
        while hello.last().is_none_or(|l| l != "DONE") {
            hello.push(raw.line());
        }
        (raw, hello)
    }

    fn send(&mut self, text: &str) {
        self.writer.write_all(text.as_bytes()).expect("write");
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).expect("read a line");
        assert!(n > 0 && line.ends_with('\n'), "the server closed the connection (read {line:?})");
        line.pop();
        line
    }

    /// Whether the server closed the connection (reading returns end of file or a reset).
    fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        }
    }
}

fn plain(login: &str, password: &str) -> String {
    b64(format!("\0{login}\0{password}").as_bytes())
}

#[test]
fn doveadm_logs_in_and_looks_users_up_on_one_socket() {
    if let Some(why) = dirconn_tests::daemon::mail_unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    let mut slapd = Slapd::start();
    let prepared = Serve::config(&[domain(&slapd)], "");
    let (dir, config, socket) = (&prepared.0, &prepared.1, &prepared.2);
    // A regular file where the socket goes is left alone and stops the start.
    std::fs::write(socket, "not a socket").unwrap();
    let log = dir.path().join("refused.log");
    let mut child = Serve::spawn(config, &log);
    let status = child.wait().unwrap();
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(!status.success() && said.contains("DC-802") && said.contains("not a socket"), "{status}: {said}");
    assert_eq!(std::fs::read_to_string(socket).unwrap(), "not a socket");
    // A stale socket (its process gone) is replaced.
    std::fs::remove_file(socket).unwrap();
    drop(std::os::unix::net::UnixListener::bind(socket).unwrap());
    let mut serve = Serve::launch(prepared);
    let meta = std::fs::symlink_metadata(&serve.socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);

    let ok = serve.doveadm(&["auth", "test", "alice", Fixture::ALICE.password]);
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok));
    assert!(text(&ok).contains("auth succeeded") && text(&ok).contains("user=alice@example.org"), "{}", text(&ok));

    let denied = serve.doveadm(&[
        "auth",
        "test",
        "-x",
        "service=imap",
        "-x",
        "lip=127.0.0.1",
        "-x",
        "rip=192.0.2.9",
        "-x",
        "secured",
        "alice@example.org",
        "not-her-password",
    ]);
    assert_eq!(denied.status.code(), Some(77), "{}", text(&denied));
    assert!(text(&denied).contains("auth failed") && text(&denied).contains("reason=Invalid login or password."));
    assert!(!text(&denied).contains("code="), "a wrong password carries no code: {}", text(&denied));

    let carol = serve.doveadm(&["auth", "test", "carol@example.org", Fixture::CAROL.password]);
    assert_eq!(carol.status.code(), Some(77), "{}", text(&carol));
    assert!(text(&carol).contains("code=pass_expired"), "a password to change: {}", text(&carol));

    let user = serve.doveadm(&["user", "alice@example.org"]);
    assert_eq!(user.status.code(), Some(0), "{}", text(&user));
    let fields: BTreeMap<String, String> = String::from_utf8_lossy(&user.stdout)
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(fields.get("home").map(String::as_str), Some("/srv/mail/example.org/alice"), "{fields:?}");
    assert_eq!((fields.get("uid"), fields.get("gid")), (Some(&"5000".to_owned()), Some(&"5000".to_owned())));
    // Bob has never logged in: found in the directory.
    let bob = serve.doveadm(&["user", "bob@example.org"]);
    assert_eq!(bob.status.code(), Some(0), "{}", text(&bob));
    assert!(text(&bob).contains("/srv/mail/example.org/bob"), "{}", text(&bob));
    let nobody = serve.doveadm(&["user", "nobody@example.org"]);
    assert_eq!(nobody.status.code(), Some(67), "{}", text(&nobody));
    assert!(text(&nobody).contains("doesn't exist"), "{}", text(&nobody));
    // The listing: accounts in the store (alice, created at her login), by mask.
    let all = serve.doveadm(&["user", "*@example.org"]);
    assert_eq!(all.status.code(), Some(0), "{}", text(&all));
    assert!(String::from_utf8_lossy(&all.stdout).lines().any(|l| l == "alice@example.org"), "{}", text(&all));
    let none = serve.doveadm(&["user", "zz*"]);
    assert!(!String::from_utf8_lossy(&none.stdout).contains("alice"), "{}", text(&none));
    // The directory down: doveadm sends no `nologin`, so it is told the temporary failure in words.
    slapd.stop();
    let down = serve.doveadm(&["auth", "test", "bob", Fixture::BOB.password]);
    eprintln!("doveadm auth test with the directory down: {:?} {}", down.status.code(), text(&down));
    assert_eq!(down.status.code(), Some(77), "{}", text(&down));
    assert!(text(&down).contains("code=temp_fail") && text(&down).contains("try again later"), "{}", text(&down));

    let (code, log) = serve.stop();
    assert_eq!(code, Some(0), "{log}");
    assert!(!serve.socket.exists(), "the socket file is removed at the stop");
    for secret in [Fixture::ALICE.password, "not-her-password", &plain("alice", Fixture::ALICE.password)] {
        assert!(!log.contains(secret), "the log holds a secret: {log}");
    }

    // Each attempt is in the audit, with what the AUTH line said.
    let store = serve.config.parent().unwrap().join("accounts.db");
    let rows = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let store = dirconn_store::Store::open(&store.display().to_string()).await.unwrap();
        store.audit(&dirconn_store::AuditQuery { limit: 100, ..Default::default() }).await.unwrap()
    });
    let wrong = rows.iter().find(|r| r.outcome == "DC-203").expect("the wrong password is audited");
    assert_eq!(
        (wrong.interface.as_str(), wrong.client_ip.as_deref(), wrong.local_ip.as_deref(), wrong.service.as_deref()),
        ("dovecot", Some("192.0.2.9"), Some("127.0.0.1"), Some("imap")),
        "{wrong:?}"
    );
    assert!(rows.iter().any(|r| r.outcome == "ok" && r.service.as_deref() == Some("doveadm")), "{rows:?}");
}

#[test]
fn raw_clients_step_pipeline_and_fail_temporarily_when_the_directory_is_down() {
    if let Some(why) = dirconn_tests::daemon::mail_unavailable() {
        eprintln!("skipped: {why}");
        return;
    }
    let mut slapd = Slapd::start();
    let hole = BlackHole::start();
    let slow = DomainSpec::ldap(&slapd).set("name", "slow.example").set("urls", &format!("[\"{}\"]", hole.url()));
    let mut serve = Serve::start(
        &[domain(&slapd).raw("accounts", "{ reveal_account_state = true }"), slow],
        "default_domain = \"example.org\"",
    );

    // A client that waits for the server (as Exim does) gets the auth-client handshake after a moment.
    let mut quiet = Raw::connect(serve.tcp);
    assert_eq!(quiet.line(), "VERSION\t1\t2");
    while quiet.line() != "DONE" {}

    let (mut c, hello) = Raw::client(serve.tcp);
    assert_eq!(&hello[..3], ["VERSION\t1\t2", "MECH\tPLAIN\tplaintext", "MECH\tLOGIN\tplaintext"]);
    assert!(hello[3].starts_with("SPID\t") && hello[4].starts_with("CUID\t"), "{hello:?}");
    let cookie = hello[5].strip_prefix("COOKIE\t").expect("a cookie");
    assert!(cookie.len() == 32 && cookie.bytes().all(|b| b.is_ascii_hexdigit()), "{cookie}");

    // LOGIN: the user name, then the password, each after a challenge.
    c.send("AUTH\t1\tLOGIN\tservice=smtp\tnologin\tlip=127.0.0.1\trip=127.0.0.1\n");
    assert_eq!(c.line(), format!("CONT\t1\t{}", b64(b"Username:")));
    c.send(&format!("CONT\t1\t{}\n", b64(b"alice")));
    assert_eq!(c.line(), format!("CONT\t1\t{}", b64(b"Password:")));
    c.send(&format!("CONT\t1\t{}\n", b64(Fixture::ALICE.password.as_bytes())));
    assert_eq!(c.line(), "OK\t1\tuser=alice@example.org");
    // PLAIN without an initial response: an empty challenge first.
    c.send("AUTH\t2\tPLAIN\tservice=smtp\n");
    assert_eq!(c.line(), "CONT\t2\t");
    c.send(&format!("CONT\t2\t{}\n", plain("bob@example.org", Fixture::BOB.password)));
    assert_eq!(c.line(), "OK\t2\tuser=bob@example.org");
    // Another authorization identity, an unknown mechanism, a continuation of nothing.
    c.send(&format!("AUTH\t3\tPLAIN\tservice=smtp\tresp={}\n", b64(b"bob\0alice\0alice-pass")));
    assert_eq!(c.line(), "FAIL\t3\tcode=authz_fail\treason=Logging in as another user is not allowed.");
    c.send("AUTH\t4\tCRAM-MD5\tservice=smtp\n");
    assert!(c.line().starts_with("FAIL\t4\treason="));
    c.send("CONT\t99\tYQ==\n");
    assert!(c.line().starts_with("FAIL\t99\t"));

    // Pipelined: twenty requests in one write, each answered once under its id.
    let mut batch = String::new();
    for id in 100..120 {
        // (Wrong passwords would lock alice out: ppolicy locks after three.)
        let login = if id % 2 == 0 { "alice" } else { "ghost" };
        batch.push_str(&format!("AUTH\t{id}\tPLAIN\tservice=smtp\tresp={}\n", plain(login, Fixture::ALICE.password)));
    }
    c.send(&batch);
    let mut replies = BTreeMap::new();
    for _ in 100..120 {
        let line = c.line();
        let id: u32 = line.split('\t').nth(1).unwrap().parse().unwrap();
        assert!(replies.insert(id, line).is_none(), "one reply per id");
    }
    for (id, line) in &replies {
        let want = if id % 2 == 0 {
            format!("OK\t{id}\tuser=alice@example.org")
        } else {
            format!("FAIL\t{id}\tuser=ghost\treason=Invalid login or password.")
        };
        assert_eq!(line, &want);
    }

    // Requests run at once: a login to a directory that never answers does not hold up the next one.
    c.send(&format!("AUTH\t150\tPLAIN\tservice=smtp\tresp={}\n", plain("x@slow.example", "pw")));
    c.send(&format!("AUTH\t151\tPLAIN\tservice=smtp\tresp={}\n", plain("alice", Fixture::ALICE.password)));
    assert_eq!(c.line(), "OK\t151\tuser=alice@example.org");
    assert!(c.line().starts_with("FAIL\t150\tuser=x@slow.example\tcode=temp_fail\treason="));

    // Three wrong passwords for dave would lock him (ppolicy locks at three); the throttle sends the same
    // wrong password to the directory once and answers it again from memory, so dave, who logged in from
    // here before, still logs in.
    c.send(&format!("AUTH\t199\tPLAIN\tservice=imap\tresp={}\n", plain("dave", Fixture::DAVE.password)));
    assert_eq!(c.line(), "OK\t199\tuser=dave@example.org");
    for id in 200..203 {
        c.send(&format!("AUTH\t{id}\tPLAIN\tservice=imap\tresp={}\n", plain("dave", "wrong")));
        assert!(c.line().starts_with(&format!("FAIL\t{id}\t")));
    }
    c.send(&format!("AUTH\t203\tPLAIN\tservice=imap\tresp={}\n", plain("dave", Fixture::DAVE.password)));
    assert_eq!(c.line(), "OK\t203\tuser=dave@example.org");
    // Locked by an administrator: this domain tells account states.
    slapd.ldapmodify(&format!(
        "dn: {}\nchangetype: modify\nreplace: pwdAccountLockedTime\npwdAccountLockedTime: 000001010000Z\n",
        Fixture::DAVE.dn()
    ));
    c.send(&format!("AUTH\t204\tPLAIN\tservice=imap\tresp={}\n", plain("dave", Fixture::DAVE.password)));
    let locked = c.line();
    assert!(locked.starts_with("FAIL\t204\tuser=dave\tcode=user_disabled\treason="), "{locked}");
    assert!(locked.contains("locked"), "{locked}");

    // auth-master on the same TCP socket.
    let mut m = Raw::connect(serve.tcp);
    m.send("VERSION\t1\t0\nUSER\t1\talice@example.org\tservice=lmtp\n");
    assert_eq!(m.line(), "VERSION\t1\t1");
    assert!(m.line().starts_with("SPID\t"));
    assert_eq!(m.line(), "USER\t1\talice@example.org\tgid=5000\thome=/srv/mail/example.org/alice\tuid=5000");
    m.send("USER\t2\tnobody@example.org\tservice=lmtp\nPASS\t3\talice@example.org\n");
    let two = [m.line(), m.line()];
    assert!(two.contains(&"NOTFOUND\t2".to_owned()), "{two:?}");
    assert!(two.iter().any(|l| l.starts_with("FAIL\t3\treason=")), "{two:?}");

    // A line over 16 KiB closes the connection.
    let mut long = Raw::client(serve.tcp).0;
    long.send(&format!("AUTH\t1\tPLAIN\tservice=smtp\tresp={}\n", "A".repeat(17 * 1024)));
    assert!(long.closed(), "an over-long line closes the connection");

    // The directory goes down: logins fail temporarily, never as a wrong password.
    slapd.stop();
    c.send(&format!("AUTH\t300\tPLAIN\tservice=smtp\tresp={}\n", plain("alice", Fixture::ALICE.password)));
    let temp = c.line();
    assert!(temp.starts_with("FAIL\t300\tuser=alice\tcode=temp_fail\treason="), "{temp}");
    assert!(temp.contains("try again later"), "{temp}");
    // The same AUTH with `nologin` (what Postfix and Exim send) is answered by closing the connection: they
    // read a FAIL line as a wrong password (535) and only a lost connection as a temporary failure (454). Over
    // TCP the close is a reset, over the UNIX socket an end of file, in both cases with nothing written.
    let nologin = format!("AUTH\t1\tPLAIN\tservice=smtp\tnologin\tresp={}\n", plain("alice", Fixture::ALICE.password));
    let mut postfix = Raw::client(serve.tcp).0;
    postfix.send(&nologin);
    let mut rest = Vec::new();
    let reset = postfix.reader.read_to_end(&mut rest).expect_err("a reset, not an end of file");
    assert_eq!((reset.kind(), rest.len()), (std::io::ErrorKind::ConnectionReset, 0), "{reset}");
    let mut unix = std::os::unix::net::UnixStream::connect(&serve.socket).expect("the UNIX socket");
    unix.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    unix.write_all(format!("VERSION\t1\t0\nCPID\t7\n{nologin}").as_bytes()).unwrap();
    let mut said = String::new();
    unix.read_to_string(&mut said).expect("an end of file");
    assert!(said.ends_with("\nDONE\n"), "only the handshake: {said:?}");
    // A stored account still has its userdb; one never seen is a temporary failure, not "no such user".
    m.send("USER\t4\talice@example.org\tservice=lmtp\n");
    assert!(m.line().starts_with("USER\t4\talice@example.org\t"));
    m.send("USER\t5\tcarol@example.org\tservice=lmtp\n");
    let carol = m.line();
    assert!(carol.starts_with("FAIL\t5\treason="), "{carol}");

    // SIGTERM: no new connections, but the request in flight is answered before the connection closes.
    c.send(&format!("AUTH\t400\tPLAIN\tservice=smtp\tresp={}\n", plain("y@slow.example", "pw")));
    std::thread::sleep(Duration::from_millis(300));
    serve.terminate();
    let started = Instant::now();
    while TcpStream::connect(serve.tcp).is_ok() {
        assert!(started.elapsed() < Duration::from_secs(5), "the socket still accepts after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(c.line().starts_with("FAIL\t400\tuser=y@slow.example\tcode=temp_fail\t"));
    assert!(c.closed(), "the connection closes once its requests are answered");
    let (code, log) = serve.stop();
    assert_eq!(code, Some(0), "{log}");
}
