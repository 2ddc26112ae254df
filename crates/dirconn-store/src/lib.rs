//! The account store: accounts, memberships, sync reports and sync state, in an embedded SQLite file or a
//! PostgreSQL database, through one sqlx code path (the `Any` driver) and one set of migrations.
//!
//! Every write that belongs together runs in one [`Tx`]; a failure rolls the whole of it back.

mod account;
mod addresses;
mod audit;
mod checkpoint;
mod error;
pub mod examples;
mod lease;
mod location;
mod private;
mod query;
mod report;
mod throttle;

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use sqlx::{
    AnyConnection, AnyPool, Connection, Transaction,
    any::{Any, AnyPoolOptions},
};

use crate::location::Location;
pub use crate::{
    account::{Account, Field, Fields, Source, Value, lowest_free_login},
    addresses::AddressOwner,
    audit::{AUDIT_LOGIN_MAX, AuditQuery, AuditRecord},
    error::Error,
    lease::Claim,
    location::resolve_location,
    report::{Counts, Outcome, SyncReport},
    throttle::{ThrottleKey, ThrottleOutcome, ThrottleRead, ThrottleSince},
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The schema version this build migrates stores to (its newest migration).
pub fn schema_version() -> i64 {
    MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
}

/// Set on every SQLite connection. WAL lets readers run beside the one writer; NORMAL is durable with WAL
/// except for the last transactions on power loss; writers of other processes wait up to 30 s; an 8 MiB page
/// cache (a fixed bound: memory stays flat). A large sync's transaction spills to the WAL as it goes rather
/// than all at its commit: with 32 MiB, a 100,000-user sync's commit took 65–85 ms and its peak memory was
/// 68 MB; with 8 MiB, 40 ms and 42 MB, for the same writer CPU (measured).
const SQLITE_PRAGMAS: [&str; 5] = [
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA busy_timeout = 30000",
    "PRAGMA foreign_keys = ON",
    "PRAGMA cache_size = -8192",
];

/// The database behind a store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// The account store. Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    url: String,
    /// SQLite has one writer at a time: writers of this process queue here, however long a sync runs,
    /// instead of failing after the busy timeout (which still applies between processes).
    writer: Arc<tokio::sync::Mutex<()>>,
    /// A SQLite file's URL (without `mode=rwc`) for the checkpoint after a bulk commit (`checkpoint.rs`).
    checkpoint_url: Option<String>,
}

