//! The service connections: `pool_size` connections bound as the service account, each shared by every
//! operation in flight on it (LDAP multiplexes operations on one connection by message ID), handed out in
//! turn. A connection is opened when its slot is first needed or after it closed or failed, by one opener
//! per slot at a time; the others wait for it, at most for `wait`.

use std::{
    sync::{
        Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use ldap3::Ldap;

use crate::{Error, conn::Connector};

/// The service connections of one domain.
#[derive(Debug)]
pub(crate) struct ServicePool {
    slots: Box<[Slot]>,
    next: AtomicUsize,
    wait: Duration,
}

#[derive(Debug, Default)]
struct Slot {
    current: Mutex<Option<Open>>,
    /// Held by the one task opening this slot's connection.
    opening: tokio::sync::Mutex<()>,
}

#[derive(Debug)]
struct Open {
    id: u64,
    ldap: Ldap,
}

/// Which of the pool's connections an operation was handed (a clone of the pool's handle on it: the
/// operation runs beside the others'), for [`ServicePool::discard`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Lease {
    slot: usize,
    id: u64,
}

/// Tells connections apart, so that a failure discards the connection it happened on and not its successor.
static IDS: AtomicU64 = AtomicU64::new(0);

impl ServicePool {
    /// `size` slots, none open yet; a task waits at most `wait` for another to open a slot's connection.
    pub(crate) fn new(size: usize, wait: Duration) -> ServicePool {
        ServicePool { slots: (0..size.max(1)).map(|_| Slot::default()).collect(), next: AtomicUsize::new(0), wait }
    }

    /// The next slot's connection, opened (and bound through the service-bind guard) if it is not open.
    pub(crate) async fn get(&self, connector: &Connector) -> Result<(Ldap, Lease), Error> {
        let slot = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        if let Some(live) = self.live(slot) {
            return Ok(live);
        }
        let opening = tokio::time::timeout(self.wait, self.slots[slot].opening.lock()).await.map_err(|_| {
            Error::OperationTimeout {
                addr: connector.preferred_url().authority(),
                what: "wait for a service connection to open".into(),
                after: self.wait,
            }
        })?;
        // Another task may have opened it while this one waited.
        if let Some(live) = self.live(slot) {
            return Ok(live);
        }
        let ldap = connector.open_service().await?;
        let id = IDS.fetch_add(1, Ordering::Relaxed);
        *self.lock(slot) = Some(Open { id, ldap: ldap.clone() });
        drop(opening);
        Ok((ldap, Lease { slot, id }))
    }

    /// Forgets the connection an operation failed on (it is closed once the operations still on it end);
    /// its slot opens a new one when next needed.
    pub(crate) fn discard(&self, lease: Lease) {
        let mut current = self.lock(lease.slot);
        if current.as_ref().is_some_and(|open| open.id == lease.id) {
            *current = None;
        }
    }

    /// The slot's connection if it is open; one the server closed is forgotten.
    fn live(&self, slot: usize) -> Option<(Ldap, Lease)> {
        let mut current = self.lock(slot);
        let open = current.as_mut()?;
        if open.ldap.is_closed() {
            *current = None;
            return None;
        }
        Some((open.ldap.clone(), Lease { slot, id: open.id }))
    }

    fn lock(&self, slot: usize) -> std::sync::MutexGuard<'_, Option<Open>> {
        // The guarded value is a handle, always whole: a panic elsewhere cannot leave it half-written.
        self.slots[slot].current.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
