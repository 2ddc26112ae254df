//! The sync engine: a domain's directory users streamed from its connector into the account store, in one
//! transaction. Accounts are matched by directory key, then by authentication name; new users get the
//! lowest free account name; accounts the directory no longer lists are deactivated (never deleted), within
//! the deactivation guard. A failure midway rolls everything back; a dry run plans and rolls back.
//!
//! Reads and writes overlap: the transaction belongs to a writer task that runs the store's work in the
//! order it was queued, while this side takes the next batch from the connector and decides it (the
//! connector reads ahead of both). A pass without a cookie first reads what it needs of every stored
//! account at once ([`StoreIndex`]), taking the first batches meanwhile, so that unchanged users, and on
//! SQLite new ones, need no read per batch: the store then only writes.

use std::{
    collections::{BTreeSet, HashMap, HashSet},
    hash::{BuildHasher, BuildHasherDefault, Hasher},
    sync::atomic::{AtomicBool, Ordering},
    time::Instant,
};

use dirconn_abi::{ChangeKind, ConnectorError, SyncBatch, UserEntry};
use dirconn_store::{
    Account, Backend, Counts, Outcome, Source, Store, SyncReport, SyncRow, Tx, lowest_free_login, now,
};
use tokio::sync::{mpsc, oneshot};

use crate::{
    Domain, Error,
    accounts::account_name,
    mapping::{apply_entry, entry_digest, hex, in_mapped_groups},
};

/// Users per batch asked of the connector.
const BATCH: u32 = 500;

/// How a sync should run.
#[derive(Debug, Clone, Copy, Default)]
pub struct SyncOptions {
    /// Plan only: report what would change, write nothing but the report.
    pub dry_run: bool,
    /// Ignore the stored cookie: list every user.
    pub full: bool,
    /// Deactivate even beyond the guard.
    pub force: bool,
}

/// Progress, reported after each batch.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Users read so far.
    pub seen: u64,
    /// The counts so far.
    pub counts: Counts,
}

/// Lines kept in a report (errors, notes, a dry run's plan).
const MAX_DETAILS: usize = 1000;

/// A report's detail lines, at most [`MAX_DETAILS`]: a dry run of a million users, or a million failing ones,
/// must not hold or store a million lines. The counts stay complete.
#[derive(Default)]
struct Details {
    lines: Vec<String>,
    dropped: u64,
}

impl Details {
    fn push(&mut self, line: String) {
        if self.lines.len() < MAX_DETAILS {
            self.lines.push(line);
        } else {
            self.dropped += 1;
        }
    }

    fn into_lines(mut self) -> Vec<String> {
        if self.dropped > 0 {
            self.lines.push(format!("… and {} more line(s) not kept; the counts above are complete", self.dropped));
        }
        self.lines
    }
}

impl Extend<String> for Details {
    fn extend<I: IntoIterator<Item = String>>(&mut self, iter: I) {
        for line in iter {
            self.push(line);
        }
    }
}

/// A hasher for keys that are already hashes (the sets below hold 64-bit keyed hashes): it passes them on.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only u64s are hashed with it; any other input is folded in, to stay correct.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

type HashedSet = HashSet<u64, BuildHasherDefault<Prehashed>>;
type HashedMap = HashMap<u64, u64, BuildHasherDefault<Prehashed>>;

/// A set of directory keys, as 64-bit hashes: memory stays small for millions of users. A collision would
/// keep an account active that should have been deactivated (the safe side), with odds of 1 in 2^64 per pair.
#[derive(Default)]
struct KeySet {
    hashes: HashedSet,
    state: foldhash::quality::RandomState,
}

impl KeySet {
    fn hash(&self, key: &str) -> u64 {
        self.state.hash_one(key)
    }
    /// Adds a key; false when it was there already.
    fn insert(&mut self, key: &str) -> bool {
        let h = self.hash(key);
        self.hashes.insert(h)
    }
    fn contains(&self, key: &str) -> bool {
        self.hashes.contains(&self.hash(key))
    }
}

