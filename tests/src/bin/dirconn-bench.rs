//! `dirconn-bench`: dirconn and a reference side by side in one run (driven by `cargo xtask bench`).
//!
//! - `auth`: one slapd with generated users, each in a team group nested in a department nested in an
//!   organisation group (groupOfNames, memberOf kept by the memberof overlay); concurrent clients log random
//!   users in, (a) with raw ldap3 on a runtime of its own as large as the plugin's (pooled service
//!   connections for the search, a fresh connection with Nagle off for the user bind, the groups resolved as
//!   ours resolves them) and (b) through the host and the loaded `ldap`
//!   cdylib. Rounds alternate; the median round of each side is reported. Twice: with
//!   `group_membership = "nested-member-of"` (`bench auth`: memberOf read in the user search, the groups'
//!   memberOf walked upward through a cached graph) and with `"search"` (`bench auth-member-search`: one
//!   group search per nesting level).
//! - `service`: `POST /v1/auth` of the release `dirconn serve` by keep-alive HTTP clients vs the host's
//!   login flow in-process, same slapd, users and store work (16 and 64 clients; `bench/service.rs`).
//! - `abi`: a trivial async call (`lookup_user` of the echo fixture) with many in flight, through the loaded
//!   cdylib vs the same connector called in-process.
//! - `sync`: one slapd with generated users; a raw ldap3 paged search of every user vs a full sync through
//!   the host and the loaded `ldap` cdylib into a fresh SQLite store; then the peak RSS of a full sync (in a
//!   child process, `sync-child`), a re-sync with nothing changed, and an incremental sync after 1,000
//!   changes; last the summary line `bench sync` (the full sync against the raw search). Above 100,000
//!   users (`--users 1000000`), a directory of 100,000 is synced first, and the full sync's time is printed
//!   as a ratio to that one's (`bench sync-scale`).
//!
//! - `kerberos`: full logins with the password checked by an MIT KDC, dirconn-kerberos vs pam_krb5
//!   (`bench/kerberos.rs`).
//!
//! Each benchmark ends with `bench <name>: ours=<value><unit> reference=<value><unit> ratio=<ours/reference>`
//! (`auth` with two: `bench auth` and `bench auth-member-search`).

