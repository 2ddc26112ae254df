//! The lease of each domain's scheduled sync, for nodes that share a PostgreSQL store: one node claims a due
//! sync, renews the lease while it runs, and releases it with the next due time; the others wait. A claim is
//! one transaction holding the domain's row, so two nodes never claim one sync.

use sqlx::Row;

use crate::{Error, Store};

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This node runs the sync now; it holds the lease until it releases it (or the lease ends).
    Mine,
    /// Another node holds the lease until `until` (Unix ms).
    Held {
        /// The node.
        holder: String,
        /// When its lease ends, unless renewed.
        until: i64,
    },
    /// No sync is due before `due` (Unix ms).
    NotDue {
        /// When the next one is.
        due: i64,
    },
}

impl Store {
    /// Claims the domain's scheduled sync for `node` when it is due and no other node holds it; `first_due`
    /// is when the domain's first sync is due when no node ever ran one.
    pub async fn claim_sync(
        &self,
        domain: &str,
        node: &str,
        now: i64,
        lease_ms: i64,
        first_due: i64,
    ) -> Result<Claim, Error> {
        let mut tx = self.begin().await?;
        let conn = tx.conn();
        let postgres = conn.backend_name() == "PostgreSQL";
        let insert = if postgres {
            "INSERT INTO sync_leases (domain, holder, until, due) VALUES ($1, '', 0, $2) ON CONFLICT DO NOTHING"
        } else {
            "INSERT OR IGNORE INTO sync_leases (domain, holder, until, due) VALUES ($1, '', 0, $2)"
        };
        sqlx::query(insert)
            .bind(domain)
            .bind(first_due)
            .execute(&mut *conn)
            .await
            .map_err(Error::query("record the sync lease"))?;
        let select = if postgres {
            "SELECT holder, until, due FROM sync_leases WHERE domain = $1 FOR UPDATE"
        } else {
            "SELECT holder, until, due FROM sync_leases WHERE domain = $1"
        };
        let row = sqlx::query(select)
            .bind(domain)
            .fetch_one(&mut *conn)
            .await
            .map_err(Error::query("read the sync lease"))?;
        let (holder, until, due): (String, i64, i64) = (row.get(0), row.get(1), row.get(2));
        let claim = if until > now && holder != node {
            Claim::Held { holder, until }
        } else if due > now {
            Claim::NotDue { due }
        } else {
            sqlx::query("UPDATE sync_leases SET holder = $1, until = $2 WHERE domain = $3")
                .bind(node)
                .bind(now + lease_ms)
                .bind(domain)
                .execute(&mut *conn)
                .await
                .map_err(Error::query("claim the sync lease"))?;
            Claim::Mine
        };
        tx.commit().await?;
        Ok(claim)
    }

    /// Renews `node`'s lease of the domain's sync; `false` when it no longer holds it.
    pub async fn renew_sync(&self, domain: &str, node: &str, until: i64) -> Result<bool, Error> {
        let mut tx = self.begin().await?;
        let done = sqlx::query("UPDATE sync_leases SET until = $1 WHERE domain = $2 AND holder = $3")
            .bind(until)
            .bind(domain)
            .bind(node)
            .execute(tx.conn())
            .await
            .map_err(Error::query("renew the sync lease"))?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Releases `node`'s lease of the domain's sync, with when the next one is due.
    pub async fn release_sync(&self, domain: &str, node: &str, next_due: i64) -> Result<(), Error> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE sync_leases SET until = 0, due = $1 WHERE domain = $2 AND holder = $3")
            .bind(next_due)
            .bind(domain)
            .bind(node)
            .execute(tx.conn())
            .await
            .map_err(Error::query("release the sync lease"))?;
        tx.commit().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_node_claims_a_due_sync_and_the_next_waits_for_its_release() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite:{}", dir.path().join("s.db").display())).await.unwrap();
        assert_eq!(store.claim_sync("d", "a", 1000, 500, 0).await.unwrap(), Claim::Mine);
        assert_eq!(
            store.claim_sync("d", "b", 1100, 500, 0).await.unwrap(),
            Claim::Held { holder: "a".into(), until: 1500 }
        );
        assert!(store.renew_sync("d", "a", 2000).await.unwrap());
        assert!(!store.renew_sync("d", "b", 2000).await.unwrap());
        store.release_sync("d", "a", 5000).await.unwrap();
        assert_eq!(store.claim_sync("d", "b", 1200, 500, 0).await.unwrap(), Claim::NotDue { due: 5000 });
        assert_eq!(store.claim_sync("d", "b", 5000, 500, 0).await.unwrap(), Claim::Mine);
        // b dies: its lease ends, the sync is still due, and a takes it.
        assert_eq!(
            store.claim_sync("d", "a", 5400, 500, 0).await.unwrap(),
            Claim::Held { holder: "b".into(), until: 5500 }
        );
        assert_eq!(store.claim_sync("d", "a", 5600, 500, 0).await.unwrap(), Claim::Mine);
    }
}