/// What the store held for the domain when the sync began, as 64-bit hashes (about 40 bytes per account),
/// read once with [`Tx::sync_index`]. A user whose key and digest match an active account is unchanged with
/// no read; a false match needs a changed user's new digest to begin with the same 62 bits as its old one,
/// 1 in 2^62 per changed user.
/// On SQLite, whose single writer is this sync, nobody else writes the domain during the run: the index then
/// also says for certain which users have no account (no read by key), which names are free (no read by
/// name) and that no account can be claimed by a name it does not list. Names given by this run are added
/// as they are given; keys this run gives are in its [`KeySet`]. On PostgreSQL, where a login may create an
/// account meanwhile, those reads are made as before.
struct StoreIndex {
    /// Directory key → the digest's tag ([`StoreIndex::tag`]), its lowest bit set when the account is active.
    keys: HashedMap,
    /// Account names.
    logins: HashedSet,
    /// Authentication names of claimable accounts ([`Account::claimable`]).
    claimable: HashedSet,
    state: foldhash::quality::RandomState,
    /// Whether the store has no other writer during the sync (SQLite).
    exact: bool,
}

impl StoreIndex {
    async fn read(tx: &mut Tx, domain: &str, exact: bool) -> Result<StoreIndex, Error> {
        let mut index = StoreIndex {
            keys: HashedMap::default(),
            logins: HashedSet::default(),
            claimable: HashedSet::default(),
            state: foldhash::quality::RandomState::default(),
            exact,
        };
        let mut add = |row: SyncRow<'_>| index.add(&row);
        tx.sync_index(domain, &mut add).await?;
        Ok(index)
    }

    fn add(&mut self, row: &SyncRow<'_>) {
        if let Some(key) = row.key {
            let tag = row.digest.map_or(0, |d| self.tag(d)) | u64::from(row.active);
            self.keys.insert(self.hash(key), tag);
        }
        self.logins.insert(self.hash(row.login));
        if row.claimable {
            self.claimable.insert(self.hash(row.auth_name));
        }
    }

    fn hash(&self, text: &str) -> u64 {
        self.state.hash_one(text)
    }

    /// A stored digest's tag ([`digest_tag`] of the bytes its hexadecimal spells). A digest of another form
    /// gets a tag no digest of this version has (bit 1 clear), so its user counts as changed: the safe side.
    fn tag(&self, digest: &str) -> u64 {
        let head = digest.get(..16).filter(|h| digest.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit()));
        match head.and_then(|head| u64::from_str_radix(head, 16).ok()) {
            Some(head) => digest_tag(&head.to_be_bytes()),
            _ => (self.hash(digest) & !3) | 4,
        }
    }

    /// Whether an account had this key when the sync began (or a key of the same hash).
    fn has_key(&self, key: &str) -> bool {
        self.keys.contains_key(&self.hash(key))
    }

    /// Whether the active account of this key has this digest.
    fn unchanged(&self, key: &str, digest: &[u8; 16]) -> bool {
        self.keys.get(&self.hash(key)) == Some(&(digest_tag(digest) | 1))
    }
}

/// A digest's tag: its first 8 bytes (a digest is already uniformly spread), bit 1 set so that it is never
/// 0 (no digest), bit 0 clear (it says whether the account is active).
fn digest_tag(digest: &[u8]) -> u64 {
    let mut head = [0; 8];
    head.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(head) | 2) & !1
}

/// Batches taken from the connector before the listing proper, in order.
type Early = std::collections::VecDeque<Result<SyncBatch, ConnectorError>>;

/// The most batches taken from the connector while the store's index is read (16,000 users at
/// [`BATCH`]): the directory keeps streaming meanwhile, within a fixed bound of memory. Measured: the index
/// of 100,000 accounts takes about 0.17 s to read, during which the connector's own read-ahead (4 batches)
/// filled up and the directory waited.
const BATCHES_WHILE_INDEXING: usize = 32;

/// Reads the store's index and, meanwhile, takes batches from the connector until it is read.
async fn index_while_listing(
    tx: &mut Tx,
    domain: &str,
    exact: bool,
    stream: &dirconn_abi::SyncStreamBox,
) -> (Result<StoreIndex, Error>, Early) {
    let indexed = AtomicBool::new(false);
    let read = async {
        let index = StoreIndex::read(tx, domain, exact).await;
        indexed.store(true, Ordering::Relaxed);
        index
    };
    let take = async {
        let mut early = Early::new();
        // A batch asked for is always awaited: dropping the call could lose the batch it took.
        while !indexed.load(Ordering::Relaxed) && early.len() < BATCHES_WHILE_INDEXING {
            let batch = stream.next_batch().await.into_result();
            let last = !matches!(&batch, Ok(b) if b.end.is_none());
            early.push_back(batch);
            if last {
                break;
            }
        }
        early
    };
    tokio::join!(read, take)
}