/// The current time in Unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// The current time in Unix milliseconds (the audit's clock).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Store {
    /// Opens (creating a SQLite file if needed) and migrates the store at `url`: a file path or `sqlite:` URL
    /// (`sqlite:a.db`, `sqlite://a.db`, `sqlite:///abs/a.db`; relative paths from the working folder: see
    /// [`resolve_location`]), or a `postgres://` URL.
    pub async fn open(url: &str) -> Result<Store, Error> {
        sqlx::any::install_default_drivers();
        let shown = redact_url(url);
        let mut checkpoint_url = None;
        let (backend, connect_url) = match location::parse(url) {
            Ok(Location::Postgres(url)) => (Backend::Postgres, url),
            Ok(Location::SqliteMemory(url)) => (Backend::Sqlite, url),
            // The file is created if missing (its folder is not), whichever way the path is written.
            Ok(Location::SqliteFile { path, params }) => {
                // Private before SQLite opens it: created 0600, refused when others may read it.
                let create = params.iter().all(|(k, v)| k != "mode" || v == "rwc");
                private::prepare(&path, create)?;
                checkpoint_url = Some(location::sqlite_url(&path, &params, false));
                (Backend::Sqlite, location::sqlite_url(&path, &params, true))
            }
            Err(problem) => return Err(Error::BadUrl { url: shown, problem }),
        };
        let options = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 4 } else { 8 })
            // A pool whose database is down retries connecting until this timeout, and every request waits
            // that long: PostgreSQL gets 5 s (a login answers "retry later" in time, and `dirconn serve`
            // stops promptly). SQLite's writers queue on its single write lock, so they keep 30 s.
            .acquire_timeout(Duration::from_secs(if backend == Backend::Sqlite { 30 } else { 5 }))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        for pragma in SQLITE_PRAGMAS {
                            sqlx::query(pragma).execute(&mut *conn).await?;
                        }
                    }
                    Ok(())
                })
            });
        let pool = options.connect(&connect_url).await.map_err(|source| Error::Open { url: shown.clone(), source })?;
        // Two processes opening a new store at once race to create its tables; the loser sees the winner's
        // work on a second look.
        let mut attempt = 0;
        while let Err(source) = MIGRATOR.run(&pool).await {
            attempt += 1;
            if attempt == 3 {
                return Err(Error::Migrate { source });
            }
            tracing::debug!(error = %source, "store migration raced another process; retrying");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tracing::debug!(store = %shown, "account store open");
        Ok(Store { pool, backend, url: shown, writer: Arc::default(), checkpoint_url })
    }

    /// The database kind.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL, its password removed.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Starts a write transaction. On SQLite it takes the write lock at once (`BEGIN IMMEDIATE`), so that
    /// two writers queue instead of failing on a lock upgrade.
    pub async fn begin(&self) -> Result<Tx, Error> {
        let writer = match self.backend {
            Backend::Sqlite => Some(Arc::clone(&self.writer).lock_owned().await),
            Backend::Postgres => None,
        };
        let mut tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        }
        .map_err(Error::query("begin a transaction"))?;
        if self.backend == Backend::Sqlite {
            // A connection a bulk commit left without automatic checkpoints gets them back.
            sqlx::query(checkpoint::AUTOMATIC).execute(&mut *tx).await.map_err(Error::query("begin a transaction"))?;
        }
        Ok(Tx { tx, _writer: writer, checkpoint_url: self.checkpoint_url.clone() })
    }

    /// One account by its name in the domain.
    pub async fn account(&self, domain: &str, login: &str) -> Result<Option<Account>, Error> {
        let mut conn = self.pool.acquire().await.map_err(Error::query("connect"))?;
        query::by_column(&mut conn, domain, "login", &[login.to_owned()]).await.map(|mut v| v.pop())
    }

    /// The account of a domain with this directory key, read outside any transaction (no writer lock).
    pub async fn by_directory_key(&self, domain: &str, key: &str) -> Result<Option<Account>, Error> {
        let mut conn = self.pool.acquire().await.map_err(Error::query("connect"))?;
        query::by_column(&mut conn, domain, "directory_key", &[key.to_owned()]).await.map(|mut v| v.pop())
    }

    /// Accounts of a domain by authentication name or account name (case-insensitive on the account name).
    pub async fn by_name(&self, domain: &str, name: &str) -> Result<Vec<Account>, Error> {
        let mut conn = self.pool.acquire().await.map_err(Error::query("connect"))?;
        let mut found = query::by_column(&mut conn, domain, "auth_name", &[name.to_owned()]).await?;
        for a in query::by_column(&mut conn, domain, "login", &[name.to_lowercase()]).await? {
            if !found.iter().any(|f| f.id == a.id) {
                found.push(a);
            }
        }
        Ok(found)
    }

    /// The active accounts holding a mail address (lowercase), best claim first: the account whose
    /// canonical address it is, then the one whose primary address it is, then aliases, the oldest account
    /// first among equals. Read outside any transaction (no writer lock).
    pub async fn address_owners(&self, address: &str) -> Result<Vec<AddressOwner>, Error> {
        let mut conn = self.pool.acquire().await.map_err(Error::query("connect"))?;
        addresses::owners(&mut conn, address).await
    }

    /// Every account of a domain (or of all domains), ordered by domain and name.
    pub async fn accounts(&self, domain: Option<&str>) -> Result<Vec<Account>, Error> {
        let mut conn = self.pool.acquire().await.map_err(Error::query("connect"))?;
        query::all(&mut conn, domain).await
    }

    /// The sync reports of a domain, newest first.
    pub async fn reports(&self, domain: &str, limit: i64) -> Result<Vec<SyncReport>, Error> {
        let mut conn = self.pool.acquire().await.map_err(Error::query("connect"))?;
        report::list(&mut conn, domain, limit).await
    }

    /// Stores a sync report on its own (a failed or dry run, whose transaction was rolled back).
    pub async fn save_report(&self, report: &SyncReport) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        tx.save_report(report).await?;
        tx.commit().await
    }

    /// A domain's incremental sync cookie.
    pub async fn cookie(&self, domain: &str) -> Result<Option<Vec<u8>>, Error> {
        let mut conn = self.pool.acquire().await.map_err(Error::query("connect"))?;
        query::cookie(&mut conn, domain).await
    }

    /// Records authentication attempts: the whole batch in one transaction, with multi-row INSERTs.
    pub async fn record_audit(&self, records: &[AuditRecord]) -> Result<(), Error> {
        if records.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        audit::insert(tx.conn(), records).await?;
        tx.commit().await
    }

    /// The recorded authentication attempts matching `query`, newest first.
    pub async fn audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, Error> {
        let mut conn = self.pool.acquire().await.map_err(Error::query("connect"))?;
        audit::list(&mut conn, query).await
    }

    /// Deletes the authentication attempts recorded before `older_than_ms` (Unix milliseconds), in one
    /// transaction; returns how many were deleted.
    pub async fn purge_audit(&self, older_than_ms: i64) -> Result<u64, Error> {
        let mut tx = self.begin().await?;
        let purged = audit::purge(tx.conn(), older_than_ms).await?;
        tx.commit().await?;
        Ok(purged)
    }

    /// Checks that the database answers (`SELECT 1` on a pooled connection): a readiness probe.
    pub async fn ping(&self) -> Result<(), Error> {
        let mut conn = self.pool.acquire().await.map_err(Error::query("connect"))?;
        sqlx::query("SELECT 1").execute(&mut *conn).await.map_err(Error::query("answer a ping"))?;
        Ok(())
    }

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// A write transaction: everything in it is committed together or not at all.
#[derive(Debug)]
pub struct Tx {
    // Declared first: dropped (rolled back) before the writer's turn ends.
    tx: Transaction<'static, Any>,
    _writer: Option<tokio::sync::OwnedMutexGuard<()>>,
    /// A SQLite file: where a bulk commit checkpoints afterwards ([`Tx::commit_bulk`]).
    checkpoint_url: Option<String>,
}

