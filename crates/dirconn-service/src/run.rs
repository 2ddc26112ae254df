//! `dirconn serve`: loads the configuration, opens every listener, and runs until SIGTERM or SIGINT
//! (drain, flush the audit, stop). SIGHUP reloads the configuration: a new one that fails to load is refused,
//! logged, and the old one keeps serving; listener addresses take effect at the next start. A [`Reloader`]
//! (handed to the web pages) asks for the same reload and hears how it went.

use std::{path::PathBuf, sync::Arc};

use dirconn_host::{Error as HostError, Host};
use tokio::{
    signal::unix::{SignalKind, signal},
    sync::{mpsc, oneshot, watch},
};

use crate::{
    Error, Service, ServiceConfig, audit, core::Live, dovecot, http, metrics::Metrics, socket, socketmap, status,
};

/// What `dirconn serve` is started with.
#[derive(Debug, Clone)]
pub struct Options {
    /// The configuration file.
    pub config: PathBuf,
    /// Plugins from here instead of the configuration's `plugin_dir`.
    pub plugin_dir: Option<PathBuf>,
    /// More routes served on the API's listeners (the administrator's web pages), built over the service
    /// and a [`Reloader`]. They must not set a fallback: the API's answers every other path.
    pub web: Option<WebRoutes>,
}

/// Builds routes served beside the API (see [`Options::web`]).
pub type WebRoutes = fn(Arc<Service>, Reloader) -> axum::Router;

/// Asks the running service to reload its configuration, as SIGHUP does, and hears the outcome.
#[derive(Debug, Clone)]
pub struct Reloader(mpsc::Sender<oneshot::Sender<Result<(), String>>>);

impl Reloader {
    /// Reloads; the error is the reload's message (the old configuration keeps serving).
    pub async fn reload(&self) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.0.send(tx).await.map_err(|_| "the service is stopping".to_owned())?;
        rx.await.map_err(|_| "the service is stopping".to_owned())?
    }
}

/// Why the service could not start.
#[derive(Debug)]
pub enum StartError {
    /// The configuration, the plugins or the store.
    Host(HostError),
    /// The `[service]` table or a listener.
    Service(Error),
}

impl From<HostError> for StartError {
    fn from(e: HostError) -> Self {
        StartError::Host(e)
    }
}

impl From<Error> for StartError {
    fn from(e: Error) -> Self {
        StartError::Service(e)
    }
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Host(e) => e.fmt(f),
            StartError::Service(e) => e.fmt(f),
        }
    }
}

/// Loads everything a configuration names: host, plugins, store, `[service]`. `old` is the configuration in
/// force: its store is kept when the URL did not change.
pub async fn load(opts: &Options, old: Option<&Live>) -> Result<Live, StartError> {
    let host = Host::load(&opts.config, opts.plugin_dir.as_deref())?;
    let config = ServiceConfig::from_table(&host.config().service, &host.config().dir)?;
    let store = match old {
        Some(old) if old.host.config().store == host.config().store => old.store.clone(),
        _ => host.open_store().await?,
    };
    Ok(Live { host, store, config })
}

