//! `bench spray`: logins of familiar users through `dirconn serve` (`POST /v1/auth` from 127.0.0.3, where
//! every user logged in before) while an attacker sprays wrong passwords for the same users from 127.0.0.2
//! (ours), vs the same logins with no attacker (the reference), on one slapd whose ppolicy locks at 3. Every
//! familiar login must succeed; the attacker's answers are counted, and no entry may end up locked.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    thread,
};

use dirconn_tests::{
    DomainSpec, Slapd, SlapdOptions,
    http::Http,
    serve::{Serve, ServeSpec},
    slapd,
};
use serde_json::json;

use super::{Round, SERVER_PID, drive, median, ms};

const FAMILIAR: &str = "127.0.0.3";
const ATTACKER: &str = "127.0.0.2";

/// The attacker: `threads` keep-alive clients sending a new wrong password each, for users in turn, until
/// `stop`; counts the answers by status.
fn attack(
    serve: &Serve,
    users: usize,
    threads: usize,
    round: usize,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<[usize; 4]> {
    let (addr, token) = (serve.api_addr(), serve.spec().token("mail").to_owned());
    let sent = Arc::new(AtomicUsize::new(0));
    thread::spawn(move || {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (stop, sent, token) = (Arc::clone(&stop), Arc::clone(&sent), token.clone());
                thread::spawn(move || {
                    let mut http = Http::new(addr).with_token(&token);
                    let mut counts = [0usize; 4];
                    while !stop.load(Ordering::Relaxed) {
                        let i = sent.fetch_add(1, Ordering::Relaxed);
                        let body = json!({
                            "login": slapd::generated_uid(1 + i % users),
                            "password": format!("spray-{round}-{i}"),
                            "client_ip": ATTACKER,
                        });
                        let slot = match http.post_json("/v1/auth", &body).status {
                            401 => 0,
                            429 => 1,
                            503 => 2,
                            _ => 3,
                        };
                        counts[slot] += 1;
                    }
                    counts
                })
            })
            .collect();
        let mut all = [0usize; 4];
        for w in workers {
            for (a, c) in all.iter_mut().zip(w.join().expect("attacker")) {
                *a += c;
            }
        }
        all
    })
}

/// Runs the benchmark: `binary` is the release `dirconn`, `plugin_dir` holds the release plugins.
pub async fn run(plugin_dir: &Path, binary: PathBuf, users: usize, logins: usize, rounds: usize) {
    println!("bench spray: starting slapd with {users} generated users (ppolicy locks at 3)…");
    let server = Slapd::start_with(SlapdOptions { users, ..SlapdOptions::default() });
    SERVER_PID.store(server.pid(), Ordering::Relaxed);
    let spec = DomainSpec::ldap(&server).raw("pool_size", "8").raw("operation_timeout", "\"10s\"");
    let mut serve_spec = ServeSpec::new(vec![spec]);
    serve_spec.binary = Some(binary);
    serve_spec.plugin = Some(plugin_dir.join(dirconn_tests::stage::library_file_name("dirconn-plugin-ldap")));
    // 127.0.0.2 and 127.0.0.3 are one /24: networks by address.
    serve_spec.service.push("throttle = { ipv4_prefix = 32 }".into());
    let serve = Serve::start(serve_spec);
    let clients = super::service::clients_of(&serve, Some(FAMILIAR));
    let login = move |n: usize| clients.login(n);
    // Every user logs in once from the familiar address: accounts exist, networks are familiar.
    let mut first = tokio::task::JoinSet::new();
    for n in 1..=users {
        first.spawn(login(n));
        if first.len() >= 16 {
            assert!(first.join_next().await.expect("a login").expect("a task"), "a first login failed");
        }
    }
    while let Some(ok) = first.join_next().await {
        assert!(ok.expect("a task"), "a first login failed");
    }
    let (mut quiet, mut attacked): (Vec<Round>, Vec<Round>) = (Vec::new(), Vec::new());
    let mut answers = [0usize; 4];
    for r in 1..=rounds {
        let a = drive(16, logins, users, login.clone()).await;
        let stop = Arc::new(AtomicBool::new(false));
        let attacker = attack(&serve, users, 8, r, Arc::clone(&stop));
        let b = drive(16, logins, users, login.clone()).await;
        stop.store(true, Ordering::Relaxed);
        let counts = attacker.join().expect("attacker");
        println!(
            "round {r}: no attacker {:.0} logins/s p99 {:.2} ms | attacked {:.0} logins/s p99 {:.2} ms; the attacker \
             got {} × 401, {} × 429, {} × 503, {} other",
            a.per_second,
            ms(a.p99),
            b.per_second,
            ms(b.p99),
            counts[0],
            counts[1],
            counts[2],
            counts[3]
        );
        for (t, c) in answers.iter_mut().zip(counts) {
            *t += c;
        }
        quiet.push(a);
        attacked.push(b);
    }
    let locked = locked_entries(&server);
    println!(
        "16 familiar clients, 8 attacker clients, {logins} logins per round, {rounds} rounds, {users} users; the \
         attacker's {} wrong passwords: {} reached slapd (401), {} held back (429); entries locked: {locked}",
        answers.iter().sum::<usize>(),
        answers[0],
        answers[1]
    );
    assert_eq!(locked, 0, "the attacker locked entries");
    assert_eq!(answers[3], 0, "the attacker got answers other than 401, 429 and 503");
    let (a, b) = (median(&mut quiet), median(&mut attacked));
    println!(
        "bench spray: ours={:.0}logins/s reference={:.0}logins/s ratio={:.3}",
        b.per_second,
        a.per_second,
        b.per_second / a.per_second
    );
}

/// The entries ppolicy locked (those with a `pwdAccountLockedTime`), read as the rootdn.
fn locked_entries(server: &Slapd) -> usize {
    let text = server.ldapsearch(&["-b", slapd::PEOPLE_DN, "(pwdAccountLockedTime=*)", "1.1"]);
    text.lines().filter(|l| l.starts_with("dn:")).count()
}