impl Tx {
    fn conn(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }

    /// Waits until no other transaction holds `name` (a domain being synced), then holds it until this
    /// transaction ends. PostgreSQL: a transaction-level advisory lock; SQLite: nothing to do, since its
    /// write transactions already run one at a time.
    pub async fn lock(&mut self, name: &str) -> Result<(), Error> {
        if self.tx.backend_name() != "PostgreSQL" {
            return Ok(());
        }
        // A stable key: FNV-1a over the name (std's hashers may change between Rust releases).
        let key = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(key as i64)
            .execute(self.conn())
            .await
            .map_err(Error::query("wait for another sync of the domain"))?;
        Ok(())
    }

    /// Commits.
    pub async fn commit(self) -> Result<(), Error> {
        self.tx.commit().await.map_err(Error::query("commit"))
    }

    /// Commits a large transaction (a sync's). On SQLite, the WAL checkpoint its size calls for runs after the
    /// commit, in the background, instead of inside it (see `checkpoint.rs`).
    pub async fn commit_bulk(mut self) -> Result<(), Error> {
        let Some(url) = self.checkpoint_url.take() else {
            return self.commit().await;
        };
        sqlx::query(checkpoint::DEFERRED).execute(self.conn()).await.map_err(Error::query("commit"))?;
        self.tx.commit().await.map_err(Error::query("commit"))?;
        checkpoint::spawn(url);
        Ok(())
    }

    /// Rolls back.
    pub async fn rollback(self) -> Result<(), Error> {
        self.tx.rollback().await.map_err(Error::query("roll back"))
    }

    /// Accounts of a domain by directory key.
    pub async fn by_keys(&mut self, domain: &str, keys: &[String]) -> Result<Vec<Account>, Error> {
        query::by_column(self.conn(), domain, "directory_key", keys).await
    }

    /// The sync digests and active flags of a domain's accounts, by directory key.
    pub async fn digests(
        &mut self,
        domain: &str,
        keys: &[String],
    ) -> Result<std::collections::HashMap<String, (Option<String>, bool)>, Error> {
        query::digests(self.conn(), domain, keys).await
    }

