//! The stream listeners of the line protocols (Dovecot's auth protocol, Postfix's socketmap): a UNIX socket
//! or a loopback TCP address each, opened before anything is served, and the accept loop that hands each
//! connection to its protocol and drains them at the stop.
//!
//! A UNIX socket is created mode 0660 (give the mail server's group access with `chown dirconn:postfix`, or
//! put it in a folder only that group may enter); a stale socket file is replaced, a live one (another
//! process answers on it) or a file that is not a socket is refused; the file is removed at the stop. TCP is
//! loopback only (checked by the configuration): neither protocol has client authentication.

use std::{
    future::Future,
    os::unix::fs::{FileTypeExt as _, MetadataExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use tokio::{sync::watch, task::JoinSet};

use crate::{Error, Service, config::SocketSpec, http::serve::stopped};

/// The mode of a UNIX socket: the owner and its group may connect.
pub const SOCKET_MODE: u32 = 0o660;

/// An open socket.
pub enum Listener {
    /// A UNIX socket, with its path and the inode created (removed at the stop if still the same file).
    Unix {
        /// The listener.
        listener: tokio::net::UnixListener,
        /// The socket file.
        path: PathBuf,
        /// The socket file's (device, inode).
        inode: (u64, u64),
    },
    /// A loopback TCP socket.
    Tcp(tokio::net::TcpListener),
}

impl Listener {
    /// Where it listens, as the configuration writes it.
    pub fn address(&self) -> String {
        match self {
            Listener::Unix { path, .. } => format!("unix:{}", path.display()),
            Listener::Tcp(l) => l.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| "tcp".into()),
        }
    }
}

/// An accepted connection.
pub enum Stream {
    /// On a UNIX socket.
    Unix(tokio::net::UnixStream),
    /// On loopback TCP (`TCP_NODELAY` set).
    Tcp(tokio::net::TcpStream),
}

/// What serves one connection: the stream, the service, the stop signal, a connection id unique in the
/// process, and the peer (for logs).
pub type Handler =
    fn(Stream, Arc<Service>, watch::Receiver<bool>, u64, String) -> Pin<Box<dyn Future<Output = ()> + Send>>;

fn listen_error(spec: &SocketSpec, source: std::io::Error) -> Error {
    Error::Listen { address: spec.to_string(), source }
}

/// Clears the way for a UNIX socket at `path`: removes a stale socket, refuses a live one or another file.
fn clear_stale(path: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(meta) if !meta.file_type().is_socket() => Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "the path exists and is not a socket; it was left alone",
        )),
        Ok(_) => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => Err(std::io::Error::new(std::io::ErrorKind::AddrInUse, "another process serves this socket")),
            Err(_) => std::fs::remove_file(path),
        },
    }
}

/// Opens a socket.
pub async fn bind(spec: &SocketSpec) -> Result<Listener, Error> {
    match spec {
        SocketSpec::Tcp(address) => {
            tokio::net::TcpListener::bind(address).await.map(Listener::Tcp).map_err(|e| listen_error(spec, e))
        }
        SocketSpec::Unix(path) => {
            clear_stale(path).map_err(|e| listen_error(spec, e))?;
            let listener = tokio::net::UnixListener::bind(path).map_err(|e| listen_error(spec, e))?;
            // Until this chmod the socket has the umask's mode: with the usual 022 no one else may connect.
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(SOCKET_MODE))
                .map_err(|e| listen_error(spec, e))?;
            let meta = std::fs::symlink_metadata(path).map_err(|e| listen_error(spec, e))?;
            Ok(Listener::Unix { listener, path: path.clone(), inode: (meta.dev(), meta.ino()) })
        }
    }
}

/// Connection ids, unique in the process (Dovecot's `CUID`).
static CONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// Serves `protocol` (named in logs) until the stop: then accepts no more connections, removes the socket
/// file, and lets each connection finish its requests in flight (up to the drain timeout).
pub async fn serve(
    listener: Listener,
    protocol: &'static str,
    handler: Handler,
    service: Arc<Service>,
    mut stop: watch::Receiver<bool>,
) {
    let address = listener.address();
    tracing::info!(%address, "{protocol} listening");
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = accept(&listener) => accepted,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            () = stopped(&mut stop) => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                let cuid = CONNECTIONS.fetch_add(1, Ordering::Relaxed) + 1;
                connections.spawn(handler(stream, service.clone(), stop.clone(), cuid, peer));
            }
            Err(err) => {
                tracing::warn!(%address, "accept failed: {err}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    if let Listener::Unix { path, inode, .. } = &listener {
        let ours = std::fs::symlink_metadata(path).is_ok_and(|m| (m.dev(), m.ino()) == *inode);
        if ours && let Err(err) = std::fs::remove_file(path) {
            tracing::warn!(%address, "the socket file could not be removed: {err}");
        }
    }
    drop(listener);
    // Each connection drains on its own within the drain timeout; this is the backstop.
    let drain = service.live().config.drain_timeout + Duration::from_secs(1);
    if tokio::time::timeout(drain, async { while connections.join_next().await.is_some() {} }).await.is_err() {
        connections.shutdown().await;
    }
}

async fn accept(listener: &Listener) -> std::io::Result<(Stream, String)> {
    match listener {
        Listener::Unix { listener, path, .. } => {
            let (s, _) = listener.accept().await?;
            let peer = match s.peer_cred() {
                Ok(c) => format!("unix:{} (pid {:?}, uid {})", path.display(), c.pid(), c.uid()),
                Err(_) => format!("unix:{}", path.display()),
            };
            Ok((Stream::Unix(s), peer))
        }
        Listener::Tcp(listener) => {
            let (s, peer) = listener.accept().await?;
            let _ = s.set_nodelay(true);
            Ok((Stream::Tcp(s), peer.to_string()))
        }
    }
}
