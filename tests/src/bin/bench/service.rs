//! `bench service`: logins through `dirconn serve`'s `POST /v1/auth` by keep-alive HTTP clients vs the same
//! logins through the host's login flow in-process (`Host::login_account`, the same store work), against
//! one slapd with the same users and settings, at 16 and 64 clients. `bench service --cache`: the same
//! logins through a `dirconn serve` with `credential_cache_ttl` (ours) vs one without (the reference).

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
    time::Instant,
};

use dirconn_abi::ClientContext;
use dirconn_tests::{
    DomainSpec, Slapd, SlapdOptions, TestHost,
    http::Http,
    serve::{Serve, ServeSpec},
    slapd,
};

use super::{SERVER_PID, Shape, compare, drive};

/// A pool of keep-alive HTTP clients: each login takes one, runs its request on a blocking thread, and
/// puts it back.
pub(super) struct Clients {
    idle: Mutex<Vec<Http>>,
    make: Box<dyn Fn() -> Http + Send + Sync>,
    /// The `client_ip` the logins report, if any.
    from: Option<&'static str>,
}

impl Clients {
    /// Logs generated user `n` in; a refusal is printed with its answer.
    pub(super) fn login(self: &Arc<Self>, n: usize) -> impl std::future::Future<Output = bool> + Send + use<> {
        let clients = Arc::clone(self);
        async move {
            tokio::task::spawn_blocking(move || {
                let mut http = clients.idle.lock().expect("pool").pop().unwrap_or_else(|| (clients.make)());
                let mut body = serde_json::json!({
                    "login": format!("{}@example.org", slapd::generated_uid(n)),
                    "password": slapd::generated_password(n),
                });
                if let Some(ip) = clients.from {
                    body["client_ip"] = ip.into();
                }
                let r = http.post_json("/v1/auth", &body);
                clients.idle.lock().expect("pool").push(http);
                if r.status != 200 {
                    eprintln!("the login of user {n} got {}: {}", r.status, r.text());
                }
                r.status == 200
            })
            .await
            .unwrap_or(false)
        }
    }
}

/// Keep-alive clients of a started service, with its mail-server token, reporting `from` as the client.
pub(super) fn clients_of(serve: &Serve, from: Option<&'static str>) -> Arc<Clients> {
    let (addr, token) = (serve.api_addr(), serve.spec().token("mail").to_owned());
    let make = Box::new(move || Http::new(addr).with_token(&token));
    Arc::new(Clients { idle: Mutex::new(Vec::new()), make, from })
}

/// Both benchmarks' directory: a slapd with `users` generated users (its CPU is the rounds' "server"
/// CPU; `dirconn serve`'s own is not counted), the domain on it with a pool of [`POOL`], the release plugin.
fn directory(name: &str, plugin_dir: &Path, users: usize) -> (Slapd, DomainSpec, PathBuf) {
    println!("bench {name}: starting slapd with {users} generated users…");
    let server = Slapd::start_with(SlapdOptions { users, ppolicy: false, ..SlapdOptions::default() });
    SERVER_PID.store(server.pid(), std::sync::atomic::Ordering::Relaxed);
    let spec = DomainSpec::ldap(&server).raw("pool_size", &POOL.to_string()).raw("operation_timeout", "\"10s\"");
    let plugin = plugin_dir.join(dirconn_tests::stage::library_file_name("dirconn-plugin-ldap"));
    (server, spec, plugin)
}

/// The service connections of each side.
const POOL: usize = 8;

/// `bench service --cache`: a `dirconn serve` with the credential cache vs one without, on one slapd.
pub async fn run_cache(plugin_dir: &Path, binary: PathBuf, users: usize, logins: usize, rounds: usize) {
    let (_server, spec, plugin) = directory("service --cache", plugin_dir, users);
    let start = |cache: bool| {
        let mut s = ServeSpec::new(vec![spec.clone()]);
        s.binary = Some(binary.clone());
        s.plugin = Some(plugin.clone());
        if cache {
            s.service.push("credential_cache_ttl = \"1h\"".into());
        }
        Serve::start(s)
    };
    let (uncached, cached) = (start(false), start(true));
    let (reference, ours) = (clients_of(&uncached, None), clients_of(&cached, None));
    let ref_login = move |n: usize| reference.login(n);
    let ours_login = move |n: usize| ours.login(n);
    // Every user logs in once on each side first: the accounts exist, and the cache holds every user.
    drive(16, users, users, ref_login.clone()).await;
    drive(16, users, users, ours_login.clone()).await;
    let shape = Shape { name: "service-cache", clients: 16, logins, users, rounds, pool: POOL };
    compare(&shape, ref_login, ours_login).await;
}

/// Runs the benchmark: `binary` is the release `dirconn`, `plugin_dir` holds the release plugins.
pub async fn run(plugin_dir: &Path, binary: PathBuf, users: usize, logins: usize, rounds: usize) {
    let (_server, spec, plugin) = directory("service", plugin_dir, users);

    // The reference: the host's login flow over its own store, in this process.
    let host = Arc::new(TestHost::start(std::slice::from_ref(&plugin), std::slice::from_ref(&spec)).expect("host"));
    let store = Arc::new(host.host.open_store().await.expect("store"));
    let ref_login = {
        let (host, store) = (Arc::clone(&host), Arc::clone(&store));
        move |n: usize| {
            let (host, store) = (Arc::clone(&host), Arc::clone(&store));
            async move {
                let login = format!("{}@example.org", slapd::generated_uid(n));
                host.host
                    .login_account(&store, &login, &slapd::generated_password(n), ClientContext::default())
                    .await
                    .is_ok()
            }
        }
    };

    // Ours: the release `dirconn serve` on the same directory, with its own store.
    let mut serve_spec = ServeSpec::new(vec![spec]);
    serve_spec.binary = Some(binary);
    serve_spec.plugin = Some(plugin);
    let serve = Serve::start(serve_spec);
    let clients = clients_of(&serve, None);
    let ours_login = {
        let clients = Arc::clone(&clients);
        move |n: usize| clients.login(n)
    };

    // Every user logs in once on each side first: account creation is not what is measured.
    let started = Instant::now();
    for n in 1..=users {
        assert!(ref_login(n).await, "the reference logs user {n} in");
    }
    drive(16, users, users, ours_login.clone()).await;
    println!("every user logged in once on each side in {:.1} s", started.elapsed().as_secs_f64());
    for (name, clients) in [("service", 16), ("service-64", 64)] {
        let shape = Shape { name, clients, logins, users, rounds, pool: POOL };
        compare(&shape, ref_login.clone(), ours_login.clone()).await;
    }
    drop(serve);
}
