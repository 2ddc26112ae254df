//! Postfix's lookup tables from the account store: a real Postfix 3.7 asking `dirconn serve`'s socketmap
//! (`mailbox`, `alias`, `domains`, `senders`) about accounts a sync made from a real slapd. `postmap -q` for
//! an existing, an aliased, a deactivated and an unknown address; `RCPT TO` refused for an unknown recipient
//! at RCPT time and accepted for a known one or an alias; `MAIL FROM` of another user's address refused after
//! AUTH; the store (PostgreSQL) stopped: `4xx`, never `5xx`; broken requests answered `PERM`; the same
//! lookups through `dirconn postmap` and `GET /v1/maps/{map}/{key}`.

use std::{io::Read as _, net::TcpStream, time::Duration};

use std::os::unix::fs::PermissionsExt as _;

use dirconn_tests::{
    DomainSpec, Fixture, Postfix, PostfixOptions, Slapd, SmtpClient, SmtpMechanism,
    daemon::system_group,
    net::free_port,
    postgres::Postgres,
    serve::{Serve, ServeSpec},
};

/// slapd with aliases for alice (a second `mail` in the domain, one in another domain), `dirconn serve`
/// with the Dovecot auth protocol on loopback TCP and socketmap on loopback TCP and on a UNIX socket in
/// `<queue>/dirconn/` (a `root:postfix` folder, mode 2750), and a Postfix whose virtual tables and sender
/// login map are dirconn's (the aliases over the UNIX socket). Every fixture user is synced, then dave
/// is deleted from the directory and synced away (deactivated).
struct Rig {
    slapd: Slapd,
    serve: Serve,
    postfix: Postfix,
    map_port: u16,
    socket: std::path::PathBuf,
}

impl Rig {
    fn start(store: Option<String>) -> Rig {
        let slapd = Slapd::start();
        slapd.ldapmodify(&format!(
            "dn: {}\nchangetype: modify\nadd: mail\nmail: Alice.Liddell@Example.org\nmail: alice@wonderland.example.net\n",
            Fixture::ALICE.dn()
        ));
        let (auth_port, map_port) = (free_port(), free_port());
        let table = |name: &str| format!("socketmap:inet:127.0.0.1:{map_port}:{name}");
        // The aliases over the UNIX socket, as the docs advise: a path relative to the queue directory
        // (every Postfix daemon works there, chrooted or not).
        let extra_main_cf = format!(
            "virtual_mailbox_domains = {}\nvirtual_mailbox_maps = {}\nvirtual_alias_maps = socketmap:unix:dirconn/map:alias\n\
             smtpd_sender_login_maps = {}\nsmtpd_sender_restrictions = reject_authenticated_sender_login_mismatch\n\
             smtpd_delay_reject = no\n",
            table("domains"),
            table("mailbox"),
            table("senders"),
        );
        let postfix = Postfix::start(PostfixOptions { extra_main_cf, ..PostfixOptions::dovecot_inet(auth_port) });
        let socket = postfix.dir().join("spool/dirconn/map");
        let group = system_group("postfix").expect("a `postfix` group");
        let folder = socket.parent().expect("a folder");
        std::fs::create_dir(folder).expect("mkdir");
        std::os::unix::fs::chown(folder, Some(0), Some(group)).expect("chown root:postfix");
        std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o2750)).expect("chmod 2750");
        let mut spec = ServeSpec::new(vec![DomainSpec::ldap(&slapd)]);
        spec.store = store;
        spec.service.push(format!("dovecot_auth = \"127.0.0.1:{auth_port}\""));
        spec.service.push(format!("postfix_socketmap = [\"127.0.0.1:{map_port}\", \"{}\"]", socket.display()));
        let serve = Serve::start(spec);
        let rig = Rig { slapd, serve, postfix, map_port, socket };
        rig.sync();
        rig.slapd.ldapmodify(&format!("dn: {}\nchangetype: delete\n", Fixture::DAVE.dn()));
        rig.sync();
        rig
    }

    fn sync(&self) {
        let out = self.serve.cli(&["sync", "example.org"], None);
        assert!(out.status.success(), "sync: {}{}", String::from_utf8_lossy(&out.stdout), self.logs());
    }

    /// `postmap -q KEY socketmap:inet:…:MAP`: the value, `None` when not found; panics on a query error.
    fn postmap(&self, map: &str, key: &str) -> Option<String> {
        let table = format!("socketmap:inet:127.0.0.1:{}:{map}", self.map_port);
        let out = self.postfix.postmap(&["-q", key, &table]);
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        eprintln!("postmap -q {key} {map}: {:?} {}", out.status.code(), stdout.trim());
        match out.status.code() {
            Some(0) => Some(stdout.trim().to_owned()),
            Some(1) if stderr.trim().is_empty() => None,
            _ => panic!("postmap -q {key} {map} failed: {stderr}\n{}", self.logs()),
        }
    }

    /// `dirconn postmap MAP KEY`: the value, `None` when not found (exit 1).
    fn cli_postmap(&self, map: &str, key: &str) -> Option<String> {
        let out = self.serve.cli(&["postmap", map, key], None);
        match out.status.code() {
            Some(0) => Some(String::from_utf8_lossy(&out.stdout).trim().to_owned()),
            Some(1) => None,
            other => panic!("dirconn postmap {map} {key}: {other:?} {}", String::from_utf8_lossy(&out.stderr)),
        }
    }

    /// An SMTP session: EHLO, then AUTH as `auth` when given, then each command; the replies.
    fn session(&self, auth: Option<(&str, &str)>, commands: &[&str]) -> Vec<(u16, String)> {
        let mut smtp = SmtpClient::connect(self.postfix.smtp_port()).expect("connect");
        smtp.ehlo("client.example").expect("EHLO");
        if let Some((user, password)) = auth {
            let reply = smtp.auth(SmtpMechanism::Plain, user, password).expect("AUTH");
            assert_eq!(reply.code, 235, "AUTH {user}: {}\n{}", reply.text, self.logs());
        }
        let replies = commands
            .iter()
            .map(|c| {
                let r = smtp.command(c).expect("an SMTP reply");
                eprintln!("{c} -> {} {}", r.code, r.text);
                (r.code, r.text)
            })
            .collect();
        smtp.quit();
        replies
    }

    fn logs(&self) -> String {
        format!("\npostfix:\n{}\ndirconn:\n{}", self.postfix.log(), self.serve.log())
    }
}