/// Store work queued for the writer, run in order in the sync's transaction.
enum Job {
    /// A read, answered on its channel (a failure of the transaction stops the writer).
    Read(Read),
    /// A batch's writes; the outcome goes to the writer's result channel.
    Write(Writes),
}

enum Read {
    Digests(String, Vec<String>, oneshot::Sender<HashMap<String, (Option<String>, bool)>>),
    ByKeys(String, Vec<String>, oneshot::Sender<Vec<Account>>),
    ByLogins(String, Vec<String>, oneshot::Sender<Vec<Account>>),
    ByAuthNames(String, Vec<String>, oneshot::Sender<Vec<Account>>),
    /// A failure here is the user's, not the sync's.
    LoginsStartingWith(String, String, oneshot::Sender<Result<BTreeSet<String>, dirconn_store::Error>>),
}

/// The writes decided for a batch, each with whether its key was seen for the first time in this run.
#[derive(Default)]
struct Writes {
    creates: Vec<Account>,
    creates_first: Vec<bool>,
    /// (account, as stored before)
    updates: Vec<(Account, Account)>,
    updates_first: Vec<bool>,
}

/// What a batch's writes did.
#[derive(Default)]
struct Written {
    created: u64,
    updated: u64,
    reactivated: u64,
    /// Accounts made or kept active whose key was seen for the first time.
    active_listed: u64,
    /// Users whose write failed: (who, why).
    errors: Vec<(String, String)>,
}

/// A user as the report names it from the account written for the entry: `login (dn)`.
fn describe_account(account: &Account) -> String {
    format!("{} ({})", account.auth_name, account.dn.as_deref().unwrap_or_default())
}

impl Writes {
    async fn run(self, tx: &mut Tx) -> Result<Written, Error> {
        let mut out = Written::default();
        for ((result, first), account) in
            tx.insert_many(&self.creates).await?.into_iter().zip(self.creates_first).zip(&self.creates)
        {
            match result {
                Ok(()) => {
                    out.created += 1;
                    out.active_listed += u64::from(first);
                }
                Err(e) => out.errors.push((describe_account(account), Error::from(e).to_string())),
            }
        }
        let results = tx.update_many(&self.updates).await?;
        for ((result, first), (account, before)) in results.into_iter().zip(self.updates_first).zip(&self.updates) {
            match result {
                Ok(()) => {
                    if before.active {
                        out.updated += 1;
                    } else {
                        out.reactivated += 1;
                    }
                    out.active_listed += u64::from(first);
                }
                Err(e) => out.errors.push((describe_account(account), Error::from(e).to_string())),
            }
        }
        Ok(out)
    }
}

impl Read {
    async fn run(self, tx: &mut Tx) -> Result<(), Error> {
        // A reply nobody waits for any more is dropped: the sync is stopping.
        match self {
            Read::Digests(domain, keys, reply) => drop(reply.send(tx.digests(&domain, &keys).await?)),
            Read::ByKeys(domain, keys, reply) => drop(reply.send(tx.by_keys(&domain, &keys).await?)),
            Read::ByLogins(domain, names, reply) => drop(reply.send(tx.by_logins(&domain, &names).await?)),
            Read::ByAuthNames(domain, names, reply) => drop(reply.send(tx.by_auth_names(&domain, &names).await?)),
            Read::LoginsStartingWith(domain, base, reply) => {
                drop(reply.send(tx.logins_starting_with(&domain, &base).await));
            }
        }
        Ok(())
    }
}

/// Batches of writes queued ahead of the writer: this side waits when the store is this far behind.
const WRITES_AHEAD: usize = 4;

/// The task that owns the sync's transaction and runs the queued store work in order, so that a read sees
/// every write queued before it. It stops at the first failure of the transaction; dropping the queue ends
/// it, and the transaction comes back uncommitted.
struct Writer {
    jobs: mpsc::Sender<Job>,
    written: mpsc::UnboundedReceiver<Written>,
    task: tokio::task::JoinHandle<(Tx, Result<(), Error>)>,
}

/// Why planning stopped: an error of its own, or the writer stopped (its error is the one to report).
enum Halt {
    Failed(Error),
    WriterStopped,
}

