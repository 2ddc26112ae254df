//! Dovecot's auth protocol (auth-client and auth-master), served by dirconn itself.

use std::sync::Arc;

use tokio::sync::watch;

use crate::{Error, Service, config::SocketSpec};

/// An open Dovecot auth socket.
pub enum Listener {
    /// A UNIX socket.
    Unix(tokio::net::UnixListener),
    /// A loopback TCP socket.
    Tcp(tokio::net::TcpListener),
}

/// Opens a socket.
pub async fn bind(spec: &SocketSpec) -> Result<Listener, Error> {
    Err(Error::Listen { address: spec.to_string(), source: std::io::Error::other("not yet") })
}

/// Serves until the stop.
pub async fn serve(_listener: Listener, _service: Arc<Service>, _stop: watch::Receiver<bool>) {}