    /// Accounts of a domain by account name.
    pub async fn by_logins(&mut self, domain: &str, logins: &[String]) -> Result<Vec<Account>, Error> {
        query::by_column(self.conn(), domain, "login", logins).await
    }

    /// Accounts of a domain by authentication name.
    pub async fn by_auth_names(&mut self, domain: &str, names: &[String]) -> Result<Vec<Account>, Error> {
        query::by_column(self.conn(), domain, "auth_name", names).await
    }

    /// Every account of a domain.
    pub async fn all(&mut self, domain: &str) -> Result<Vec<Account>, Error> {
        query::all(self.conn(), Some(domain)).await
    }

    /// The account names of a domain that start with `base`.
    pub async fn logins_starting_with(&mut self, domain: &str, base: &str) -> Result<BTreeSet<String>, Error> {
        query::logins_starting_with(self.conn(), domain, base).await
    }

    /// The lowest free account name for `base` in a domain.
    pub async fn free_login(&mut self, domain: &str, base: &str) -> Result<String, Error> {
        let taken = self.logins_starting_with(domain, base).await?;
        Ok(lowest_free_login(base, &taken))
    }

    /// Inserts a new account with its memberships. A login or key another writer took first is
    /// [`Error::Conflict`], and leaves this transaction usable.
    pub async fn insert(&mut self, account: &Account) -> Result<(), Error> {
        self.in_savepoint(Write::Insert(account)).await
    }

    /// Writes every column of an existing account, and its memberships when they changed from `before`.
    pub async fn update(&mut self, account: &Account, before: &Account) -> Result<(), Error> {
        self.in_savepoint(Write::Update(account, before)).await
    }

    /// Inserts many accounts: a few multi-row statements when none conflicts; otherwise one by one, so that
    /// each account's result says whether it was written. Errors of the transaction itself are the outer ones.
    pub async fn insert_many(&mut self, accounts: &[Account]) -> Result<Vec<Result<(), Error>>, Error> {
        if accounts.is_empty() {
            return Ok(Vec::new());
        }
        let mut sp = self.tx.begin().await.map_err(Error::query("open a savepoint"))?;
        match query::insert_many(&mut sp, accounts).await {
            Ok(()) => {
                sp.commit().await.map_err(Error::query("release a savepoint"))?;
                Ok(accounts.iter().map(|_| Ok(())).collect())
            }
            Err(_) => {
                sp.rollback().await.map_err(Error::query("roll back a savepoint"))?;
                let mut results = Vec::with_capacity(accounts.len());
                for a in accounts {
                    results.push(self.insert(a).await);
                }
                Ok(results)
            }
        }
    }

    /// Updates many accounts (each with its stored state): one savepoint for all when none fails; otherwise
    /// one by one, so that each account's result says whether it was written.
    pub async fn update_many(&mut self, pairs: &[(Account, Account)]) -> Result<Vec<Result<(), Error>>, Error> {
        if pairs.is_empty() {
            return Ok(Vec::new());
        }
        let mut sp = self.tx.begin().await.map_err(Error::query("open a savepoint"))?;
        let mut failed = false;
        for (account, before) in pairs {
            if query::update(&mut sp, account, before).await.is_err() {
                failed = true;
                break;
            }
        }
        if !failed {
            sp.commit().await.map_err(Error::query("release a savepoint"))?;
            return Ok(pairs.iter().map(|_| Ok(())).collect());
        }
        sp.rollback().await.map_err(Error::query("roll back a savepoint"))?;
        let mut results = Vec::with_capacity(pairs.len());
        for (account, before) in pairs {
            results.push(self.update(account, before).await);
        }
        Ok(results)
    }

    /// Runs one account write in a savepoint, so that its failure (a conflict) undoes only itself.
    async fn in_savepoint(&mut self, write: Write<'_>) -> Result<(), Error> {
        let mut sp = self.tx.begin().await.map_err(Error::query("open a savepoint"))?;
        let done = match write {
            Write::Insert(account) => query::insert(&mut sp, account).await,
            Write::Update(account, before) => query::update(&mut sp, account, before).await,
        };
        match done {
            Ok(()) => sp.commit().await.map_err(Error::query("release a savepoint")),
            Err(err) => {
                sp.rollback().await.map_err(Error::query("roll back a savepoint"))?;
                Err(err)
            }
        }
    }

