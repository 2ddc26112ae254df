//! Loopback network helpers for tests: free ports, refused ports and a "black hole" server.
//!
//! Everything here binds to `127.0.0.1` only.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// Returns a TCP port on `127.0.0.1` that was free a moment ago (bind to port 0, read it, drop).
///
/// There is an unavoidable race: another process may take the port before the caller binds it.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("free_port: cannot bind 127.0.0.1:0");
    listener.local_addr().expect("free_port: cannot read the local address of a bound listener").port()
}

/// Returns a port on `127.0.0.1` that nothing listens on, so a connection to it is refused.
pub fn refused_port() -> u16 {
    free_port()
}

/// A TCP listener on `127.0.0.1:<random>` that accepts connections and never writes a byte.
///
/// Accepted sockets are kept open (nothing is read from them either) until the `BlackHole` is
/// dropped, which stops the background thread and closes every socket. Useful to test connect
/// and operation timeouts against a server that is "up" but never answers.
#[derive(Debug)]
pub struct BlackHole {
    port: u16,
    stop: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    thread: Option<JoinHandle<()>>,
}

impl BlackHole {
    /// Binds a listener on `127.0.0.1:0` and starts accepting on a background thread.
    pub fn start() -> BlackHole {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("BlackHole: cannot bind 127.0.0.1:0");
        let port = listener.local_addr().expect("BlackHole: cannot read the listener's local address").port();
        listener.set_nonblocking(true).expect("BlackHole: cannot make the listener non-blocking");
        let stop = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicUsize::new(0));
        let thread = {
            let stop = Arc::clone(&stop);
            let accepted = Arc::clone(&accepted);
            std::thread::Builder::new()
                .name(format!("blackhole-{port}"))
                .spawn(move || accept_loop(&listener, &stop, &accepted))
                .expect("BlackHole: cannot spawn the accept thread")
        };
        BlackHole { port, stop, accepted, thread: Some(thread) }
    }

    /// The listening port on `127.0.0.1`.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The socket address `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// `ldap://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// How many connections have been accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

fn accept_loop(listener: &TcpListener, stop: &AtomicBool, accepted: &AtomicUsize) {
    // Held (never written, never read) until the loop ends.
    let mut sockets: Vec<TcpStream> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((socket, _peer)) => {
                sockets.push(socket);
                accepted.fetch_add(1, Ordering::SeqCst);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::Interrupted => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    drop(sockets);
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            // A panic in the accept thread is not worth a double panic here.
            let _ = thread.join();
        }
    }
}
