//! `dirconn-bench-mail`: mail-server benchmarks (driven by `cargo xtask bench dovecot`).
//!
//! - `dovecot`: IMAP logins per second (connect, LOGIN, LOGOUT; a new connection each) into two Dovecots on
//!   one slapd with generated users: ours, the operators' Lua snippet (`passdb lua` in auth workers → `dirconn
//!   serve` (release) → slapd, `userdb prefetch` with `[domain.userdb]`, groups by `nested-member-of`), and
//!   the reference an administrator would pick instead, Dovecot's own `passdb ldap` with auth binds
//!   (`userdb static`). Both: the same auth
//!   worker count, no auth cache, the same concurrent clients, no failure delay. Every user logs in once on
//!   each side first (our first login creates the account). Rounds alternate; each round reports its rate,
//!   p50/p99 and the CPU every process class used (from `/proc/<pid>/stat`, in % of one core: 200% is this
//!   machine's two cores); the median round of each side is reported.
//!
//! - `postfix-map`: lookups per second of Postfix's `postmap -q -` (one key per line, one process, one
//!   connection, as an smtpd asks) through dirconn's socketmap `mailbox` table (`dirconn serve`, release, its
//!   SQLite store synced from the slapd) vs Postfix's own `ldap:` table (postfix-ldap) with the filter an
//!   administrator would write, `(&(objectClass=inetOrgPerson)(mail=%s))` → `uid@example.org`, against the
//!   same slapd users. Both sides get the same keys (4 of 5 known addresses, 1 of 5 unknown), and their
//!   outputs must be equal. With `--clients N`, N postmaps run at once, each with its own keys.
//!
//! Each ends with `bench <name>: ours=<v><unit> reference=<v><unit> ratio=<ours/reference>`.

