//! The connector trait object: one instance per configured mail domain.

// `#[sabi_trait]` generates impls inside a const block, which this lint flags (abi_stable 0.11.3).
#![allow(non_local_definitions)]

use abi_stable::{
    sabi_trait,
    std_types::{RBox, RResult, RString},
};
use async_ffi::FfiFuture;

use crate::{
    AttributeReport, AuthRequest, ConnectorError, FfiFutureExt, FilterReport, LockoutPolicy, PasswordRequest,
    SyncRequest, SyncStreamBox, TestReport, TestRequest, UserEntry,
};

/// A directory connector serving one mail domain.
///
/// Every operation but [`Connector::effective_filter`] returns an [`FfiFuture`] that the host polls on its
/// own runtime while the plugin's runtime does the work. Implementations catch their own panics: a panic
/// that crosses this boundary aborts the host.
///
/// Methods are only ever appended, below the `last_prefix_field` one, with the ABI version that added them.
#[sabi_trait]
pub trait Connector: Send + Sync + 'static {
    /// Tests the configuration stage by stage (ABI 1).
    fn test_connection(&self, request: TestRequest) -> FfiFuture<TestReport>;

    /// Checks a login and password and returns the user's entry (ABI 1).
    fn authenticate(&self, request: AuthRequest) -> FfiFuture<RResult<UserEntry, ConnectorError>>;

    /// Finds a user by login with the service account, without a password (ABI 1).
    fn lookup_user(&self, login: RString) -> FfiFuture<RResult<UserEntry, ConnectorError>>;

    /// Lists the attribute names of the schema and of a sample user (ABI 1).
    fn discover_attributes(&self) -> FfiFuture<RResult<AttributeReport, ConnectorError>>;

    /// Shows the search base, scope and filters the connector uses (ABI 1).
    #[sabi(last_prefix_field)]
    fn effective_filter(&self) -> FilterReport;

    /// Starts a sync of the domain's users: a full pass without a cookie, else the changes since it (ABI 2).
    ///
    /// A plugin that does not implement it answers with this default's [`ErrorKind::Unsupported`] error.
    /// (Plugins built against ABI 1 are refused at load by the layout check, not served by this default.)
    fn open_sync(&self, request: SyncRequest) -> FfiFuture<RResult<SyncStreamBox, ConnectorError>> {
        let _ = request;
        async { RResult::RErr(crate::failures::sync_unsupported()) }.into_ffi()
    }

    /// Changes a password as the user (old password given) or resets it with the service account (ABI 3).
    ///
    /// A plugin that does not implement it answers with this default's [`ErrorKind::Unsupported`] error.
    fn set_password(&self, request: PasswordRequest) -> FfiFuture<RResult<(), ConnectorError>> {
        let _ = request;
        async { RResult::RErr(crate::failures::password_unsupported()) }.into_ffi()
    }

    /// Reads the directory's account lockout policy: its threshold and observation window (ABI 5).
    ///
    /// A plugin that does not implement it answers with this default's [`ErrorKind::Unsupported`] error.
    fn lockout_policy(&self) -> FfiFuture<RResult<LockoutPolicy, ConnectorError>> {
        async { RResult::RErr(crate::failures::lockout_unsupported()) }.into_ffi()
    }
}

/// An owned connector instance as it crosses the boundary.
pub type ConnectorBox = Connector_TO<RBox<()>>;
