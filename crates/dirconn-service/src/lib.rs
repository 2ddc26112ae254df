//! `dirconn serve`: the service mail servers talk to, over the host. Front ends (the HTTP API v1 with its
//! OpenAPI document, nginx's `auth_http`, Dovecot's auth protocol) turn their requests into one
//! [`core::Attempt`] and the one [`Service::authenticate`]'s [`core::Verdict`] back into their protocol;
//! Postfix's socketmap turns lookups into [`Service::lookup`] over the store;
//! the metrics listener serves `/metrics`, `/healthz` and `/readyz`; [`run`] wires them with the scheduler,
//! the audit writer and the signals (SIGTERM drains and stops, SIGHUP reloads).

pub mod audit;
pub mod cache;
pub mod config;
pub mod core;
mod digest;
pub mod dovecot;
mod error;
pub mod examples;
pub mod health;
pub mod http;
pub mod metrics;
mod run;
pub mod socket;
pub mod socketmap;
mod status;
#[cfg(test)]
mod testing;
pub mod throttle;

pub use config::ServiceConfig;
pub use core::Service;
pub use error::Error;
pub use run::{Options, Reloader, StartError, WebRoutes, run};