/// Runs the service until SIGTERM or SIGINT.
pub async fn run(opts: Options) -> Result<(), StartError> {
    let live = load(&opts, None).await?;
    let config = live.config.clone();
    let (store_tx, store_rx) = watch::channel(live.store.clone());
    let metrics = Arc::new(Metrics::default());
    let sink = audit::start(metrics.clone(), move || store_rx.borrow().clone());
    let service = Arc::new(Service::new(live, metrics, sink));
    let (stop_tx, stop_rx) = watch::channel(false);

    // Every listener is opened before anything is served: a taken port stops the start with its error.
    let http_listeners = http::serve::bind(&config.listen).await?;
    let tls = config.tls.as_ref().map(|(c, k)| http::serve::tls_acceptor(c, k)).transpose()?;
    let mut dovecot_listeners = Vec::new();
    for spec in &config.dovecot_auth {
        dovecot_listeners.push(socket::bind(spec).await?);
    }
    let mut socketmap_listeners = Vec::new();
    for spec in &config.postfix_socketmap {
        socketmap_listeners.push(socket::bind(spec).await?);
    }
    let metrics_listener = http::serve::bind(config.metrics_listen.as_slice()).await?;

    let mut tasks = tokio::task::JoinSet::new();
    let (reload_asks, mut reload_asked) = mpsc::channel::<oneshot::Sender<Result<(), String>>>(4);
    let (router, _) = http::router(service.clone());
    let router = match opts.web {
        Some(web) => router.merge(web(service.clone(), Reloader(reload_asks))),
        None => router,
    };
    for (listener, address) in http_listeners.into_iter().zip(&config.listen) {
        tracing::info!(%address, tls = tls.is_some(), "HTTP API listening");
        tasks.spawn(http::serve::serve(listener, router.clone(), tls.clone(), stop_rx.clone(), config.drain_timeout));
    }
    for listener in dovecot_listeners {
        tasks.spawn(dovecot::serve(listener, service.clone(), stop_rx.clone()));
    }
    for listener in socketmap_listeners {
        tasks.spawn(socketmap::serve(listener, service.clone(), stop_rx.clone()));
    }
    for listener in metrics_listener {
        tracing::info!(address = ?listener.local_addr().ok(), "metrics and health listening");
        tasks.spawn(http::serve::serve(
            listener,
            status::router(service.clone()),
            None,
            stop_rx.clone(),
            config.drain_timeout,
        ));
    }
    let background = [
        tokio::spawn(status::probe_loop(service.clone())),
        tokio::spawn({
            let service = service.clone();
            async move {
                audit::purge_loop(|| {
                    let live = service.live();
                    (live.store.clone(), live.config.audit_retention)
                })
                .await
            }
        }),
    ];
    let (reload_tx, _) = watch::channel(0u64);
    let scheduler = tokio::spawn(schedule(service.clone(), reload_tx.subscribe(), stop_rx.clone()));

    let mut term =
        signal(SignalKind::terminate()).map_err(|e| Error::Listen { address: "SIGTERM".into(), source: e })?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| Error::Listen { address: "SIGINT".into(), source: e })?;
    let mut hup = signal(SignalKind::hangup()).map_err(|e| Error::Listen { address: "SIGHUP".into(), source: e })?;
    tracing::info!(config = %opts.config.display(), "dirconn serve started");
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => {
                let _ = reload(&opts, &service, &store_tx, &reload_tx).await;
            }
            Some(answer) = reload_asked.recv() => {
                let _ = answer.send(reload(&opts, &service, &store_tx, &reload_tx).await);
            }
        }
    }
    tracing::info!("stopping: draining requests in flight");
    let _ = stop_tx.send(true);
    while tasks.join_next().await.is_some() {}
    // The scheduler stops at the stop signal by itself (a sync in progress is dropped, so rolled back); it
    // is waited for, so that it is not cut before it has noticed.
    let mut scheduler = scheduler;
    if tokio::time::timeout(config.drain_timeout, &mut scheduler).await.is_err() {
        scheduler.abort();
    }
    for task in background {
        task.abort();
    }
    // A store that is down must not hold the stop: the audit rows still queued get the drain timeout.
    if tokio::time::timeout(config.drain_timeout, service.flush()).await.is_err() {
        tracing::warn!("audit rows still queued at the stop were not written: the store did not answer");
    }
    let _ = tokio::time::timeout(std::time::Duration::from_secs(5), service.live().store.close()).await;
    tracing::info!("dirconn serve stopped");
    Ok(())
}

/// Loads the configuration again and puts it in force; a configuration that fails to load is refused (the old
/// one keeps serving) and its message returned.
async fn reload(
    opts: &Options,
    service: &Service,
    store_tx: &watch::Sender<dirconn_store::Store>,
    reload_tx: &watch::Sender<u64>,
) -> Result<(), String> {
    let old = service.live();
    match load(opts, Some(&old)).await {
        Ok(new) => {
            if new.config.listen != old.config.listen
                || new.config.dovecot_auth != old.config.dovecot_auth
                || new.config.postfix_socketmap != old.config.postfix_socketmap
                || new.config.metrics_listen != old.config.metrics_listen
                || new.config.tls != old.config.tls
            {
                tracing::warn!("listener addresses and TLS files changed: they take effect at the next start");
            }
            let _ = store_tx.send(new.store.clone());
            service.replace(new);
            service.metrics.reloads_ok.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            reload_tx.send_modify(|n| *n += 1);
            tracing::info!("configuration reloaded");
            Ok(())
        }
        Err(err) => {
            service.metrics.reloads_failed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let message = crate::core::reload_error(&err);
            tracing::error!("{message}");
            Err(message)
        }
    }
}

/// This process's name among the nodes of a cluster: `host:pid:random`.
pub fn node_name() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is writable for its whole length, and gethostname NUL-terminates within it.
        let host = if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) } == 0 {
            let end = buf.iter().position(|b| *b == 0).unwrap_or(0);
            String::from_utf8_lossy(&buf[..end]).into_owned()
        } else {
            "host".to_owned()
        };
        format!("{host}:{}:{:04x}", std::process::id(), rand::random::<u16>())
    })
}

/// The scheduled syncs of the configuration in force, restarted on each reload, until the stop.
async fn schedule(service: Arc<Service>, mut reloads: watch::Receiver<u64>, mut stop: watch::Receiver<bool>) {
    loop {
        let live = service.live();
        // The throttle reads each domain's lockout policy now, not at the first login.
        let (s, l) = (Arc::clone(&service), Arc::clone(&live));
        tokio::spawn(async move { s.throttle.prefetch(&l.host).await });
        let changed = async {
            tokio::select! {
                _ = reloads.changed() => {}
                () = http::serve::stopped(&mut stop) => {}
            }
        };
        // Nodes that share a PostgreSQL store run each scheduled sync once, under a lease.
        let lease = (live.store.backend() == dirconn_store::Backend::Postgres)
            .then(|| dirconn_host::schedule::Lease { node: node_name().to_owned(), ttl: live.config.sync_lease });
        dirconn_host::schedule::run(&live.host, &live.store, lease, changed).await;
        if *stop.borrow() {
            return;
        }
    }
}
