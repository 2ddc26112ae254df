//! The administration routes (role admin): everything the CLI does, over the same views, so a route's JSON
//! is what `dirconn --json` prints for the same command. Grouped by concern: [`directory`] (plugins,
//! domains, connection and login tests, lookups, attributes, filters, directory passwords), [`accounts`]
//! (the store's accounts, local accounts, migration), [`sync`] (syncs and their reports) and [`audit`].
//!
//! Every handler takes [`Admin`](super::Admin) as its first extractor that can fail, so a mail-server
//! token is refused (403, `DC-811`) before anything else is read. Host errors become responses through
//! [`ApiError::host`] (statuses by [`super::host_status`]). Changes are logged with the client's name,
//! never with a password.

mod accounts;
mod audit;
mod directory;
mod sync;

/// The request bodies, for the fuzz targets' door ([`super::fuzzing`]).
pub(super) use self::{
    accounts::{MigrateBody, NewLocalAccount, NewPassword},
    directory::{PasswordBody, TestAuthBody, TestConnectionBody},
    sync::SyncBody,
};

use std::sync::Arc;

use utoipa_axum::router::OpenApiRouter;

use super::{ApiError, AppState};
use crate::core::Live;

pub(super) fn routes(api: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    let api = directory::routes(api);
    let api = accounts::routes(api);
    let api = sync::routes(api);
    audit::routes(api)
}

/// The configuration in force for one request, and how its host errors are answered.
struct Request {
    live: Arc<Live>,
}

impl Request {
    fn new(service: &AppState) -> Request {
        Request { live: service.live() }
    }

    /// The `Retry-After` of temporary failures.
    fn retry(&self) -> u32 {
        self.live.config.retry_after_seconds
    }

    /// A host error as a response.
    fn fail(&self, err: &dirconn_host::Error) -> ApiError {
        ApiError::host(err, self.retry())
    }

    /// A configured domain (`DC-010`, 404, when there is none of this name).
    fn domain(&self, name: &str) -> Result<&dirconn_host::Domain, ApiError> {
        self.live.host.domain(name).map_err(|e| self.fail(&e))
    }
}

/// A query parameter that is not acceptable (`DC-812`, 400).
fn bad_query(problem: String) -> ApiError {
    crate::Error::BadRequest { problem: format!("its query: {problem}") }.into()
}

/// A body that parsed but does not make sense (`DC-812`, 400).
fn bad_body(problem: &str) -> ApiError {
    crate::Error::BadRequest { problem: format!("its body: {problem}") }.into()
}

#[cfg(test)]
mod tests;
