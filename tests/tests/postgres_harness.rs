//! Tests of the PostgreSQL harness itself: it starts, accepts TCP, and its process goes away.

use std::net::{Ipv4Addr, TcpStream};

use dirconn_tests::postgres::Postgres;

use dirconn_tests::process::is_alive as alive;

#[test]
fn starts_accepts_connections_and_stops_on_drop() {
    if !Postgres::available() {
        eprintln!("PostgreSQL is not installed; Postgres::start will panic with what to install");
    }
    let pg = Postgres::start();
    let pid = pg.pid();
    assert_eq!(pg.url(), format!("postgres://dirconn@127.0.0.1:{}/postgres", pg.port()));
    TcpStream::connect((Ipv4Addr::LOCALHOST, pg.port()))
        .unwrap_or_else(|e| panic!("cannot connect to {}: {e}\nlog:\n{}", pg.url(), pg.log()));
    assert!(alive(pid), "postgres (PID {pid}) is not running");
    drop(pg);
    assert!(!alive(pid), "postgres (PID {pid}) is still running after drop");
}
