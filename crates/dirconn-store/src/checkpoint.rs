//! SQLite's WAL checkpoint after a bulk commit (a sync's): run by a task of its own once the transaction has
//! committed, rather than inside the commit.
//!
//! SQLite checkpoints in the commit that finds the WAL over 1,000 pages, on the committing connection.
//! Measured on a 100,000-user full sync (`cargo xtask bench sync`): its commit took 0.28 s, 0.2 s of which
//! was that checkpoint, while the sync still held the store's write turn. A bulk commit switches the
//! connection's automatic checkpoint off for its own commit, and a PASSIVE checkpoint (readers and writers
//! go on meanwhile) copies the WAL back on a connection of its own. Every other transaction switches it
//! back on when it begins, so a connection a bulk commit left returns to the default.
//!
//! The durability is the same: with `synchronous = NORMAL`, a WAL commit is not synced to disk either
//! way; the checkpoint syncs the WAL before it copies it.

use std::str::FromStr;

use sqlx::{ConnectOptions, Connection, any::AnyConnectOptions};

/// Set on the connection of each transaction as it begins: SQLite's default.
pub(crate) const AUTOMATIC: &str = "PRAGMA wal_autocheckpoint = 1000";
/// Set on a bulk transaction's connection just before its commit.
pub(crate) const DEFERRED: &str = "PRAGMA wal_autocheckpoint = 0";

/// Copies the WAL back into the database file at `url`, in the background, on a connection of its own: a
/// large sync's checkpoint takes seconds (1.3 s after 1,000,000 accounts), which is expected, and sqlx would
/// log every statement over a second as a slow one, at WARN, on the store's pooled connections.
pub(crate) fn spawn(url: String) {
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        let outcome = async {
            let mut conn = AnyConnectOptions::from_str(&url)?.disable_statement_logging().connect().await?;
            sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").execute(&mut conn).await?;
            conn.close().await
        }
        .await;
        match outcome {
            Ok(()) => {
                tracing::debug!(ms = started.elapsed().as_millis() as u64, "WAL checkpointed after a bulk commit")
            }
            Err(err) => {
                tracing::debug!(error = %err, "WAL checkpoint after a bulk commit failed; SQLite checkpoints later")
            }
        }
    });
}
