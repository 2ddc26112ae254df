//! The fuzz targets' door into the HTTP front ends (crates/dirconn-fuzz): every route's JSON request body
//! read by the routes' own parser, and nginx's `auth_http` headers read and answered as the route does.
//! Not an API: nothing else calls it.

use axum::{http::HeaderMap, response::Response};

use super::{admin, auth, nginx, parse_body};
use crate::core::Attempt;

pub use super::nginx::{Unreadable, percent_decode, status_text};

/// A body refused: the response's status and JSON body.
#[derive(Debug)]
pub struct Refused {
    /// The HTTP status.
    pub status: u16,
    /// The JSON body (a [`dirconn_views::Refused`]).
    pub body: serde_json::Value,
}

/// Reads one route's body: taken, or refused as the route would answer.
pub type Read = fn(&[u8]) -> Result<(), Refused>;

fn read<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<(), Refused> {
    parse_body::<T>(bytes).map(drop).map_err(|e| Refused { status: e.status.as_u16(), body: e.body })
}

/// Every JSON request body by its type's name, read as its route reads it ([`super::Body`]).
pub const BODIES: [(&str, Read); 8] = [
    ("AuthBody", read::<auth::AuthBody>),
    ("SyncBody", read::<admin::SyncBody>),
    ("TestConnectionBody", read::<admin::TestConnectionBody>),
    ("TestAuthBody", read::<admin::TestAuthBody>),
    ("PasswordBody", read::<admin::PasswordBody>),
    ("NewLocalAccount", read::<admin::NewLocalAccount>),
    ("NewPassword", read::<admin::NewPassword>),
    ("MigrateBody", read::<admin::MigrateBody>),
];

/// nginx's headers as `GET /v1/nginx/auth` reads them: the protocol and the attempt, or why it is refused.
pub fn nginx_request(headers: &HeaderMap) -> (String, Result<Attempt, Unreadable>) {
    nginx::read_request(headers)
}

/// The answer `GET /v1/nginx/auth` sends nginx with these `Auth-*` headers (lowercase names).
pub fn nginx_answer(pairs: &[(&'static str, String)]) -> Response {
    nginx::answer(pairs)
}