impl From<Error> for Halt {
    fn from(err: Error) -> Halt {
        Halt::Failed(err)
    }
}

impl From<dirconn_store::Error> for Halt {
    fn from(err: dirconn_store::Error) -> Halt {
        Halt::Failed(err.into())
    }
}

impl Writer {
    fn start(mut tx: Tx) -> Writer {
        let (jobs, mut queue) = mpsc::channel::<Job>(WRITES_AHEAD);
        let (results, written) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Some(job) = queue.recv().await {
                let done = match job {
                    Job::Read(read) => read.run(&mut tx).await,
                    Job::Write(writes) => writes.run(&mut tx).await.map(|w| drop(results.send(w))),
                };
                if let Err(err) = done {
                    return (tx, Err(err));
                }
            }
            (tx, Ok(()))
        });
        Writer { jobs, written, task }
    }

    async fn queue(&self, job: Job) -> Result<(), Halt> {
        self.jobs.send(job).await.map_err(|_| Halt::WriterStopped)
    }

    /// Queues a read and waits for its answer.
    async fn read<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Read) -> Result<T, Halt> {
        let (reply, answer) = oneshot::channel();
        self.queue(Job::Read(make(reply))).await?;
        answer.await.map_err(|_| Halt::WriterStopped)
    }

    /// Waits for the queued work to be done; returns the transaction and the writer's failure, if any.
    async fn finish(self) -> (Tx, Result<(), Error>, mpsc::UnboundedReceiver<Written>) {
        drop(self.jobs);
        match self.task.await {
            Ok((tx, result)) => (tx, result, self.written),
            Err(err) => std::panic::resume_unwind(err.into_panic()),
        }
    }
}

struct Run<'a> {
    domain: &'a Domain,
    opts: SyncOptions,
    counts: Counts,
    details: Details,
    seen: KeySet,
    deleted: Vec<String>,
    /// Keys of users listed as disabled in the directory.
    disabled: Vec<String>,
    /// Keys listed as present (unchanged since the cookie), whose accounts this run did not look at.
    presents: u64,
    /// Distinct listed users whose account is active after this run (unchanged, updated, reactivated, created).
    active_listed: u64,
    /// The store as the sync began (passes without a cookie).
    index: Option<StoreIndex>,
}

/// Syncs one domain. Returns the report (also stored); a guard stop or a failure is an error, and leaves
/// a report too.
pub async fn sync_domain(
    domain: &Domain,
    store: &Store,
    opts: SyncOptions,
    mut progress: impl FnMut(Progress),
) -> Result<SyncReport, Error> {
    let started = now();
    let clock = Instant::now();
    let mut report = SyncReport {
        id: uuid_like(),
        domain: domain.name.clone(),
        started_at: started,
        duration_ms: 0,
        mode: "full".to_owned(),
        dry_run: opts.dry_run,
        outcome: Outcome::Completed,
        counts: Counts::default(),
        message: None,
        details: Vec::new(),
    };
    let mut run = Run {
        domain,
        opts,
        counts: Counts::default(),
        details: Details::default(),
        seen: KeySet::default(),
        deleted: Vec::new(),
        disabled: Vec::new(),
        presents: 0,
        active_listed: 0,
        index: None,
    };
    let outcome = run.execute(store, &mut report, &mut progress).await;
    report.duration_ms = i64::try_from(clock.elapsed().as_millis()).unwrap_or(i64::MAX);
    report.counts = run.counts;
    report.details = run.details.into_lines();
    match outcome {
        Ok(Some(tx)) => {
            // The report is written in the sync's own transaction: both or neither.
            let mut tx = tx;
            tx.save_report(&report).await?;
            tx.commit_bulk().await?;
            tracing::info!(domain = %domain.name, mode = %report.mode, seen = report.counts.seen, created = report.counts.created, updated = report.counts.updated, deactivated = report.counts.deactivated, errors = report.counts.errors, ms = report.duration_ms, "sync completed");
            Ok(report)
        }
        Ok(None) => {
            store.save_report(&report).await?;
            Ok(report)
        }
        Err(err) => {
            report.outcome = if matches!(err, Error::Guard { .. }) { Outcome::Guarded } else { Outcome::Failed };
            report.message = Some(err.to_string());
            if let Err(e) = store.save_report(&report).await {
                tracing::error!(error = %e, "the report of a failed sync could not be stored");
            }
            // Info, not warn: the caller reports the error itself (the CLI on stderr, the API in its answer, the
            // scheduler as an error), and a warning here printed it twice.
            tracing::info!(domain = %domain.name, code = err.code(), "sync stopped: {err}");
            Err(err)
        }
    }
}