#[test]
fn postfix_finds_recipients_aliases_and_senders_in_the_store() {
    let rig = Rig::start(None);
    // postmap -q: existing, aliased (any case), deactivated, unknown, a catch-all key, a domain.
    for (map, key, want) in [
        ("mailbox", "alice@example.org", Some("alice@example.org")),
        ("mailbox", "ALICE.liddell@example.ORG", Some("alice@example.org")),
        ("mailbox", "alice@wonderland.example.net", Some("alice@example.org")),
        ("mailbox", "bob@example.org", Some("bob@example.org")),
        ("mailbox", "dave@example.org", None),
        ("mailbox", "nobody@example.org", None),
        ("mailbox", "@example.org", None),
        ("alias", "alice.liddell@example.org", Some("alice@example.org")),
        ("alias", "alice@example.org", None),
        ("alias", "dave@example.org", None),
        ("senders", "alice.liddell@example.org", Some("alice@example.org")),
        ("senders", "bob@example.org", Some("bob@example.org")),
        ("domains", "example.org", Some("example.org")),
        ("domains", "EXAMPLE.ORG", Some("example.org")),
        ("domains", "wonderland.example.net", None),
    ] {
        assert_eq!(rig.postmap(map, key).as_deref(), want, "postmap -q {key} {map}{}", rig.logs());
        assert_eq!(rig.cli_postmap(map, key).as_deref(), want, "dirconn postmap {map} {key}");
    }
    // The same lookups over HTTP answer the JSON `dirconn --json postmap` prints.
    let mut http = rig.serve.client();
    for (map, key) in [("mailbox", "ALICE.liddell@example.ORG"), ("senders", "nobody@example.org")] {
        let r = http.get(&format!("/v1/maps/{map}/{key}"));
        assert_eq!(r.status, 200, "{}", r.text());
        let cli = rig.serve.cli(&["--json", "postmap", map, key], None);
        assert_eq!(r.json(), serde_json::from_slice::<serde_json::Value>(&cli.stdout).unwrap(), "{map} {key}");
    }
    let r = http.get("/v1/maps/mailboxes/alice@example.org");
    assert_eq!((r.status, r.json()["code"].as_str()), (400, Some("DC-818")), "{}", r.text());
    // The account shows the addresses the sync kept.
    let out = rig.serve.cli(&["accounts", "show", "alice@example.org"], None);
    let shown = String::from_utf8_lossy(&out.stdout);
    for address in ["alice.liddell@example.org", "alice@wonderland.example.net"] {
        assert!(shown.contains(&format!("address:  {address}")), "{shown}");
    }

    // RCPT TO: the unknown recipient is refused at RCPT time (5xx), a known one and an alias are accepted.
    let replies = rig.session(
        None,
        &[
            "MAIL FROM:<someone@outside.example>",
            "RCPT TO:<nobody@example.org>",
            "RCPT TO:<dave@example.org>",
            "RCPT TO:<bob@example.org>",
            "RCPT TO:<Alice.Liddell@example.org>",
        ],
    );
    assert_eq!(replies[0].0, 250);
    assert!(replies[1].0 == 550 && replies[1].1.contains("User unknown"), "{replies:?}");
    assert_eq!(replies[2].0, 550, "a deactivated account receives nothing: {replies:?}");
    assert_eq!((replies[3].0, replies[4].0), (250, 250), "{replies:?}{}", rig.logs());

    // MAIL FROM after AUTH: one's own address and alias pass, another user's address is refused.
    let alice = Some(("alice@example.org", Fixture::ALICE.password));
    let own = rig.session(alice, &["MAIL FROM:<alice.liddell@example.org>"]);
    assert_eq!(own[0].0, 250, "{own:?}{}", rig.logs());
    let other = rig.session(alice, &["MAIL FROM:<bob@example.org>"]);
    assert!(other[0].0 == 553 && other[0].1.contains("not owned by user alice@example.org"), "{other:?}");
    let bare = rig.session(Some(("bob", Fixture::BOB.password)), &["MAIL FROM:<bob@example.org>"]);
    assert_eq!(bare[0].0, 250, "a bare login sends as its canonical account: {bare:?}");
    assert!(!rig.postfix.log().contains("fatal:"), "{}", rig.logs());
}

