//! The sync operations (ABI 2): a connector streams its users to the host, batch by batch, either all of
//! them (a full pass) or what changed since a cookie it handed out before (an incremental pass).

// `#[sabi_trait]` generates impls inside a const block, which this lint flags (abi_stable 0.11.3).
#![allow(non_local_definitions)]

use abi_stable::{
    StableAbi, sabi_trait,
    std_types::{RBox, ROption, RResult, RString, RVec},
};
use async_ffi::FfiFuture;

use crate::{ConnectorError, UserEntry};

/// What the host asks for when it starts a sync (ABI 2).
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Default)]
pub struct SyncRequest {
    /// The cookie the connector returned at the end of the last completed sync. None asks for a full pass.
    pub cookie: ROption<RVec<u8>>,
    /// The most changes the host wants in one batch (the connector may send fewer).
    pub batch_size: u32,
    /// The directory attributes the host maps, beyond the ones the connector always reads (key, login, email,
    /// display name, groups). The stream's entries carry these attributes only: the ones always read have
    /// fields of their own. Empty asks for every user attribute, and entries carry all.
    pub attributes: RVec<RString>,
}

/// What happened to one directory user (ABI 2).
#[repr(u8)]
#[derive(StableAbi, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// The user exists and this is its current entry (a full pass lists every user this way).
    Upsert = 0,
    /// The user still exists and has not changed since the cookie; only its key is sent.
    Present = 1,
    /// The user is gone from the directory (or from the sync filter); only its key is sent.
    Delete = 2,
}

/// One user in a sync stream (ABI 2).
#[repr(C)]
#[derive(StableAbi, Debug, Clone)]
pub struct SyncChange {
    /// What happened.
    pub kind: ChangeKind,
    /// The user's stable key (the same as [`UserEntry::id`]).
    pub key: RString,
    /// The entry, for [`ChangeKind::Upsert`].
    pub entry: ROption<UserEntry>,
}

/// How a sync stream ended (ABI 2).
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Default)]
pub struct SyncEnd {
    /// The cookie for the next incremental pass, when the directory offers one.
    pub cookie: ROption<RVec<u8>>,
    /// Whether the stream listed every current user (as an upsert or as present): the host then deactivates
    /// the accounts it did not list. False when deletions were sent one by one.
    pub complete: bool,
    /// Whether this was a full pass (no cookie, or the directory could not honour it).
    pub full: bool,
    /// Notes for the sync report (`the server has no syncprov: full pass`).
    pub notes: RVec<RString>,
}

/// One batch of a sync stream (ABI 2).
#[repr(C)]
#[derive(StableAbi, Debug, Clone, Default)]
pub struct SyncBatch {
    /// The users of this batch.
    pub changes: RVec<SyncChange>,
    /// Set on the last batch only.
    pub end: ROption<SyncEnd>,
}

/// A sync in progress, pulled by the host batch by batch: the connector reads ahead at most a few batches,
/// so memory stays flat however large the directory is (ABI 2). Dropping it cancels the sync.
#[sabi_trait]
pub trait SyncStream: Send + Sync + 'static {
    /// The next batch; after the one carrying [`SyncBatch::end`], an error.
    #[sabi(last_prefix_field)]
    fn next_batch(&self) -> FfiFuture<RResult<SyncBatch, ConnectorError>>;
}

/// An owned sync stream as it crosses the boundary (ABI 2).
pub type SyncStreamBox = SyncStream_TO<RBox<()>>;