/// A user as the report names it: `login (dn)`.
fn describe(entry: &UserEntry) -> String {
    format!("{} ({})", entry.login, entry.dn)
}

/// A fingerprint of the settings that decide which users a sync lists and how they are mapped.
fn fingerprint(domain: &Domain) -> String {
    let mut text = String::new();
    if let Ok(report) = domain.filter() {
        for item in report.items.iter() {
            text.push_str(&format!("{}={}\n", item.name, item.value));
        }
    }
    text.push_str(&format!(
        "{:?}{:?}{}",
        domain.policy.mapping, domain.policy.groups, domain.policy.only_mapped_groups
    ));
    // SHA-1: stable across Rust releases and processes, unlike std's hashers.
    use sha1::{Digest, Sha1};
    format!("{}:", hex(&Sha1::digest(text.as_bytes())[..8]))
}

/// A report id that sorts by time (reports of the same second keep their order).
fn uuid_like() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let salt: u32 = rand::random();
    format!("{nanos:024x}{salt:08x}")
}

impl Run<'_> {
    /// Runs the sync in a transaction; returns it, uncommitted, when it completed (None for a dry run,
    /// which is rolled back here).
    async fn execute(
        &mut self,
        store: &Store,
        report: &mut SyncReport,
        progress: &mut impl FnMut(Progress),
    ) -> Result<Option<Tx>, Error> {
        let domain = self.domain;
        // One sync of a domain at a time, across processes; the cookie is read once the turn has come.
        let mut tx = store.begin().await?;
        tx.lock(&format!("dirconn sync {}", domain.name)).await?;
        // The cookie is stored behind a fingerprint of what decides the result (filters, base, mapping,
        // groups): after a configuration change, the next sync is a full pass.
        let fingerprint = fingerprint(domain);
        let stored = if self.opts.full { None } else { tx.cookie(&domain.name).await? };
        let cookie = stored.and_then(|c| c.strip_prefix(fingerprint.as_bytes()).map(<[u8]>::to_vec));
        if cookie.is_some() {
            report.mode = "incremental".into();
        }
        let stream = match domain.open_sync(cookie.clone(), BATCH).await {
            Ok(stream) => stream,
            Err(err) => {
                tx.rollback().await?;
                return Err(err);
            }
        };
        // A pass without a cookie lists every user: the store is read once, while the first batches are
        // taken from the connector. An incremental pass reads only the accounts of its changes, batch by batch.
        let mut early = Early::new();
        if cookie.is_none() {
            let exact = store.backend() == Backend::Sqlite;
            let (index, taken) = index_while_listing(&mut tx, &domain.name, exact, &stream).await;
            early = taken;
            match index {
                Ok(index) => self.index = Some(index),
                Err(err) => {
                    tx.rollback().await?;
                    return Err(err);
                }
            }
        }
        let mut writer = Writer::start(tx);
        let listed = self.list(&stream, early, &mut writer, progress).await;
        drop(stream);
        let (mut tx, written, mut results) = writer.finish().await;
        while let Ok(w) = results.try_recv() {
            self.merge(w);
        }
        self.index = None;
        let end = match (listed, written) {
            (Ok(end), Ok(())) => end,
            (Err(Halt::Failed(err)), _) | (_, Err(err)) => {
                tx.rollback().await?;
                return Err(err);
            }
            (Err(Halt::WriterStopped), Ok(())) => unreachable!("the writer stops only on a failure"),
        };
        if end.full {
            report.mode = "full".into();
        }
        self.details.extend(end.notes.iter().map(|n| format!("note: {n}")));
        if !self.disabled.is_empty() {
            self.details.push(format!(
                "note: {} listed user(s) are disabled in the directory: their accounts are deactivated, none is created",
                self.disabled.len()
            ));
        }
        // Deactivations: with a complete listing, every active directory account not listed; otherwise the
        // accounts deleted one by one (read only then, so that an incremental pass costs its changes only).
        // They run only now, after the whole listing was read and written without a failure.
        // Accounts created or reactivated by this run were listed, so they are counted out of `active`.
        let fresh = self.counts.created + self.counts.reactivated;
        let (gone, active): (Vec<(String, String)>, u64) = if end.complete && self.presents == 0 && {
            // Every active account was listed when as many distinct listed users have an active account:
            // then no account is gone, and the accounts need not be read.
            let all = tx.count_active_directory(&domain.name).await?;
            all == self.active_listed
        } {
            (Vec::new(), self.active_listed.saturating_sub(fresh))
        } else if end.complete {
            let seen = &self.seen;
            let (gone, all) = tx.unlisted_active_directory(&domain.name, &|key| seen.contains(key)).await?;
            (gone, all.saturating_sub(fresh))
        } else if self.deleted.is_empty() {
            (Vec::new(), 0)
        } else {
            let deleted: Vec<String> = self.deleted.iter().filter(|k| !self.seen.contains(k)).cloned().collect();
            let gone = tx
                .by_keys(&domain.name, &deleted)
                .await?
                .into_iter()
                .filter(|a| a.active && a.source == Source::Directory)
                .map(|a| (a.id, a.login))
                .collect();
            (gone, tx.count_active_directory(&domain.name).await?.saturating_sub(fresh))
        };
        let allowed = ((active as f64) * domain.policy.guard_percent / 100.0).floor() as u64;
        let allowed = allowed.max(domain.policy.guard_min);
        let would = gone.len() as u64;
        if would > allowed && !self.opts.force {
            tx.rollback().await?;
            return Err(Error::Guard { domain: domain.name.clone(), would, active, allowed });
        }
        let ids: Vec<String> = gone.iter().map(|(id, _)| id.clone()).collect();
        self.counts.deactivated = tx.deactivate(&ids, now()).await?;
        tx.mark_directory_disabled(&domain.name, &self.disabled).await?;
        if self.opts.dry_run {
            self.details.extend(gone.iter().map(|(_, login)| format!("deactivate {login}")));
        }
        let new_cookie = end.cookie.into_option().map(|c| c.into_vec());
        if new_cookie != cookie {
            let stored = new_cookie.map(|c| [fingerprint.as_bytes(), &c].concat());
            tx.set_cookie(&domain.name, stored.as_deref(), now()).await?;
        }
        if self.opts.dry_run {
            tx.rollback().await?;
            return Ok(None);
        }
        Ok(Some(tx))
    }

    /// Takes the connector's batches until the last one, deciding each and queueing its writes; returns how
    /// the listing ended. The writer may still be writing the last batches.
    async fn list(
        &mut self,
        stream: &dirconn_abi::SyncStreamBox,
        mut early: Early,
        writer: &mut Writer,
        progress: &mut impl FnMut(Progress),
    ) -> Result<dirconn_abi::SyncEnd, Halt> {
        let domain = self.domain;
        loop {
            let next = match early.pop_front() {
                Some(taken) => taken,
                None => stream.next_batch().await.into_result(),
            };
            let batch = match next {
                Ok(batch) => batch,
                Err(cause) => {
                    return Err(Halt::Failed(Error::SyncFailed {
                        domain: domain.name.clone(),
                        seen: self.counts.seen,
                        cause: Box::new(cause),
                    }));
                }
            };
            let mut upserts = Vec::new();
            for change in batch.changes {
                match change.kind {
                    ChangeKind::Upsert => match change.entry.into_option() {
                        // Disabled in the directory: the account is deactivated like a deleted user's
                        // (never created), under the same guard.
                        Some(entry) if entry.is_disabled() => {
                            self.counts.seen += 1;
                            tracing::debug!(dn = %entry.dn, "disabled in the directory");
                            self.disabled.push(change.key.to_string());
                            self.deleted.push(change.key.to_string());
                        }
                        Some(entry) => upserts.push(entry),
                        None => {}
                    },
                    ChangeKind::Present => {
                        self.seen.insert(change.key.as_str());
                        self.presents += 1;
                    }
                    ChangeKind::Delete => self.deleted.push(change.key.to_string()),
                }
            }
            self.apply_upserts(writer, upserts).await?;
            while let Ok(w) = writer.written.try_recv() {
                self.merge(w);
            }
            progress(Progress { seen: self.counts.seen, counts: self.counts });
            if let Some(end) = batch.end.into_option() {
                return Ok(end);
            }
        }
    }

    /// Counts what a batch's writes did.
    fn merge(&mut self, w: Written) {
        self.counts.created += w.created;
        self.counts.updated += w.updated;
        self.counts.reactivated += w.reactivated;
        self.active_listed += w.active_listed;
        for (who, why) in w.errors {
            self.counts.errors += 1;
            self.details.push(format!("error: {who}: {why}"));
        }
    }

    /// Decides one batch of current entries and queues its creations and updates: users whose digest
    /// matches are unchanged; the rest are matched with the accounts read by key, then by name (only those
    /// the index cannot rule out, when there is one).
    async fn apply_upserts(&mut self, writer: &Writer, entries: Vec<UserEntry>) -> Result<(), Halt> {
        if entries.is_empty() {
            return Ok(());
        }
        let domain = self.domain;
        let policy = &domain.policy;
        let name = &domain.name;
        // Users outside the mapped groups are skipped; users whose stored digest matches what their entry would
        // set are unchanged: neither needs its account read.
        let digests = match self.index {
            Some(_) => HashMap::new(),
            None => {
                let keys: Vec<String> = entries.iter().map(|e| e.id.to_string()).collect();
                writer.read(|reply| Read::Digests(name.clone(), keys, reply)).await?
            }
        };
        let mut rest = Vec::with_capacity(entries.len());
        for entry in entries {
            if policy.only_mapped_groups && !in_mapped_groups(&entry, policy) {
                self.counts.seen += 1;
                self.counts.skipped += 1;
                continue;
            }
            let candidate = match &self.index {
                Some(index) => index.has_key(entry.id.as_str()),
                None => matches!(digests.get(entry.id.as_str()), Some((Some(_), true))),
            };
            if candidate {
                // The digest the mapped account would hold, computed from the entry without mapping it.
                let digest = entry_digest(&entry, policy);
                let unchanged = match &self.index {
                    Some(index) => index.unchanged(entry.id.as_str(), &digest),
                    None => {
                        matches!(digests.get(entry.id.as_str()), Some((Some(stored), true)) if *stored == hex(&digest))
                    }
                };
                if unchanged {
                    self.counts.seen += 1;
                    self.counts.unchanged += 1;
                    if self.seen.insert(entry.id.as_str()) {
                        self.active_listed += 1;
                    }
                    continue;
                }
            }
            rest.push(entry);
        }
        let entries = rest;
        if entries.is_empty() {
            return Ok(());
        }
        // The accounts to read by key: those the digest query found; with an index on SQLite, those it had or
        // this run wrote (a key seen before in this run); with one on PostgreSQL, all.
        let known: Vec<String> = entries
            .iter()
            .filter(|e| match &self.index {
                Some(index) if index.exact => index.has_key(e.id.as_str()) || self.seen.contains(e.id.as_str()),
                Some(_) => true,
                None => digests.contains_key(e.id.as_str()),
            })
            .map(|e| e.id.to_string())
            .collect();
        let mut by_key: HashMap<String, Account> = if known.is_empty() {
            HashMap::new()
        } else {
            writer
                .read(|reply| Read::ByKeys(name.clone(), known, reply))
                .await?
                .into_iter()
                .filter_map(|a| Some((a.directory_key.clone()?, a)))
                .collect()
        };
        let unmatched: Vec<String> =
            entries.iter().filter(|e| !by_key.contains_key(e.id.as_str())).map(|e| e.login.to_string()).collect();
        let mut by_auth: HashMap<String, Account> = HashMap::new();
        // Account names taken in the store or given earlier in this batch.
        let mut taken: HashSet<String> = HashSet::new();
        if !unmatched.is_empty() {
            let exact = self.index.as_ref().filter(|i| i.exact);
            let mut wanted: Vec<String> = unmatched.iter().map(|l| account_name(l)).collect();
            let mut claimed: Vec<String> = unmatched.clone();
            if let Some(index) = exact {
                wanted.retain(|l| index.logins.contains(&index.hash(l)));
                claimed.retain(|l| index.claimable.contains(&index.hash(l)));
            }
            // Two indexed lookups: one `auth_name IN (…) OR login IN (…)` query scans the table on SQLite
            // (measured: a 100,000-user sync went from 1.5 s to 7.7 s).
            if !wanted.is_empty() {
                let found = writer.read(|reply| Read::ByLogins(name.clone(), wanted, reply)).await?;
                taken.extend(found.into_iter().map(|a| a.login));
            }
            if !claimed.is_empty() {
                let found = writer.read(|reply| Read::ByAuthNames(name.clone(), claimed, reply)).await?;
                for a in found.into_iter().filter(Account::claimable) {
                    by_auth.insert(a.auth_name.clone(), a);
                }
            }
        }
        let now = now();
        let mut writes = Writes::default();
        for entry in &entries {
            self.counts.seen += 1;
            let first = self.seen.insert(entry.id.as_str());
            let existing = by_key.remove(entry.id.as_str()).or_else(|| by_auth.remove(entry.login.as_str()));
            if let Some(before) = existing {
                let mut account = before.clone();
                self.details.extend(apply_entry(&mut account, entry, policy));
                if !before.active {
                    account.active = true;
                    account.deactivated_at = None;
                    account.directory_disabled = false;
                }
                if !account.differs_from(&before) {
                    self.counts.unchanged += 1;
                    self.active_listed += u64::from(first);
                    continue;
                }
                account.updated_at = now;
                if self.opts.dry_run {
                    let changes = account.changes(&before);
                    let what = if changes.is_empty() { "mapping".to_owned() } else { changes.join(", ") };
                    self.details.push(format!("update {}: {what}", account.login));
                }
                writes.updates.push((account, before));
                writes.updates_first.push(first);
                continue;
            }
            let base = account_name(&entry.login);
            if base.is_empty() {
                self.counts.errors += 1;
                self.details.push(format!("error: {} has no login attribute value; skipped", entry.dn));
                continue;
            }
            let login = if taken.contains(&base) {
                let (domain_name, prefix) = (name.clone(), base.clone());
                let mut in_use = match writer.read(|reply| Read::LoginsStartingWith(domain_name, prefix, reply)).await?
                {
                    Ok(names) => names,
                    Err(e) => {
                        self.user_error(&describe(entry), &e.into());
                        continue;
                    }
                };
                in_use.extend(taken.iter().filter(|t| t.starts_with(&base)).cloned());
                lowest_free_login(&base, &in_use)
            } else {
                base
            };
            if let Some(index) = &mut self.index {
                let h = index.hash(&login);
                index.logins.insert(h);
            }
            taken.insert(login.clone());
            let mut account = Account::new(name, &login, &entry.login, policy.default_source, now);
            self.details.extend(apply_entry(&mut account, entry, policy));
            if self.opts.dry_run {
                self.details.push(format!("create {login} for {}", entry.dn));
            }
            writes.creates.push(account);
            writes.creates_first.push(first);
        }
        if !writes.creates.is_empty() || !writes.updates.is_empty() {
            writer.queue(Job::Write(writes)).await?;
        }
        Ok(())
    }

    fn user_error(&mut self, who: &str, err: &Error) {
        self.counts.errors += 1;
        self.details.push(format!("error: {who}: {err}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_keep_a_bounded_number_of_lines() {
        let mut d = Details::default();
        d.extend((0..MAX_DETAILS + 5).map(|i| format!("create user{i}")));
        let lines = d.into_lines();
        assert_eq!(lines.len(), MAX_DETAILS + 1);
        assert!(lines.last().unwrap().starts_with("… and 5 more line(s)"), "{:?}", lines.last());
    }

    #[test]
    fn a_stored_digest_tags_as_the_same_digest_computed() {
        let index = StoreIndex {
            keys: HashedMap::default(),
            logins: HashedSet::default(),
            claimable: HashedSet::default(),
            state: foldhash::quality::RandomState::default(),
            exact: true,
        };
        let digest: [u8; 16] = std::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0xa5);
        let tag = index.tag(&hex(&digest));
        assert_eq!(tag, digest_tag(&digest));
        assert!(tag & 2 == 2 && tag & 1 == 0);
        for other in ["", "not a digest", "+0123456789abcde0123456789abcdef", &hex(&digest)[..30]] {
            let t = index.tag(other);
            assert!(t != 0 && t & 3 == 0, "{other:?} tags as no digest of this version");
        }
    }

    #[test]
    fn keys_are_seen_once() {
        let mut keys = KeySet::default();
        assert!(keys.insert("5f8b6e2a-1c3d-103f-8a1b-2d45a03e7701"));
        assert!(!keys.insert("5f8b6e2a-1c3d-103f-8a1b-2d45a03e7701"));
        assert!(keys.contains("5f8b6e2a-1c3d-103f-8a1b-2d45a03e7701") && !keys.contains("other"));
    }
}