/// One netstring request on a connection; the reply read back, `None` at end of stream.
fn exchange(stream: &mut impl std::io::Read, request: &[u8], writer: &mut impl std::io::Write) -> Option<String> {
    writer.write_all(request).ok()?;
    let mut length = 0usize;
    loop {
        let mut byte = [0u8];
        if stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        match byte[0] {
            b':' => break,
            d => length = length * 10 + usize::from(d - b'0'),
        }
    }
    let mut data = vec![0; length + 1];
    stream.read_exact(&mut data).ok()?;
    data.pop();
    Some(String::from_utf8_lossy(&data).into_owned())
}

#[test]
fn a_stopped_store_is_a_temporary_failure_and_broken_requests_are_perm() {
    let mut pg = Postgres::start();
    let rig = Rig::start(Some(pg.url()));
    assert_eq!(rig.postmap("mailbox", "bob@example.org").as_deref(), Some("bob@example.org"));

    // Broken requests over TCP and the UNIX socket: PERM, and the connection survives a bad request in a
    // good frame; after a broken frame it is closed.
    let tcp = TcpStream::connect(("127.0.0.1", rig.map_port)).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut unix = std::os::unix::net::UnixStream::connect(&rig.socket).expect("the UNIX socket");
    unix.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    for request in [&b"10:mailbox \0x,"[..], b"8:no-map x,"] {
        let (mut r, mut w) = (tcp.try_clone().unwrap(), tcp.try_clone().unwrap());
        let reply = exchange(&mut r, request, &mut w).expect("a reply");
        assert!(reply.starts_with("PERM DC-818"), "{reply}");
    }
    let (mut r, mut w) = (tcp.try_clone().unwrap(), tcp.try_clone().unwrap());
    assert_eq!(exchange(&mut r, b"23:mailbox bob@example.org,", &mut w).as_deref(), Some("OK bob@example.org"));
    let (mut r, mut w) = (unix.try_clone().unwrap(), unix.try_clone().unwrap());
    let huge = format!("100000:mailbox {}", "x".repeat(50));
    let reply = exchange(&mut r, huge.as_bytes(), &mut w).expect("a reply");
    assert!(reply.starts_with("PERM DC-818") && reply.contains("over 4096"), "{reply}");
    let mut rest = Vec::new();
    assert_eq!(unix.read_to_end(&mut rest).ok(), Some(0), "closed after a broken frame");

    // The store stops: lookups are TEMP, and Postfix defers the recipient (4xx), never rejects it (5xx).
    pg.stop();
    let table = format!("socketmap:inet:127.0.0.1:{}:mailbox", rig.map_port);
    let out = rig.postfix.postmap(&["-q", "bob@example.org", &table]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("DC-6"), "postmap: {stderr}");
    let replies = rig.session(None, &["MAIL FROM:<someone@outside.example>", "RCPT TO:<bob@example.org>"]);
    assert!((400..500).contains(&replies[1].0), "a store that is down defers: {replies:?}{}", rig.logs());
    let r = rig.serve.client().get("/v1/maps/mailbox/bob@example.org");
    assert_eq!(r.status, 503, "the store is down: {}", r.text());
    assert!(r.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("retry-after")), "{:?}", r.headers);
    let cli = rig.serve.cli(&["postmap", "mailbox", "bob@example.org"], None);
    assert_eq!(cli.status.code(), Some(3), "the CLI says unreachable: {}", String::from_utf8_lossy(&cli.stderr));
}