use std::{
    collections::{HashMap, HashSet},
    path::{Path, PathBuf},
    process::Command,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use dirconn_abi::{ClientContext, Connector, normalize_dn};
use dirconn_tests::{
    DomainSpec, Slapd, SlapdOptions, TestHost,
    samba::{self, SambaDc},
    slapd,
};
use futures::{StreamExt, stream::FuturesUnordered};
use ldap3::{
    Ldap, LdapConnAsync, LdapConnSettings, Mod, Scope, SearchEntry, StdStream,
    adapters::{Adapter, EntriesOnly, PagedResults},
};

#[path = "bench/kerberos.rs"]
mod kerberos;
#[path = "bench/load.rs"]
mod load;
#[path = "bench/od.rs"]
mod od;
#[path = "bench/service.rs"]
mod service;
#[path = "bench/spray.rs"]
mod spray;

fn arg(args: &[String], name: &str, default: usize) -> usize {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let filter = tracing_subscriber::EnvFilter::try_from_env("DIRCONN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let plugin_dir = args
        .iter()
        .position(|a| a == "--plugin-dir")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .expect("--plugin-dir DIR");
    // The Samba DC listens on fixed ports: it and this process share a private network namespace, entered
    // before any runtime thread exists.
    let samba = (args.first().map(String::as_str) == Some("auth-ad")).then(|| {
        if let Some(why) = samba::unavailable() {
            eprintln!("bench auth-ad: {why}");
            std::process::exit(2);
        }
        samba::enter_private_network().expect("a private network namespace");
        println!("bench auth --connector active-directory: starting a Samba AD DC…");
        let started = Instant::now();
        let dc = SambaDc::start();
        println!("Samba AD DC ready in {:.1} s", started.elapsed().as_secs_f64());
        dc
    });
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    match args.first().map(String::as_str) {
        Some("auth-ad") => runtime.block_on(auth_ad(
            &plugin_dir,
            samba.as_ref().expect("the DC"),
            arg(&args, "--clients", 16),
            arg(&args, "--logins", 2_000),
            arg(&args, "--rounds", 5),
        )),
        Some("auth") => runtime.block_on(auth(
            &plugin_dir,
            arg(&args, "--users", 10_000),
            arg(&args, "--clients", 16),
            arg(&args, "--logins", 4_000),
            arg(&args, "--rounds", 5),
        )),
        Some("auth-od") => runtime.block_on(od::run(
            &plugin_dir,
            arg(&args, "--users", 2_000),
            arg(&args, "--clients", 16),
            arg(&args, "--logins", 4_000),
            arg(&args, "--rounds", 5),
        )),
        Some("abi") => {
            runtime.block_on(abi(&plugin_dir, arg(&args, "--calls", 500_000), arg(&args, "--in-flight", 256)))
        }
        Some("sync") => {
            let users = arg(&args, "--users", 100_000);
            let rounds = arg(&args, "--rounds", if users >= 500_000 { 1 } else { 3 });
            runtime.block_on(sync(&plugin_dir, users, rounds))
        }
        Some("kerberos") => runtime.block_on(kerberos::run(
            &plugin_dir,
            arg(&args, "--users", 1_000),
            arg(&args, "--clients", 16),
            arg(&args, "--logins", 2_000),
            arg(&args, "--rounds", 5),
        )),
        Some("service") => {
            let binary =
                args.iter().position(|a| a == "--binary").and_then(|i| args.get(i + 1)).expect("--binary FILE");
            let (users, logins, rounds) =
                (arg(&args, "--users", 10_000), arg(&args, "--logins", 4_000), arg(&args, "--rounds", 5));
            if args.iter().any(|a| a == "--cache") {
                runtime.block_on(service::run_cache(&plugin_dir, PathBuf::from(binary), users, logins, rounds))
            } else {
                runtime.block_on(service::run(&plugin_dir, PathBuf::from(binary), users, logins, rounds))
            }
        }
        Some("load") => {
            let binary =
                args.iter().position(|a| a == "--binary").and_then(|i| args.get(i + 1)).expect("--binary FILE");
            let (users, clients) = (arg(&args, "--users", 2_000), arg(&args, "--clients", 64));
            load::run(&plugin_dir, PathBuf::from(binary), users, clients, arg(&args, "--seconds", 60) as u64);
        }
        Some("spray") => {
            let binary =
                args.iter().position(|a| a == "--binary").and_then(|i| args.get(i + 1)).expect("--binary FILE");
            let (users, logins, rounds) =
                (arg(&args, "--users", 1_000), arg(&args, "--logins", 3_000), arg(&args, "--rounds", 5));
            runtime.block_on(spray::run(&plugin_dir, PathBuf::from(binary), users, logins, rounds))
        }
        Some("sync-child") => {
            let value = |name: &str| {
                args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned().expect("sync-child argument")
            };
            runtime.block_on(sync_child(&plugin_dir, &value("--url"), Path::new(&value("--password-file"))))
        }
        _ => {
            eprintln!(
                "usage: dirconn-bench auth|auth-ad|auth-od|abi|sync|service|spray|load|kerberos --plugin-dir DIR [--users N --clients N --logins N --rounds N]"
            );
            std::process::exit(2);
        }
    }
}

/// One round's figures: throughput, latency, and CPU time per login of this process and of the server.
#[derive(Debug, Clone, Copy)]
struct Round {
    per_second: f64,
    p50: Duration,
    p99: Duration,
    cpu_us: f64,
    server_cpu_us: f64,
}

fn round(mut latencies: Vec<Duration>, wall: Duration, cpu: Duration, server_cpu: Duration) -> Round {
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    let per_login = |d: Duration| d.as_secs_f64() * 1e6 / latencies.len() as f64;
    Round {
        per_second: latencies.len() as f64 / wall.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
        cpu_us: per_login(cpu),
        server_cpu_us: per_login(server_cpu),
    }
}

/// The PID of the directory server whose CPU time the rounds report (0: none).
static SERVER_PID: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// CPU time (user + system) of this process.
fn own_cpu() -> Duration {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::from_micros(t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// CPU time (user + system) of the server, from /proc (clock ticks of 10 ms); zero when unknown.
fn server_cpu() -> Duration {
    let pid = SERVER_PID.load(Ordering::Relaxed);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    Duration::from_millis(stat_ticks(&stat) * 10)
}

/// User + system clock ticks (10 ms) of a `/proc/…/stat` line: after the command name in parentheses, state
/// is the 3rd field, utime the 14th, stime the 15th.
fn stat_ticks(stat: &str) -> u64 {
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    rest.split_whitespace().skip(11).take(2).filter_map(|f| f.parse::<u64>().ok()).sum()
}

/// CPU time (user + system, seconds) of this process's threads, summed by thread name (`dirconn-plugin`,
/// `sqlx-sqlite-wor…`, `tokio-rt-worker`, the main thread under the binary's name).
fn thread_cpu() -> std::collections::BTreeMap<String, f64> {
    let mut by_name = std::collections::BTreeMap::new();
    for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let name = stat[open + 1..close].to_owned();
        *by_name.entry(name).or_insert(0.0) += stat_ticks(&stat) as f64 / 100.0;
    }
    by_name
}

/// What each kind of thread spent between two [`thread_cpu`] readings, largest first: `plugin 0.98 s, …`;
/// `total` is the process's CPU time over the same span, whose rest went to threads that have ended since
/// (a store's SQLite thread ends with the store).
fn thread_cpu_delta(before: &std::collections::BTreeMap<String, f64>, total: f64) -> String {
    let mut spent: Vec<(String, f64)> = thread_cpu()
        .into_iter()
        .map(|(name, t)| {
            let d = t - before.get(&name).copied().unwrap_or(0.0);
            (name, d)
        })
        .filter(|(_, d)| *d >= 0.01)
        .collect();
    let ended = total - spent.iter().map(|(_, d)| d).sum::<f64>();
    if ended >= 0.05 {
        spent.push(("threads ended since".to_owned(), ended));
    }
    spent.sort_by(|a, b| b.1.total_cmp(&a.1));
    spent.iter().map(|(n, d)| format!("{n} {d:.2} s")).collect::<Vec<_>>().join(", ")
}

fn median(rounds: &mut [Round]) -> Round {
    rounds.sort_by(|a, b| a.per_second.total_cmp(&b.per_second));
    rounds[rounds.len() / 2]
}

/// Runs `logins` logins from `clients` concurrent workers, each picking users at random.
async fn drive<F, Fut>(clients: usize, logins: usize, users: usize, login: F) -> Round
where
    F: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let (started, cpu, server) = (Instant::now(), own_cpu(), server_cpu());
    let workers: Vec<_> = (0..clients)
        .map(|w| {
            let next = Arc::clone(&next);
            let login = login.clone();
            tokio::spawn(async move {
                let mut state = 0x9e37_79b9_7f4a_7c15_u64 ^ (w as u64 + 1);
                let mut lat = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < logins {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let user = 1 + (state as usize % users);
                    let t = Instant::now();
                    assert!(login(user).await, "login of user {user} failed");
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::with_capacity(logins);
    for w in workers {
        all.extend(w.await.expect("worker"));
    }
    round(all, started.elapsed(), own_cpu() - cpu, server_cpu() - server)
}

/// The reference: raw ldap3, a few shared service connections for the search, a fresh connection per bind,
/// then the groups resolved as [`RefGroups`] says (what the host does, minus state and the plugin boundary).
struct Reference {
    url: String,
    base: String,
    /// The user filter, `{}` standing for the escaped login.
    filter: &'static str,
    attrs: Vec<&'static str>,
    service: Vec<Ldap>,
    next: AtomicUsize,
    groups: RefGroups,
}

/// The reference's runtime, apart from the one that drives the clients, with as many threads as the
/// plugin's (`dirconn_abi::plugin::runtime`: the CPUs, at least 2).
fn reference_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2);
        let builder = &mut tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(threads).thread_name("reference").enable_all().build().expect("reference runtime")
    })
}

/// How the reference resolves a user's groups after the bind: as the engine does in each mode.
enum RefGroups {
    /// Not at all.
    None,
    /// `nested-member-of`: the user's memberOf, then each group's memberOf upward, the group → parents
    /// links read once by a base search and kept (normalized DN → parents).
    MemberOfGraph(std::sync::Mutex<HashMap<String, Vec<String>>>),
    /// `search`: memberOf plus the groups naming the user, then one search per nesting level.
    MemberSearch,
}

/// The engine's default `group_object_filter` (`dirconn_ldap::DEFAULT_GROUP_OBJECT_FILTER`).
const GROUP_OBJECT_FILTER: &str =
    "(|(objectClass=groupOfNames)(objectClass=groupOfUniqueNames)(objectClass=posixGroup))";
/// The engine's default `nested_group_depth`, and its groups per parent search.
const DEPTH: usize = 10;
const PARENT_CHUNK: usize = 32;

impl Reference {
    /// A connection with Nagle off, as the engine makes them (ldap3 leaves it on: a request then waits
    /// for a delayed ACK now and then, ~40 ms, which a fair reference must not pay).
    async fn connect(url: &str) -> Ldap {
        let authority = url.split_once("://").map_or(url, |(_, rest)| rest).trim_end_matches('/');
        let stream = tokio::net::TcpStream::connect(authority).await.expect("TCP connect");
        stream.set_nodelay(true).expect("TCP_NODELAY");
        let settings = LdapConnSettings::new().set_std_stream(StdStream::Tcp(stream.into_std().expect("std stream")));
        let (conn, ldap) = LdapConnAsync::with_settings(settings, url).await.expect("connect");
        ldap3::drive!(conn);
        ldap
    }

    /// Against the slapd of the harness: inetOrgPerson by uid.
    async fn slapd(slapd: &Slapd, pool: usize) -> Reference {
        let base = format!("ou=people,{}", slapd.base_dn());
        let filter = "(&(objectClass=inetOrgPerson)(uid={}))";
        let attrs = vec!["*", "entryUUID", "memberOf", "pwdAccountLockedTime"];
        Reference::new(&slapd.ldap_url(), slapd.service_dn(), slapd.service_password(), base, filter, attrs, pool).await
    }

    /// Against the Samba DC of the harness: a person by sAMAccountName.
    async fn samba(dc: &SambaDc, pool: usize) -> Reference {
        let filter = "(&(objectCategory=person)(objectClass=user)(sAMAccountName={}))";
        let attrs = vec!["*", "objectGUID", "memberOf"];
        let base = dc.base_dn().to_owned();
        Reference::new(&dc.ldap_url(), dc.service_dn(), dc.service_password(), base, filter, attrs, pool).await
    }

    async fn new(
        url: &str,
        dn: &str,
        password: &str,
        base: String,
        filter: &'static str,
        attrs: Vec<&'static str>,
        pool: usize,
    ) -> Reference {
        let (target, dn, password) = (url.to_owned(), dn.to_owned(), password.to_owned());
        // The service connections are driven by the reference's runtime, as ours are by the plugin's.
        let service = reference_runtime()
            .spawn(async move {
                let mut service = Vec::new();
                for _ in 0..pool {
                    let mut ldap = Reference::connect(&target).await;
                    ldap.simple_bind(&dn, &password).await.unwrap().success().unwrap();
                    service.push(ldap);
                }
                service
            })
            .await
            .expect("the reference's service connections");
        let groups = RefGroups::None;
        Reference { url: url.to_owned(), base, filter, attrs, service, next: AtomicUsize::new(0), groups }
    }

    /// Logs a user in on the reference's own runtime (ours runs on the plugin's: the same thread layout);
    /// the user's groups (DNs as the server spells them) when the password is right.
    async fn login(self: &Arc<Self>, login: &str, password: &str) -> Option<Vec<String>> {
        let (me, login, password) = (Arc::clone(self), login.to_owned(), password.to_owned());
        reference_runtime().spawn(async move { me.login_here(&login, &password).await }).await.ok()?
    }

    async fn login_here(&self, login: &str, password: &str) -> Option<Vec<String>> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.service.len();
        let mut svc = self.service[i].clone();
        let filter = self.filter.replace("{}", &ldap3::ldap_escape(login));
        let result = svc.search(&self.base, Scope::Subtree, &filter, self.attrs.clone()).await.ok()?;
        let (entries, _) = result.success().ok()?;
        // AD answers a subtree search from its root with a referral too: not an entry.
        let entry = entries.into_iter().filter(|e| !e.is_ref()).map(SearchEntry::construct).next()?;
        let mut user = Reference::connect(&self.url).await;
        let ok = user.simple_bind(&entry.dn, password).await.map(|r| r.rc == 0).unwrap_or(false);
        let _ = user.unbind().await;
        if !ok {
            return None;
        }
        let member_of = entry.attrs.get("memberOf").cloned().unwrap_or_default();
        match &self.groups {
            RefGroups::None => Some(member_of),
            RefGroups::MemberOfGraph(parents) => Some(graph_groups(&mut svc, parents, member_of).await),
            RefGroups::MemberSearch => searched_groups(&mut svc, &entry.dn, login, member_of).await,
        }
    }
}

/// The user's memberOf values, then each group's own memberOf, upward, through the cached links.
async fn graph_groups(
    svc: &mut Ldap,
    cache: &std::sync::Mutex<HashMap<String, Vec<String>>>,
    member_of: Vec<String>,
) -> Vec<String> {
    let (mut out, mut seen, mut frontier) = (Vec::new(), HashSet::new(), Vec::new());
    for g in member_of {
        if seen.insert(normalize_dn(&g)) {
            frontier.push(g.clone());
            out.push(g);
        }
    }
    for _ in 0..DEPTH {
        let mut next = Vec::new();
        for g in &frontier {
            let key = normalize_dn(g);
            let known = cache.lock().expect("cache").get(&key).cloned();
            let parents = match known {
                Some(parents) => parents,
                None => {
                    let read = svc.search(g, Scope::Base, GROUP_OBJECT_FILTER, vec!["memberOf"]).await;
                    let entries = read.ok().and_then(|r| r.success().ok()).map(|(e, _)| e).unwrap_or_default();
                    let parents: Vec<String> = entries
                        .into_iter()
                        .map(SearchEntry::construct)
                        .flat_map(|e| e.attrs.get("memberOf").cloned().unwrap_or_default())
                        .collect();
                    cache.lock().expect("cache").insert(key, parents.clone());
                    parents
                }
            };
            for p in parents {
                if seen.insert(normalize_dn(&p)) {
                    next.push(p.clone());
                    out.push(p);
                }
            }
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    out
}

/// memberOf plus the groups naming the user, then their parents, one search per level (32 groups each).
async fn searched_groups(svc: &mut Ldap, dn: &str, login: &str, member_of: Vec<String>) -> Option<Vec<String>> {
    let (mut out, mut seen, mut frontier) = (Vec::new(), HashSet::new(), Vec::new());
    let mut add = |g: String, frontier: &mut Vec<String>| {
        if seen.insert(normalize_dn(&g)) {
            frontier.push(g.clone());
            out.push(g);
        }
    };
    for g in member_of {
        add(g, &mut frontier);
    }
    let (d, l) = (ldap3::ldap_escape(dn), ldap3::ldap_escape(login));
    let direct = format!("(&{GROUP_OBJECT_FILTER}(|(member={d})(uniqueMember={d})(memberUid={l})))");
    for g in group_search(svc, &direct).await? {
        add(g, &mut frontier);
    }
    for _ in 0..DEPTH {
        let mut next = Vec::new();
        for chunk in frontier.chunks(PARENT_CHUNK) {
            let any: String = chunk
                .iter()
                .map(|g| {
                    let g = ldap3::ldap_escape(g);
                    format!("(member={g})(uniqueMember={g})")
                })
                .collect();
            for g in group_search(svc, &format!("(&{GROUP_OBJECT_FILTER}(|{any}))")).await? {
                add(g, &mut next);
            }
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    Some(out)
}

async fn group_search(svc: &mut Ldap, filter: &str) -> Option<Vec<String>> {
    let (entries, _) = svc.search(slapd::BASE_DN, Scope::Subtree, filter, vec!["1.1"]).await.ok()?.success().ok()?;
    Some(entries.into_iter().map(|e| SearchEntry::construct(e).dn).collect())
}

/// Teams of users, departments of teams, one organisation of departments (groupOfNames under ou=groups):
/// generated user n is in team n % 100, team t in department t % 10. Added online as the admin, so that
/// the memberof overlay writes memberOf on the users and the nested groups.
async fn add_nested_groups(slapd: &Slapd, users: usize) {
    const TEAMS: usize = 100;
    const DEPTS: usize = 10;
    let mut ldap = Reference::connect(&slapd.ldap_url()).await;
    ldap.simple_bind(slapd.admin_dn(), slapd.admin_password()).await.unwrap().success().unwrap();
    let mut add = async |cn: String, members: Vec<String>| {
        let dn = format!("cn={cn},{}", slapd::GROUPS_DN);
        let members: HashSet<&str> = members.iter().map(String::as_str).collect();
        let attrs = vec![
            ("objectClass", HashSet::from(["groupOfNames"])),
            ("cn", HashSet::from([cn.as_str()])),
            ("member", members),
        ];
        ldap.add(&dn, attrs).await.unwrap().success().unwrap_or_else(|e| panic!("add {dn}: {e}"));
    };
    for t in 0..TEAMS {
        let members: Vec<String> = (1..=users).filter(|n| n % TEAMS == t).map(slapd::generated_user_dn).collect();
        if !members.is_empty() {
            add(format!("bench-team-{t}"), members).await;
        }
    }
    for d in 0..DEPTS {
        let members =
            (0..TEAMS.min(users)).filter(|t| t % DEPTS == d).map(|t| format!("cn=bench-team-{t},{}", slapd::GROUPS_DN));
        let members: Vec<String> = members.collect();
        if !members.is_empty() {
            add(format!("bench-dept-{d}"), members).await;
        }
    }
    let depts = (0..DEPTS.min(users)).map(|d| format!("cn=bench-dept-{d},{}", slapd::GROUPS_DN)).collect();
    add("bench-org".to_owned(), depts).await;
    let _ = ldap.unbind().await;
}

async fn auth(plugin_dir: &std::path::Path, users: usize, clients: usize, logins: usize, rounds: usize) {
    println!("bench auth: starting slapd with {users} generated users…");
    let server = Slapd::start_with(SlapdOptions { users, ppolicy: false, ..SlapdOptions::default() });
    println!("slapd ready in {:.1} s", server.startup_time().as_secs_f64());
    let started = Instant::now();
    add_nested_groups(&server, users).await;
    println!("nested groups (team < department < organisation) added in {:.1} s", started.elapsed().as_secs_f64());
    SERVER_PID.store(server.pid(), Ordering::Relaxed);
    let pool = 8;
    for (name, mode) in [("auth", "nested-member-of"), ("auth-member-search", "search")] {
        println!("group_membership = \"{mode}\":");
        let spec = DomainSpec::ldap(&server)
            .set("group_membership", mode)
            .raw("pool_size", &pool.to_string())
            .raw("operation_timeout", "\"10s\"");
        let ldap_plugin = plugin_dir.join(dirconn_tests::stage::library_file_name("dirconn-plugin-ldap"));
        let host = Arc::new(TestHost::start(&[ldap_plugin], &[spec]).expect("host"));
        let mut reference = Reference::slapd(&server, pool).await;
        reference.groups = match mode {
            "search" => RefGroups::MemberSearch,
            _ => RefGroups::MemberOfGraph(std::sync::Mutex::default()),
        };
        let reference = Arc::new(reference);
        // Both sides find the same groups.
        for n in [1, users / 2, users] {
            let (uid, password) = (slapd::generated_uid(n), slapd::generated_password(n));
            let theirs = reference.login(&uid, &password).await.expect("the reference logs in");
            let (_, user) = host
                .host
                .login(&format!("{uid}@example.org"), &password, ClientContext::default())
                .await
                .expect("ours logs in");
            let ours: Vec<String> = user.groups.iter().map(|g| g.to_string()).collect();
            let set = |g: &[String]| g.iter().map(|d| normalize_dn(d)).collect::<std::collections::BTreeSet<_>>();
            assert_eq!(set(&ours), set(&theirs), "{mode}: the groups of {uid}");
            assert_eq!(ours.len(), 3, "{mode}: {uid} is in a team, a department and the organisation: {ours:?}");
        }
        let ours_login = {
            let host = Arc::clone(&host);
            move |n: usize| {
                let host = Arc::clone(&host);
                async move {
                    let login = format!("{}@example.org", slapd::generated_uid(n));
                    host.host.login(&login, &slapd::generated_password(n), ClientContext::default()).await.is_ok()
                }
            }
        };
        let ref_login = {
            let reference = Arc::clone(&reference);
            move |n: usize| {
                let reference = Arc::clone(&reference);
                async move { reference.login(&slapd::generated_uid(n), &slapd::generated_password(n)).await.is_some() }
            }
        };
        println!("warming up…");
        drive(clients, 300, users, ref_login.clone()).await;
        drive(clients, 300, users, ours_login.clone()).await;
        let shape = Shape { name, clients, logins, users, rounds, pool };
        compare(&shape, ref_login, ours_login).await;
    }
}

/// What a login benchmark runs: its name in the result lines, and its sizes.
struct Shape {
    name: &'static str,
    clients: usize,
    logins: usize,
    users: usize,
    rounds: usize,
    pool: usize,
}

/// Alternating rounds of the reference and of ours; prints each round, then the median rounds' figures.
async fn compare<R, RF, O, OF>(shape: &Shape, ref_login: R, ours_login: O)
where
    R: Fn(usize) -> RF + Clone + Send + Sync + 'static,
    RF: std::future::Future<Output = bool> + Send,
    O: Fn(usize) -> OF + Clone + Send + Sync + 'static,
    OF: std::future::Future<Output = bool> + Send,
{
    let Shape { name, clients, logins, users, rounds, pool } = *shape;
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for r in 1..=rounds {
        let a = drive(clients, logins, users, ref_login.clone()).await;
        let b = drive(clients, logins, users, ours_login.clone()).await;
        println!(
            "round {r}: reference {:.0} logins/s p50 {:.2} ms p99 {:.2} ms cpu {:.0}+{:.0} us | ours {:.0} logins/s \
             p50 {:.2} ms p99 {:.2} ms cpu {:.0}+{:.0} us",
            a.per_second,
            ms(a.p50),
            ms(a.p99),
            a.cpu_us,
            a.server_cpu_us,
            b.per_second,
            ms(b.p50),
            ms(b.p99),
            b.cpu_us,
            b.server_cpu_us,
        );
        theirs.push(a);
        ours.push(b);
    }
    let (a, b) = (median(&mut theirs), median(&mut ours));
    println!(
        "{clients} clients, {logins} logins per round, {rounds} rounds, {users} users, pool of {pool}; median round:"
    );
    println!(
        "bench {name}-p99: ours={:.2}ms reference={:.2}ms ratio={:.3}",
        ms(b.p99),
        ms(a.p99),
        ms(b.p99) / ms(a.p99)
    );
    let cpu = |r: &[Round]| median_of(r.iter().map(|x| x.cpu_us).collect());
    let server = |r: &[Round]| median_of(r.iter().map(|x| x.server_cpu_us).collect());
    println!(
        "CPU per login (median; this process + the server): ours {:.0}+{:.0} us, reference {:.0}+{:.0} us",
        cpu(&ours),
        server(&ours),
        cpu(&theirs),
        server(&theirs)
    );
    println!(
        "bench {name}: ours={:.0}logins/s reference={:.0}logins/s ratio={:.3}",
        b.per_second,
        a.per_second,
        b.per_second / a.per_second
    );
}

async fn auth_ad(plugin_dir: &std::path::Path, dc: &SambaDc, clients: usize, logins: usize, rounds: usize) {
    let users = samba::GENERATED_USERS;
    let pool = 8;
    let spec = DomainSpec::new()
        .set("name", "example.com")
        .set("connector", "active-directory")
        .set("urls", &format!("[\"{}\"]", dc.ldap_url()))
        .set("bind_dn", dc.service_dn())
        .set("bind_password_file", &dc.service_password_file().display().to_string())
        .set("search_base", dc.base_dn())
        .raw("pool_size", &pool.to_string())
        .raw("operation_timeout", "\"20s\"");
    let plugin = plugin_dir.join(dirconn_tests::stage::library_file_name("dirconn-plugin-active-directory"));
    let host = Arc::new(TestHost::start(&[plugin], &[spec]).expect("host"));
    let reference = Arc::new(Reference::samba(dc, pool).await);
    let ours_login = {
        let host = Arc::clone(&host);
        move |n: usize| {
            let host = Arc::clone(&host);
            async move {
                let login = format!("{}@example.com", samba::generated_sam(n));
                host.host.login(&login, &samba::generated_password(n), ClientContext::default()).await.is_ok()
            }
        }
    };
    let ref_login = {
        let reference = Arc::clone(&reference);
        move |n: usize| {
            let reference = Arc::clone(&reference);
            async move { reference.login(&samba::generated_sam(n), &samba::generated_password(n)).await.is_some() }
        }
    };
    // Samba writes lastLogonTimestamp at a user's first bind: every user logs in once before the rounds, so
    // that neither side pays those writes.
    println!("warming up: every user logs in once…");
    let next = Arc::new(AtomicUsize::new(1));
    let warm: Vec<_> = (0..clients)
        .map(|_| {
            let (next, login) = (Arc::clone(&next), ref_login.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n > users {
                        break;
                    }
                    assert!(login(n).await, "warm-up login of user {n} failed");
                }
            })
        })
        .collect();
    for w in warm {
        w.await.expect("warm-up worker");
    }
    drive(clients, 200, users, ours_login.clone()).await;
    let shape = Shape { name: "auth-ad", clients, logins, users, rounds, pool };
    compare(&shape, ref_login, ours_login).await;
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Makes `calls` calls with `in_flight` of them pending at any time; returns the wall time.
async fn keep_in_flight<F, Fut>(calls: usize, in_flight: usize, call: F) -> Duration
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let started = Instant::now();
    let mut pending = FuturesUnordered::new();
    let mut issued = 0;
    while issued < calls || !pending.is_empty() {
        while issued < calls && pending.len() < in_flight {
            pending.push(call());
            issued += 1;
        }
        pending.next().await.expect("a call").expect("the call succeeds");
    }
    started.elapsed()
}

async fn abi(plugin_dir: &std::path::Path, calls: usize, in_flight: usize) {
    let echo = plugin_dir.join(dirconn_tests::stage::library_file_name("dirconn-fixture-echo"));
    let spec = DomainSpec::new().set("name", "fixture.test").set("connector", "fixture-echo");
    let host = TestHost::start(&[echo], &[spec]).expect("host with the echo plugin");
    let domain = host.host.domain("fixture.test").expect("domain");
    let direct = dirconn_fixture_echo::Echo::new("fixture.test");

    let through_abi = || {
        keep_in_flight(calls, in_flight, || async { domain.lookup("bench").await.map(drop).map_err(|e| e.to_string()) })
    };
    let in_process = || {
        keep_in_flight(calls, in_flight, || async {
            direct.lookup_user("bench".into()).await.into_result().map(drop).map_err(|e| e.to_string())
        })
    };
    through_abi().await;
    in_process().await;
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for r in 1..=5 {
        let a = in_process().await;
        let b = through_abi().await;
        let per = |d: Duration| d.as_secs_f64() * 1e6 / calls as f64;
        println!("round {r}: in-process {:.3} us/call | through the ABI {:.3} us/call", per(a), per(b));
        theirs.push(per(a));
        ours.push(per(b));
    }
    theirs.sort_by(f64::total_cmp);
    ours.sort_by(f64::total_cmp);
    let (a, b) = (theirs[2], ours[2]);
    println!("{calls} calls, {in_flight} in flight, median of 5 rounds (goal: ours <= 1 us/call)");
    println!("bench abi: ours={b:.3}us/call reference={a:.3}us/call ratio={:.3}", b / a);
}

/// The raw ldap3 side of `sync`: every user of the people OU with a paged streaming search as the service
/// account, each entry parsed. Returns the entries seen.
async fn raw_paged_search(slapd: &Slapd) -> usize {
    let mut ldap = Reference::connect(&slapd.ldap_url()).await;
    ldap.simple_bind(slapd.service_dn(), slapd.service_password()).await.unwrap().success().unwrap();
    let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(500))];
    // The attributes our sync reads with the default mapping (`Directory::sync_attributes`): what every user
    // entry needs (key, login, email, display name, groups, cn) and the mapped givenName, sn, telephoneNumber.
    let attrs = vec!["entryUUID", "uid", "mail", "displayName", "memberOf", "cn", "givenName", "sn", "telephoneNumber"];
    let mut search = ldap
        .streaming_search_with(adapters, slapd::PEOPLE_DN, Scope::Subtree, "(objectClass=inetOrgPerson)", attrs)
        .await
        .expect("paged search");
    let mut seen = 0;
    while let Some(entry) = search.next().await.expect("an entry") {
        let entry = SearchEntry::construct(entry);
        std::hint::black_box(&entry);
        seen += 1;
    }
    search.finish().await.success().expect("the paged search completes");
    let _ = ldap.unbind().await;
    seen
}

/// The `example.org` domain of [`DomainSpec::ldap`], from the URL and password file alone (for the child).
fn sync_spec(url: &str, password_file: &Path) -> DomainSpec {
    DomainSpec::new()
        .set("name", "example.org")
        .set("connector", "ldap")
        .set("urls", &format!("[\"{url}\"]"))
        .set("bind_dn", slapd::SERVICE_DN)
        .set("bind_password_file", &password_file.display().to_string())
        .set("search_base", slapd::PEOPLE_DN)
        .raw("connect_timeout", "\"2s\"")
        .raw("operation_timeout", "\"30s\"")
}

fn ldap_plugin(plugin_dir: &Path) -> PathBuf {
    plugin_dir.join(dirconn_tests::stage::library_file_name("dirconn-plugin-ldap"))
}

/// A full sync into the fresh store of a new host; returns the host (its store holds the result), the
/// wall time, and the accounts created.
async fn full_sync(plugin_dir: &Path, spec: &DomainSpec) -> (TestHost, Duration, u64) {
    let host = TestHost::start(&[ldap_plugin(plugin_dir)], std::slice::from_ref(spec)).expect("host");
    let domain = host.host.domain("example.org").expect("domain");
    let store = host.host.open_store().await.expect("store");
    let opts = dirconn_host::SyncOptions { dry_run: false, full: true, force: false };
    let started = Instant::now();
    let report = dirconn_host::sync_domain(domain, &store, opts, |_| {}).await.expect("full sync");
    let took = started.elapsed();
    store.close().await;
    assert_eq!(report.counts.errors, 0, "full sync errors: {:?}", report.details);
    (host, took, report.counts.created)
}

/// The peak resident set of this process, in KiB.
fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

/// `sync-child`: one full sync into a fresh store, then `sync-child: created=N seconds=S vmhwm_kib=K`.
async fn sync_child(plugin_dir: &Path, url: &str, password_file: &Path) {
    let (host, took, created) = full_sync(plugin_dir, &sync_spec(url, password_file)).await;
    let hwm = vm_hwm_kib();
    drop(host);
    println!("sync-child: created={created} seconds={:.3} vmhwm_kib={hwm}", took.as_secs_f64());
}

/// Runs the full sync in a child process (this binary, `sync-child`) and returns its peak RSS in KiB and
/// the accounts it created.
fn child_peak_rss(plugin_dir: &Path, slapd: &Slapd) -> (u64, u64, f64) {
    let exe = std::env::current_exe().expect("current exe");
    let out = Command::new(exe)
        .arg("sync-child")
        .arg("--plugin-dir")
        .arg(plugin_dir)
        .arg("--url")
        .arg(slapd.ldap_url())
        .arg("--password-file")
        .arg(slapd.service_password_file())
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("run the sync child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the sync child failed ({}): {stdout}", out.status);
    let line = stdout.lines().find(|l| l.starts_with("sync-child:")).unwrap_or_else(|| panic!("child said: {stdout}"));
    let field = |name: &str| -> &str {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name).and_then(|w| w.strip_prefix('=')))
            .unwrap_or_else(|| panic!("no {name} in: {line}"))
    };
    (
        field("vmhwm_kib").parse().expect("vmhwm_kib"),
        field("created").parse().expect("created"),
        field("seconds").parse().expect("seconds"),
    )
}