    /// Deletes an account (local accounts only are ever deleted, by an administrator).
    pub async fn delete(&mut self, id: &str) -> Result<bool, Error> {
        query::delete(self.conn(), id).await
    }

    /// The active directory accounts of a domain whose key `listed` rejects, as (id, login), and how many
    /// active directory accounts there are: the end of a sync with a complete listing.
    pub async fn unlisted_active_directory(
        &mut self,
        domain: &str,
        listed: &(dyn Fn(&str) -> bool + Sync),
    ) -> Result<(Vec<(String, String)>, u64), Error> {
        query::unlisted_active_directory(self.conn(), domain, listed).await
    }

    /// Hands `each` what a sync needs of every account of a domain (key, digest, names, state), one row at
    /// a time, without collecting them; returns how many there were. A sync reads this once, before it
    /// writes, instead of asking for each batch of users.
    pub async fn sync_index(&mut self, domain: &str, each: &mut (dyn FnMut(SyncRow<'_>) + Send)) -> Result<u64, Error> {
        query::sync_index(self.conn(), domain, each).await
    }

    /// How many active directory accounts a domain has.
    pub async fn count_active_directory(&mut self, domain: &str) -> Result<u64, Error> {
        query::count_active_directory(self.conn(), domain).await
    }

    /// Deactivates accounts by id.
    pub async fn deactivate(&mut self, ids: &[String], now: i64) -> Result<u64, Error> {
        query::deactivate(self.conn(), ids, now).await
    }

    /// Flags the (inactive) accounts of these directory keys as disabled in the directory, so that no other
    /// entry claims them by name.
    pub async fn mark_directory_disabled(&mut self, domain: &str, keys: &[String]) -> Result<(), Error> {
        query::mark_directory_disabled(self.conn(), domain, keys).await
    }

    /// Stores a sync report.
    pub async fn save_report(&mut self, report: &SyncReport) -> Result<(), Error> {
        report::save(self.conn(), report).await
    }

    /// A domain's incremental sync cookie, read inside this transaction.
    pub async fn cookie(&mut self, domain: &str) -> Result<Option<Vec<u8>>, Error> {
        query::cookie(self.conn(), domain).await
    }

    /// Sets (or clears) a domain's incremental sync cookie.
    pub async fn set_cookie(&mut self, domain: &str, cookie: Option<&[u8]>, now: i64) -> Result<(), Error> {
        query::set_cookie(self.conn(), domain, cookie, now).await
    }
}

/// What [`Tx::sync_index`] tells of one stored account.
#[derive(Debug, Clone, Copy)]
pub struct SyncRow<'a> {
    /// The directory key, if any.
    pub key: Option<&'a str>,
    /// The sync digest, if any.
    pub digest: Option<&'a str>,
    /// Whether the account is active.
    pub active: bool,
    /// The account name.
    pub login: &'a str,
    /// The authentication name.
    pub auth_name: &'a str,
    /// Whether a directory entry may claim the account by its authentication name ([`Account::claimable`]).
    pub claimable: bool,
}

/// One account write.
enum Write<'a> {
    Insert(&'a Account),
    Update(&'a Account, &'a Account),
}

/// A URL with its password replaced by `***`.
fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    // The authority ends at the first `/` or `?`; its user info at the last `@` in it (a password may hold `@`).
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    // A password given as a query parameter (`?password=…`) is hidden too.
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => p.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_with_at_signs_and_in_queries_are_removed() {
        assert_eq!(redact_url("postgres://app:p@ss@db/mail"), "postgres://app:***@db/mail");
        assert_eq!(
            redact_url("postgres://db/mail?user=app&password=secret"),
            "postgres://db/mail?user=app&password=***"
        );
        assert_eq!(redact_url("postgres://db/mail"), "postgres://db/mail");
    }

    #[test]
    fn passwords_are_removed_from_urls() {
        assert_eq!(redact_url("postgres://app:s3cret@db:5432/mail"), "postgres://app:***@db:5432/mail");
        assert_eq!(redact_url("postgres://app@db/mail"), "postgres://app@db/mail");
        assert_eq!(redact_url("/var/lib/dirconn/accounts.db"), "/var/lib/dirconn/accounts.db");
    }
}
