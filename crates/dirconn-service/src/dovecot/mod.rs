//! Dovecot's auth protocol served by dirconn itself: the auth-client side (`AUTH` with PLAIN and LOGIN, what
//! Postfix's `smtpd_sasl_type = dovecot` and `doveadm auth test` speak) and the auth-master side (`USER`
//! userdb lookups and `LIST`, what `doveadm user` speaks), both on each configured socket (see [`server`]
//! for how a connection's side is told; [`crate::socket`] for the sockets).
//!
//! Every login goes through [`Service::authenticate`] and every lookup through [`Service::user`].

pub mod protocol;
pub mod sasl;
pub mod server;

use std::{future::Future, pin::Pin, sync::Arc};

use tokio::sync::watch;

use crate::{
    Service,
    socket::{Listener, Stream},
};

/// Serves Dovecot's auth protocol on `listener` until the stop.
pub async fn serve(listener: Listener, service: Arc<Service>, stop: watch::Receiver<bool>) {
    crate::socket::serve(listener, "Dovecot auth protocol", handle, service, stop).await;
}

fn handle(
    stream: Stream,
    service: Arc<Service>,
    stop: watch::Receiver<bool>,
    cuid: u64,
    peer: String,
) -> Pin<Box<dyn Future<Output = ()> + Send>> {
    match stream {
        Stream::Unix(s) => Box::pin(server::connection(s, service, stop, cuid, peer)),
        Stream::Tcp(s) => Box::pin(server::connection(s, service, stop, cuid, peer)),
    }
}