#[path = "../../tests/support/dirconn_serve.rs"]
mod dirconn_serve;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use dirconn_serve::{Serve, ServeOptions};
use dirconn_tests::imap::{LoginRun, imap_login_many};
use dirconn_tests::serve::{Serve as ServeProcess, ServeSpec};
use dirconn_tests::{DomainSpec, Dovecot, DovecotAuth, DovecotOptions, LdapAuth, LuaAuth, Slapd, SlapdOptions, slapd};

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let plugin_dir = args
        .iter()
        .position(|a| a == "--plugin-dir")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .expect("--plugin-dir DIR");
    match args.first().map(String::as_str) {
        Some("dovecot") => dovecot(
            &plugin_dir,
            &Shape {
                users: arg(&args, "--users", 2_000),
                clients: arg(&args, "--clients", 16),
                logins: arg(&args, "--logins", 2_000),
                rounds: arg(&args, "--rounds", 5),
                workers: arg(&args, "--workers", 16),
            },
        ),
        Some("postfix-map") => postfix_map(
            &plugin_dir,
            &args
                .iter()
                .position(|a| a == "--binary")
                .and_then(|i| args.get(i + 1))
                .map(PathBuf::from)
                .expect("--binary"),
            &MapShape {
                users: arg(&args, "--users", 10_000),
                clients: arg(&args, "--clients", 1),
                keys: arg(&args, "--keys", 20_000),
                rounds: arg(&args, "--rounds", 5),
            },
        ),
        _ => {
            eprintln!(
                "usage: dirconn-bench-mail dovecot --plugin-dir DIR [--users N --clients N --logins N --rounds N \
                 --workers N]\n       dirconn-bench-mail postfix-map --plugin-dir DIR --binary DIRCONN [--users N \
                 --clients N --keys N --rounds N]"
            );
            std::process::exit(2);
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Shape {
    users: usize,
    clients: usize,
    logins: usize,
    rounds: usize,
    workers: usize,
}

/// One side's round: its run and the CPU each process class used.
struct Round {
    run: LoginRun,
    cpu: BTreeMap<String, Duration>,
}

impl Round {
    fn describe(&self) -> String {
        let wall = self.run.wall.as_secs_f64();
        let cpu: Vec<String> = self
            .cpu
            .iter()
            .filter(|(_, t)| t.as_secs_f64() / wall >= 0.01)
            .map(|(k, t)| format!("{k} {:.0}%", 100.0 * t.as_secs_f64() / wall))
            .collect();
        format!(
            "{:.0} logins/s p50 {:.2} ms p99 {:.2} ms [cpu: {}]",
            self.run.per_second(),
            ms(self.run.quantile(0.5)),
            ms(self.run.quantile(0.99)),
            cpu.join(", ")
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The user of login `i` in round `round`: spread over every user, a different order each round.
fn user(i: usize, round: usize, users: usize) -> (String, String) {
    let n = (i.wrapping_mul(2_654_435_761).wrapping_add(round.wrapping_mul(40_503))) % users + 1;
    (slapd::generated_uid(n), slapd::generated_password(n))
}

/// The Dovecot settings both sides share.
fn common_config(workers: usize) -> String {
    format!(
        "auth_worker_max_count = {workers}\nauth_cache_size = 0\n\
         service auth-worker {{\n  process_min_avail = {workers}\n}}\n"
    )
}

fn dovecot(plugin_dir: &Path, shape: &Shape) {
    let Shape { users, clients, logins, rounds, workers } = *shape;
    println!("bench dovecot: starting slapd with {users} users, dirconn serve (release) and two Dovecots…");
    let slapd = Slapd::start_with(SlapdOptions { users, tls: false, ..SlapdOptions::default() });
    let homes = tempfile::Builder::new().prefix("dirconn-bench-homes-").tempdir_in("/tmp").expect("temp dir");
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(homes.path(), std::fs::Permissions::from_mode(0o1777)).expect("chmod 1777");
    }
    // Groups as an administrator of this slapd would read them: memberOf (kept by the memberof overlay) in
    // the user search, the groups' parents cached (the reference resolves no groups at all).
    let domain = DomainSpec::ldap(&slapd)
        .raw("userdb", &format!(r#"{{ home = "{}/%u" }}"#, homes.path().display()))
        .set("group_membership", "nested-member-of");
    let serve = Serve::start(ServeOptions {
        bin: dirconn_serve::dirconn_bin("release"),
        plugins: vec![plugin_dir.join(dirconn_tests::stage::library_file_name("dirconn-plugin-ldap"))],
        domains: vec![domain],
        nginx: Vec::new(),
        log: "warn".into(),
    });
    let mut ours = DovecotOptions::new(DovecotAuth::Lua(LuaAuth {
        api_url: serve.url(),
        token_file: serve.token_file().to_path_buf(),
        timeout_msecs: Some(10_000),
    }));
    ours.extra_config = common_config(workers);
    let ours = Dovecot::start(ours);
    let mut reference = DovecotOptions::new(DovecotAuth::Ldap(LdapAuth {
        url: slapd.ldap_url(),
        base: slapd.base_dn().into(),
        filter: "(&(objectClass=inetOrgPerson)(uid=%n))".into(),
        bind_dn: slapd.service_dn().into(),
        bind_password: slapd.service_password().into(),
        blocking: std::env::var_os("DIRCONN_BENCH_LDAP_BLOCKING").is_some(),
    }));
    reference.extra_config = common_config(workers);
    let reference = Dovecot::start(reference);

    // Every user once on each side: accounts are created at their first login (ours), and slapd has read
    // every entry (both).
    for (name, d) in [("reference", &reference), ("ours", &ours)] {
        let warm = imap_login_many(d.imap_port(), clients, users, |i| {
            (slapd::generated_uid(i + 1), slapd::generated_password(i + 1))
        });
        assert_eq!(warm.failures, 0, "{name} warm-up: {:?}\n{}", warm.failure_samples, d.log());
        println!("warm-up {name}: {users} users logged in, {:.0} logins/s", warm.per_second());
    }

    let ours_pids = [("dirconn", serve.pid().expect("dirconn serve runs")), ("slapd", slapd.pid())];
    let ref_pids = [("slapd", slapd.pid())];
    let (mut ref_rounds, mut our_rounds) = (Vec::new(), Vec::new());
    for r in 1..=rounds {
        let a = measure(&reference, &ref_pids, || {
            imap_login_many(reference.imap_port(), clients, logins, |i| user(i, r, users))
        });
        let b =
            measure(&ours, &ours_pids, || imap_login_many(ours.imap_port(), clients, logins, |i| user(i, r, users)));
        for (name, x) in [("reference", &a), ("ours", &b)] {
            assert_eq!(x.run.failures, 0, "{name} round {r}: {:?}", x.run.failure_samples);
        }
        println!("round {r}: reference {} | ours {}", a.describe(), b.describe());
        ref_rounds.push(a);
        our_rounds.push(b);
    }
    let a = median(&mut ref_rounds);
    let b = median(&mut our_rounds);
    let mode = if std::env::var_os("DIRCONN_BENCH_LDAP_BLOCKING").is_some() { "blocking=yes" } else { "async" };
    println!(
        "{clients} IMAP clients, {logins} logins per round, {rounds} rounds, {users} users, {workers} auth workers, \
         no auth cache; reference: passdb ldap auth_bind ({mode}); median round:"
    );
    println!("  reference: {}", a.describe());
    println!("  ours:      {}", b.describe());
    println!("bench dovecot p99: ours={:.2}ms reference={:.2}ms", ms(b.run.quantile(0.99)), ms(a.run.quantile(0.99)));
    println!(
        "bench dovecot: ours={:.0}logins/s reference={:.0}logins/s ratio={:.2}",
        b.run.per_second(),
        a.run.per_second(),
        b.run.per_second() / a.run.per_second()
    );
}

#[derive(Debug, Clone, Copy)]
struct MapShape {
    users: usize,
    clients: usize,
    keys: usize,
    rounds: usize,
}

/// One side's round of lookups: keys per second, and the CPU of the server it asked (% of one core).
struct MapRound {
    per_second: f64,
    server_cpu: f64,
}

fn postfix_map(plugin_dir: &Path, binary: &Path, shape: &MapShape) {
    let MapShape { users, clients, keys, rounds } = *shape;
    println!("bench postfix-map: starting slapd with {users} users and dirconn serve (release)…");
    let slapd = Slapd::start_with(SlapdOptions { users, tls: false, ..SlapdOptions::default() });
    let port = dirconn_tests::net::free_port();
    let mut spec = ServeSpec::new(vec![DomainSpec::ldap(&slapd)]);
    spec.binary = Some(binary.to_owned());
    spec.plugin = Some(plugin_dir.join(dirconn_tests::stage::library_file_name("dirconn-plugin-ldap")));
    spec.service.push(format!("postfix_socketmap = \"127.0.0.1:{port}\""));
    let serve = ServeProcess::start(spec);
    let out = serve.cli(&["sync", "example.org"], None);
    assert!(
        out.status.success(),
        "sync: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // A Postfix configuration folder for postmap (no Postfix runs) with the ldap_table(5) an administrator
    // would write instead.
    let dir = tempfile::Builder::new().prefix("dirconn-bench-postmap-").tempdir().expect("temp dir");
    let etc = dir.path().join("etc");
    std::fs::create_dir(&etc).expect("mkdir");
    std::fs::write(etc.join("main.cf"), "compatibility_level = 3.7\n").expect("main.cf");
    std::fs::write(
        etc.join("ldap-mailbox.cf"),
        format!(
            "server_host = {}\nversion = 3\nsearch_base = ou=people,{}\nscope = sub\n\
             query_filter = (&(objectClass=inetOrgPerson)(mail=%s))\nresult_attribute = uid\n\
             result_format = %s@example.org\nbind = yes\nbind_dn = {}\nbind_pw = {}\n",
            slapd.ldap_url(),
            slapd.base_dn(),
            slapd.service_dn(),
            slapd.service_password()
        ),
    )
    .expect("ldap-mailbox.cf");
    let ours = format!("socketmap:inet:127.0.0.1:{port}:mailbox");
    let reference = format!("ldap:{}", etc.join("ldap-mailbox.cf").display());
    for table in [&ours, &reference] {
        let probe = dirconn_tests::postfix::postmap(&etc, &["-q", "user00001@example.org", table], None);
        assert!(
            String::from_utf8_lossy(&probe.stdout).trim() == "user00001@example.org",
            "{table}: {}{} (the ldap table needs the postfix-ldap package)",
            String::from_utf8_lossy(&probe.stdout),
            String::from_utf8_lossy(&probe.stderr)
        );
    }

    let (mut ref_rounds, mut our_rounds) = (Vec::new(), Vec::new());
    for r in 1..=rounds {
        let files = key_files(dir.path(), r, clients, keys, users);
        let a = lookups(&etc, &reference, &files, slapd.pid());
        let b = lookups(&etc, &ours, &files, serve.pid());
        assert_eq!(a.1, b.1, "round {r}: both tables answer the same");
        println!(
            "round {r}: reference {:.0} lookups/s (slapd {:.0}%) | ours {:.0} lookups/s (dirconn {:.0}%) [{} found of {}]",
            a.0.per_second,
            a.0.server_cpu,
            b.0.per_second,
            b.0.server_cpu,
            b.1,
            keys * clients
        );
        ref_rounds.push(a.0);
        our_rounds.push(b.0);
    }
    let by_rate = |v: &mut Vec<MapRound>| {
        v.sort_by(|a, b| a.per_second.total_cmp(&b.per_second));
        v.remove(v.len() / 2)
    };
    let (a, b) = (by_rate(&mut ref_rounds), by_rate(&mut our_rounds));
    println!(
        "{clients} postmap process(es), {keys} keys each per round (1 in 5 unknown), {rounds} rounds, {users} users; \
         median round: reference ldap: {:.0}/s, ours socketmap: {:.0}/s",
        a.per_second, b.per_second
    );
    println!(
        "bench postfix-map: ours={:.0}lookups/s reference={:.0}lookups/s ratio={:.2}",
        b.per_second,
        a.per_second,
        b.per_second / a.per_second
    );
}

/// One file of keys per client for round `round`: generated users' addresses in an order of the round's,
/// every fifth an address no one has.
fn key_files(dir: &Path, round: usize, clients: usize, keys: usize, users: usize) -> Vec<PathBuf> {
    (0..clients)
        .map(|c| {
            let text: String = (0..keys)
                .map(|i| {
                    let k = c * keys + i;
                    if k % 5 == 4 {
                        format!("nobody{k}@example.org\n")
                    } else {
                        format!("{}@example.org\n", user(k, round, users).0)
                    }
                })
                .collect();
            let path = dir.join(format!("keys-{round}-{c}"));
            std::fs::write(&path, text).expect("keys");
            path
        })
        .collect()
}

/// Runs one `postmap -q - TABLE` per key file at once; the rate over all of them, the CPU the server `pid`
/// used, and how many keys were found.
fn lookups(etc: &Path, table: &str, files: &[PathBuf], pid: u32) -> (MapRound, usize) {
    let cpu_before = proc_stat(pid).map(|s| s.cpu).unwrap_or_default();
    let started = std::time::Instant::now();
    let outputs: Vec<std::process::Output> = std::thread::scope(|scope| {
        let runs: Vec<_> = files
            .iter()
            .map(|f| scope.spawn(move || dirconn_tests::postfix::postmap(etc, &["-q", "-", table], Some(f))))
            .collect();
        runs.into_iter().map(|r| r.join().expect("postmap")).collect()
    });
    let wall = started.elapsed().as_secs_f64();
    let cpu = proc_stat(pid).map(|s| s.cpu).unwrap_or_default().saturating_sub(cpu_before);
    let mut found = 0;
    for out in &outputs {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.trim().is_empty(), "{table}: {stderr}");
        found += String::from_utf8_lossy(&out.stdout).lines().count();
    }
    let total: usize = files.iter().map(|f| std::fs::read_to_string(f).map(|t| t.lines().count()).unwrap_or(0)).sum();
    (MapRound { per_second: total as f64 / wall, server_cpu: 100.0 * cpu.as_secs_f64() / wall }, found)
}

fn median(rounds: &mut [Round]) -> &Round {
    rounds.sort_by(|a, b| a.run.per_second().total_cmp(&b.run.per_second()));
    &rounds[rounds.len() / 2]
}

/// Runs `f`, with the CPU time each process class used meanwhile: Dovecot's processes by title (`auth`,
/// `auth-worker`, `imap-login`…, and `imap (exited)`: the children the master reaped), the named `pids`, and
/// this process (the IMAP clients).
fn measure(d: &Dovecot, pids: &[(&str, u32)], f: impl FnOnce() -> LoginRun) -> Round {
    let before = snapshot(d, pids);
    let run = f();
    let after = snapshot(d, pids);
    let mut cpu: BTreeMap<String, Duration> = BTreeMap::new();
    for (key, (class, t)) in &after {
        let spent = t.saturating_sub(before.get(key).map(|(_, t)| *t).unwrap_or_default());
        *cpu.entry(class.clone()).or_default() += spent;
    }
    Round { run, cpu }
}

/// `(pid or pid+"c" for reaped children) -> (class, cpu time)`.
fn snapshot(d: &Dovecot, pids: &[(&str, u32)]) -> BTreeMap<String, (String, Duration)> {
    let mut out = BTreeMap::new();
    let master = d.pid();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Some(stat) = proc_stat(pid) else { continue };
        if stat.pgrp != master {
            continue;
        }
        let class = title(pid);
        out.insert(pid.to_string(), (class, stat.cpu));
        if pid == master {
            out.insert(format!("{pid}c"), ("dovecot: exited children".to_owned(), stat.children_cpu));
        }
    }
    for (name, pid) in pids {
        if let Some(stat) = proc_stat(*pid) {
            out.insert(pid.to_string(), ((*name).to_owned(), stat.cpu));
        }
    }
    if let Some(stat) = proc_stat(std::process::id()) {
        out.insert("self".into(), ("imap clients".into(), stat.cpu));
    }
    out
}

struct Stat {
    pgrp: u32,
    cpu: Duration,
    children_cpu: Duration,
}

fn proc_stat(pid: u32) -> Option<Stat> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command, which is in parentheses and may hold spaces: state ppid pgrp … (utime is the
    // 14th field of the line, so the 12th after the command).
    let rest = &text[text.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // SAFETY: sysconf has no preconditions.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let secs = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) as f64 / tick;
    Some(Stat {
        pgrp: f.get(2)?.parse().ok()?,
        cpu: Duration::from_secs_f64(secs(11) + secs(12)),
        children_cpu: Duration::from_secs_f64(secs(13) + secs(14)),
    })
}

/// A Dovecot process's title without its details: `dovecot: auth-worker`, `dovecot: imap-login`…
fn title(pid: u32) -> String {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    let first = text.split_whitespace().next().unwrap_or("?");
    let name = first.rsplit('/').next().unwrap_or(first);
    format!("dovecot: {name}")
}
