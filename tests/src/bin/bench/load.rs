//! `cargo xtask load`: `clients` keep-alive clients log generated users in through a release `dirconn serve`
//! (`POST /v1/auth`, right passwords) for `seconds`, against one slapd; prints the throughput, the latency
//! quantiles and the service's RSS sampled every 5 s, and fails on any answer but a 200. Not a comparison:
//! there is no reference side.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use dirconn_tests::{
    DomainSpec, Slapd, SlapdOptions,
    load::{Load, quantile, rss_kib, statuses},
    serve::{Serve, ServeSpec},
    slapd,
};

/// Runs the load.
pub fn run(plugin_dir: &Path, binary: PathBuf, users: usize, clients: usize, seconds: u64) {
    println!("load: starting slapd with {users} generated users…");
    let server = Slapd::start_with(SlapdOptions { users, ..SlapdOptions::default() });
    let spec = DomainSpec::ldap(&server).raw("pool_size", "16");
    let mut serve_spec = ServeSpec::new(vec![spec]);
    serve_spec.binary = Some(binary);
    serve_spec.plugin = Some(plugin_dir.join(dirconn_tests::stage::library_file_name("dirconn-plugin-ldap")));
    let serve = Serve::start(serve_spec);
    let started = Instant::now();
    let load = Load::start(serve.api_addr(), serve.spec().token("mail"), clients, users, slapd::generated_uid);
    let mut rss = vec![(0, rss_kib(serve.pid()))];
    while started.elapsed() < Duration::from_secs(seconds) {
        std::thread::sleep(Duration::from_secs(5).min(Duration::from_secs(seconds).saturating_sub(started.elapsed())));
        rss.push((started.elapsed().as_secs(), rss_kib(serve.pid())));
    }
    let samples = load.stop();
    let wall = started.elapsed();
    let answers = statuses(&samples);
    let errors: usize = answers.iter().filter(|(s, _)| **s != 200).map(|(_, n)| n).sum();
    println!("load: {clients} clients for {:.1} s, {users} users, answers {answers:?}", wall.as_secs_f64());
    println!(
        "load: {} logins, {:.0} logins/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, errors {errors}",
        samples.len(),
        samples.len() as f64 / wall.as_secs_f64(),
        quantile(&samples, 0.5).as_secs_f64() * 1e3,
        quantile(&samples, 0.99).as_secs_f64() * 1e3,
        quantile(&samples, 1.0).as_secs_f64() * 1e3,
    );
    let line: Vec<String> = rss.iter().map(|(t, kib)| format!("{t}s={:.1}MiB", *kib as f64 / 1024.0)).collect();
    println!("load: dirconn serve RSS {}", line.join(" "));
    // Flat: after the first 10 s (accounts created, pools and caches full), it grows by at most a quarter.
    let settled = rss.iter().find(|(t, _)| *t >= 10).map_or(rss[0].1, |r| r.1);
    let last = rss.last().map_or(0, |r| r.1);
    println!("load: RSS at 10 s {:.1} MiB, at the end {:.1} MiB", settled as f64 / 1024.0, last as f64 / 1024.0);
    assert_eq!(errors, 0, "answers other than 200: {answers:?}");
    assert!(last <= settled + settled / 4, "RSS grew from {settled} KiB to {last} KiB");
}
