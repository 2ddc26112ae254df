//! The audit of authentication attempts: front ends hand each attempt to an [`AuditSink`] without waiting;
//! one writer task stores them in batches (one transaction per batch), and a daily pass deletes rows older
//! than `audit_retention`. A store that is down or too slow costs audit rows (counted in
//! `dirconn_audit_rows_dropped_total`), never logins.

use std::{net::IpAddr, sync::Arc, time::Duration};

use dirconn_store::{AuditRecord, Store};
use tokio::sync::{mpsc, oneshot};

use crate::{core::Interface, metrics::Metrics};

/// Rows queued at most; beyond, new rows are dropped and counted.
const QUEUE: usize = 20_000;
/// Rows written per transaction at most.
const BATCH: usize = 500;
/// Rows held while the store fails, beyond the queue.
const HELD: usize = 100_000;

/// One attempt, as a front end reports it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The front end.
    pub interface: Interface,
    /// The domain it was routed to.
    pub domain: Option<String>,
    /// The login as typed.
    pub login: String,
    /// The canonical account, when logged in.
    pub account: Option<String>,
    /// The client's address.
    pub client_ip: Option<IpAddr>,
    /// The local address.
    pub local_ip: Option<IpAddr>,
    /// The mail server's service.
    pub service: String,
    /// `ok` or the error code.
    pub outcome: String,
    /// `ok` or the error kind.
    pub kind: String,
    /// How long the answer took.
    pub latency: Duration,
}

enum Message {
    Row(Box<AuditRecord>),
    Flush(oneshot::Sender<()>),
}

/// Where front ends send attempts.
#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<Message>,
    metrics: Arc<Metrics>,
}

fn cap(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

impl AuditSink {
    /// Queues one attempt (never waits; drops and counts when the queue is full).
    pub fn record(&self, e: Entry) {
        let row = AuditRecord {
            id: String::new(),
            at: dirconn_store::now_ms(),
            interface: e.interface.name().to_owned(),
            domain: e.domain,
            login: cap(&e.login, 256),
            account: e.account,
            client_ip: e.client_ip.map(|ip| ip.to_string()),
            local_ip: e.local_ip.map(|ip| ip.to_string()),
            service: Some(cap(&e.service, 64)),
            outcome: e.outcome,
            kind: e.kind,
            latency_us: i64::try_from(e.latency.as_micros()).unwrap_or(i64::MAX),
        };
        if self.tx.try_send(Message::Row(Box::new(row))).is_err() {
            self.metrics.audit_dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Waits until every row queued before this call is written (or dropped).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Message::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

/// Starts the writer; `store` gives the store in force (it changes on reload).
pub fn start(metrics: Arc<Metrics>, store: impl Fn() -> Store + Send + 'static) -> AuditSink {
    let (tx, mut rx) = mpsc::channel::<Message>(QUEUE);
    let m = metrics.clone();
    tokio::spawn(async move {
        let mut rows = Vec::with_capacity(BATCH);
        let mut waiting = Vec::new();
        while let Some(first) = rx.recv().await {
            let mut next = Some(first);
            while let Some(msg) = next.take() {
                match msg {
                    Message::Row(r) => rows.push(*r),
                    Message::Flush(done) => waiting.push(done),
                }
                if rows.len() < BATCH {
                    next = rx.try_recv().ok();
                }
            }
            if !rows.is_empty() {
                // A store that fails (a PostgreSQL restart) is retried, backing off, with the rows kept and
                // the queue read on meanwhile (up to [`HELD`] rows), until it answers or a flush asks for an
                // end (at the stop): only then are the rows dropped, and counted.
                let mut delay = Duration::from_millis(200);
                loop {
                    let n = rows.len() as u64;
                    match store().record_audit(&rows).await {
                        Ok(()) => {
                            m.audit_written.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                            break;
                        }
                        Err(err) if !waiting.is_empty() => {
                            tracing::warn!(code = err.code(), rows = n, "audit rows lost: {err}");
                            m.audit_dropped.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
                            break;
                        }
                        Err(err) => {
                            tracing::warn!(
                                code = err.code(),
                                rows = n,
                                "audit rows not written yet, retrying in {delay:?}: {err}"
                            );
                            tokio::time::sleep(delay).await;
                            delay = (delay * 2).min(Duration::from_secs(5));
                            while let Ok(msg) = rx.try_recv() {
                                match msg {
                                    Message::Row(r) if rows.len() < HELD => rows.push(*r),
                                    Message::Row(_) => {
                                        m.audit_dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                                    }
                                    Message::Flush(done) => waiting.push(done),
                                }
                            }
                        }
                    }
                }
                rows.clear();
            }
            for done in waiting.drain(..) {
                let _ = done.send(());
            }
        }
    });
    AuditSink { tx, metrics }
}

/// Deletes audit rows older than the retention (and the shared throttle's old entries), now and then daily,
/// until the task is dropped.
pub async fn purge_loop(store: impl Fn() -> (Store, Duration)) {
    loop {
        let (store, retention) = store();
        let cutoff = dirconn_store::now_ms() - i64::try_from(retention.as_millis()).unwrap_or(i64::MAX);
        match store.purge_audit(cutoff).await {
            Ok(n) if n > 0 => tracing::info!(rows = n, "audit rows past their retention deleted"),
            Ok(_) => {}
            Err(err) => tracing::warn!(code = err.code(), "the audit purge failed: {err}"),
        }
        if crate::throttle::shares(&store) {
            // Past the longest windows the settings allow (7 days of failures, a year of familiarity).
            let day = 86_400_000;
            let now = dirconn_store::now_ms();
            let since = dirconn_store::ThrottleSince {
                marks: now - 8 * day,
                network: now - 8 * day,
                familiar: now - 366 * day,
            };
            if let Err(err) = store.purge_throttle(since).await {
                tracing::warn!(code = err.code(), "the throttle's purge failed: {err}");
            }
        }
        tokio::time::sleep(Duration::from_secs(86_400)).await;
    }
}