fn median_of(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Changes `telephoneNumber` (a mapped field) of up to 1,000 generated users, spread over the directory,
/// as the admin on one connection; returns how many were changed.
async fn change_users(slapd: &Slapd, users: usize) -> usize {
    let changes = users.min(1_000);
    if changes == 0 {
        return 0;
    }
    let step = users / changes;
    let mut ldap = Reference::connect(&slapd.ldap_url()).await;
    ldap.simple_bind(slapd.admin_dn(), slapd.admin_password()).await.unwrap().success().unwrap();
    for i in 0..changes {
        let n = 1 + i * step;
        let phone = format!("+1 555 {n:07}");
        let mods = vec![Mod::Replace("telephoneNumber", HashSet::from([phone.as_str()]))];
        ldap.modify(&slapd::generated_user_dn(n), mods).await.unwrap().success().unwrap();
    }
    let _ = ldap.unbind().await;
    changes
}

/// The users of the scale comparison's smaller directory (`sync` above this many users).
const SCALE_BASE: usize = 100_000;

/// For `sync` of more than [`SCALE_BASE`] users: one raw paged search and one full sync of a directory of
/// [`SCALE_BASE`] users, and the full sync's peak RSS, printed; the directory is stopped before returning.
/// Returns the full sync's seconds.
async fn sync_scale_base(plugin_dir: &Path) -> f64 {
    println!("scale comparison: first a directory of {SCALE_BASE} users…");
    let server = Slapd::start_with(SlapdOptions { users: SCALE_BASE, ppolicy: false, ..SlapdOptions::default() });
    let spec = sync_spec(&server.ldap_url(), server.service_password_file());
    raw_paged_search(&server).await;
    let started = Instant::now();
    raw_paged_search(&server).await;
    let raw = started.elapsed().as_secs_f64();
    let (_host, full, created) = full_sync(plugin_dir, &spec).await;
    let (hwm_kib, _, _) = child_peak_rss(plugin_dir, &server);
    println!(
        "{SCALE_BASE} users: raw paged search {raw:.3} s | full sync {:.3} s ({created} created) | child VmHWM {:.1} MB",
        full.as_secs_f64(),
        hwm_kib as f64 / 1024.0
    );
    full.as_secs_f64()
}

async fn sync(plugin_dir: &Path, users: usize, reps: usize) {
    let base = if users > SCALE_BASE { Some(sync_scale_base(plugin_dir).await) } else { None };
    println!("bench sync: starting slapd with {users} generated users…");
    let server = Slapd::start_with(SlapdOptions { users, ppolicy: false, ..SlapdOptions::default() });
    println!("slapd ready in {:.1} s", server.startup_time().as_secs_f64());
    let fixtures = slapd::Fixture::ALL.iter().filter(|f| f.ou == "people").count();
    let expected = users + fixtures;
    println!("expecting {expected} users ({users} generated + {fixtures} fixtures in ou=people)");
    let spec = sync_spec(&server.ldap_url(), server.service_password_file());

    // Warm-up: slapd's caches, the page cache of its database.
    let seen = raw_paged_search(&server).await;
    assert_eq!(seen, expected, "the raw paged search saw {seen} entries");

    // 1 + 2: the raw paged search vs a full sync into a fresh store, alternating.
    let (mut raw, mut full) = (Vec::new(), Vec::new());
    let mut last = None;
    SERVER_PID.store(server.pid(), Ordering::Relaxed);
    let cpu = || (own_cpu().as_secs_f64(), server_cpu().as_secs_f64());
    for r in 1..=reps {
        let (ours0, slapd0) = cpu();
        let started = Instant::now();
        let seen = raw_paged_search(&server).await;
        let a = started.elapsed().as_secs_f64();
        let (ours1, slapd1) = cpu();
        assert_eq!(seen, expected);
        let threads = thread_cpu();
        let (host, took, created) = full_sync(plugin_dir, &spec).await;
        let by_thread = thread_cpu_delta(&threads, own_cpu().as_secs_f64() - ours1);
        let (ours2, slapd2) = cpu();
        assert_eq!(created as usize, expected, "the full sync created {created} accounts, expected {expected}");
        let b = took.as_secs_f64();
        println!(
            "round {r}: raw paged search {a:.3} s ({seen} entries; cpu: client {:.2} s, slapd {:.2} s) | full sync \
             {b:.3} s ({created} created; cpu: ours {:.2} s, slapd {:.2} s)",
            ours1 - ours0,
            slapd1 - slapd0,
            ours2 - ours1,
            slapd2 - slapd1
        );
        println!("  full sync cpu by thread: {by_thread}");
        raw.push(a);
        full.push(b);
        last = Some(host);
    }
    let host = last.expect("a full sync");
    let (raw, full) = (median_of(raw), median_of(full));
    println!("median of {reps}:");
    println!("bench sync-full: ours={full:.3}s reference={raw:.3}s ratio={:.3}", full / raw);

    // 3: the peak RSS of a full sync, alone in a child process.
    let (hwm_kib, created, child_secs) = child_peak_rss(plugin_dir, &server);
    assert_eq!(created as usize, expected, "the child's full sync created {created} accounts");
    let mb = hwm_kib as f64 / 1024.0;
    println!("child full sync: {child_secs:.3} s, {created} created, VmHWM {hwm_kib} KiB");
    println!("bench sync-rss: ours={mb:.1}MB reference=150MB ratio={:.3}", mb / 150.0);

    // 4: a full re-sync with nothing changed, on the store of the last full sync.
    let domain = host.host.domain("example.org").expect("domain");
    let store = host.host.open_store().await.expect("store");
    let full_opts = dirconn_host::SyncOptions { dry_run: false, full: true, force: false };
    let mut nochange = Vec::new();
    for r in 1..=reps {
        let (threads, slapd0, ours0) = (thread_cpu(), server_cpu().as_secs_f64(), own_cpu().as_secs_f64());
        let started = Instant::now();
        let report = dirconn_host::sync_domain(domain, &store, full_opts, |_| {}).await.expect("no-change re-sync");
        let took = started.elapsed().as_secs_f64();
        let ours = own_cpu().as_secs_f64() - ours0;
        let (by_thread, slapd) = (thread_cpu_delta(&threads, ours), server_cpu().as_secs_f64() - slapd0);
        let c = report.counts;
        let written = c.created + c.updated + c.deactivated + c.reactivated;
        println!(
            "no-change re-sync {r}: {took:.3} s, seen {} unchanged {}, rows written: {written}",
            c.seen, c.unchanged
        );
        println!("  cpu: slapd {slapd:.2} s; ours by thread: {by_thread}");
        if c.updated != 0 || c.created != 0 || c.deactivated != 0 {
            println!("WARNING: the no-change re-sync wrote rows: {c:?}");
        }
        nochange.push(took);
    }
    let nochange = median_of(nochange);
    println!("bench sync-nochange: ours={nochange:.3}s reference={raw:.3}s ratio={:.3}", nochange / raw);

    // 5: an incremental sync after 1,000 changes.
    let started = Instant::now();
    let changed = change_users(&server, users).await;
    println!("changed telephoneNumber of {changed} users in {:.3} s", started.elapsed().as_secs_f64());
    let opts = dirconn_host::SyncOptions { dry_run: false, full: false, force: false };
    let started = Instant::now();
    let report = dirconn_host::sync_domain(domain, &store, opts, |_| {}).await.expect("incremental sync");
    let took = started.elapsed().as_secs_f64();
    let c = report.counts;
    println!(
        "incremental sync ({} mode): {took:.3} s, seen {} updated {} created {} deactivated {} unchanged {}",
        report.mode, c.seen, c.updated, c.created, c.deactivated, c.unchanged
    );
    if c.updated as usize != changed {
        println!("WARNING: the incremental sync updated {} accounts, expected {changed}", c.updated);
    }
    store.close().await;
    println!("bench sync-incremental: ours={took:.3}s reference=0.5s ratio={:.3}", took / 0.5);
    if let Some(base) = base {
        let scale = users as f64 / SCALE_BASE as f64;
        println!(
            "bench sync-scale: full sync of {users} users {full:.3} s = {:.2}× the {SCALE_BASE}-user one ({base:.3} s) \
             for {scale:.0}× the users; peak RSS {mb:.1} MB",
            full / base
        );
    }
    // The summary line: the full sync against the raw paged search.
    println!("bench sync: ours={full:.3}s reference={raw:.3}s ratio={:.3}", full / raw);
}
