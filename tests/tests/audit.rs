//! The authentication audit in the account store, on SQLite and on a real PostgreSQL started by the harness:
//! batches, filters and order, purge, long and non-ASCII logins, and all-or-nothing batches.

use dirconn_store::{AuditQuery, AuditRecord, Store};
use dirconn_tests::postgres::Postgres;

/// Where a scenario's store lives.
enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(Postgres),
}

impl Backend {
    async fn store(&self) -> Store {
        let url = match self {
            Backend::Sqlite(dir) => dir.path().join("accounts.db").display().to_string(),
            Backend::Postgres(pg) => pg.url(),
        };
        Store::open(&url).await.expect("store opens")
    }
}

const BASE: i64 = 1_700_000_000_000;

fn record(i: i64) -> AuditRecord {
    let domain = match i % 3 {
        0 => Some("a.org".to_owned()),
        1 => Some("b.org".to_owned()),
        _ => None,
    };
    AuditRecord {
        id: String::new(),
        at: BASE + i,
        interface: ["http", "dovecot", "nginx", "cli"][(i % 4) as usize].to_owned(),
        account: domain.as_ref().map(|d| format!("user{i}@{d}")),
        domain,
        login: format!("user{i}"),
        client_ip: Some(format!("192.0.2.{}", i % 250)),
        local_ip: Some("127.0.0.1".to_owned()),
        service: Some("imap".to_owned()),
        outcome: if i % 2 == 0 { "ok".to_owned() } else { "DC-203".to_owned() },
        kind: if i % 2 == 0 { "ok".to_owned() } else { "InvalidCredentials".to_owned() },
        latency_us: 1000 + i,
    }
}

fn all() -> AuditQuery {
    AuditQuery { limit: 100_000, ..Default::default() }
}

async fn audit_scenario(backend: Backend) {
    let store = backend.store().await;
    store.ping().await.expect("the store answers a ping");
    store.record_audit(&[]).await.expect("an empty batch is nothing to do");

    let records: Vec<AuditRecord> = (0..1000).map(record).collect();
    store.record_audit(&records).await.expect("a batch of 1,000 is written");
    let back = store.audit(&all()).await.unwrap();
    assert_eq!(back.len(), 1000);
    assert!(back.windows(2).all(|w| w[0].at > w[1].at), "newest first");
    let newest = &back[0];
    assert_eq!((newest.at, newest.login.as_str()), (BASE + 999, "user999"));
    assert_eq!(AuditRecord { id: newest.id.clone(), ..record(999) }, *newest, "every column comes back");

    // Filters, alone and together.
    let q = |f: AuditQuery| {
        let store = store.clone();
        async move { store.audit(&AuditQuery { limit: 100_000, ..f }).await.unwrap() }
    };
    let a = q(AuditQuery { domain: Some("A.org".into()), ..Default::default() }).await;
    assert_eq!(a.len(), 334);
    assert!(a.iter().all(|r| r.domain.as_deref() == Some("a.org")));
    let b_failed =
        q(AuditQuery { domain: Some("b.org".into()), outcome: Some("DC-203".into()), ..Default::default() }).await;
    assert_eq!(b_failed.len(), (0..1000).filter(|i| i % 3 == 1 && i % 2 == 1).count());
    assert!(b_failed.iter().all(|r| r.domain.as_deref() == Some("b.org") && r.outcome == "DC-203"));
    let recent = q(AuditQuery { since_ms: Some(BASE + 900), ..Default::default() }).await;
    assert_eq!(recent.len(), 100);
    assert_eq!(recent.last().unwrap().at, BASE + 900);
    let typed = q(AuditQuery { login: Some("user5".into()), ..Default::default() }).await;
    assert_eq!(typed.iter().map(|r| r.at).collect::<Vec<_>>(), [BASE + 5]);
    let by_account = q(AuditQuery { login: Some("User6@A.org".into()), ..Default::default() }).await;
    assert_eq!(by_account.iter().map(|r| r.at).collect::<Vec<_>>(), [BASE + 6]);
    let ten = store.audit(&AuditQuery { limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(ten.iter().map(|r| r.at).collect::<Vec<_>>(), (990..1000).rev().map(|i| BASE + i).collect::<Vec<_>>());
    assert!(store.audit(&AuditQuery { limit: -1, ..Default::default() }).await.unwrap().is_empty());

    // Attempts of the same millisecond come back newest first too (ids are time-ordered).
    let same: Vec<AuditRecord> =
        (0..3).map(|i| AuditRecord { at: BASE + 5000, login: format!("tie{i}"), ..record(i) }).collect();
    store.record_audit(&same).await.unwrap();
    let ties = q(AuditQuery { since_ms: Some(BASE + 5000), ..Default::default() }).await;
    assert_eq!(ties.iter().map(|r| r.login.as_str()).collect::<Vec<_>>(), ["tie2", "tie1", "tie0"]);

    // A 256-character login, longer ones cut, non-ASCII kept, control characters (NUL) replaced.
    let exact: String = "é".repeat(255) + "x";
    let long: String = "ü".repeat(300);
    let odd = [
        AuditRecord { at: BASE + 6000, login: exact.clone(), ..record(0) },
        AuditRecord { at: BASE + 6001, login: long, ..record(0) },
        AuditRecord {
            at: BASE + 6002,
            login: "Zoë.例え".into(),
            domain: Some("例え.jp".into()),
            account: Some("zoë.例え@例え.jp".into()),
            client_ip: Some("::ffff:127.0.0.2".into()),
            ..record(0)
        },
        AuditRecord { at: BASE + 6003, login: "nul\0and\x1b[2J".into(), ..record(0) },
    ];
    store.record_audit(&odd).await.expect("odd logins are recorded");
    let back = q(AuditQuery { since_ms: Some(BASE + 6000), ..Default::default() }).await;
    let logins: Vec<&str> = back.iter().rev().map(|r| r.login.as_str()).collect();
    assert_eq!(logins[0], exact);
    assert_eq!(logins[0].chars().count(), 256);
    assert_eq!(logins[1], "ü".repeat(256));
    assert_eq!(logins[2], "Zoë.例え");
    assert_eq!(logins[3], "nul\u{FFFD}and\u{FFFD}[2J");
    let zoe = q(AuditQuery { domain: Some("例え.jp".into()), ..Default::default() }).await;
    assert_eq!(zoe.len(), 1);
    assert_eq!(zoe[0].client_ip.as_deref(), Some("::ffff:127.0.0.2"));
    let zoe = q(AuditQuery { login: Some("ZOË.例え@例え.jp".into()), ..Default::default() }).await;
    assert_eq!(zoe.len(), 1, "the account filter is case-insensitive on what it is given");

    // A batch is one transaction: a duplicate id in its second INSERT undoes its first.
    let before = store.audit(&all()).await.unwrap().len();
    let mut batch: Vec<AuditRecord> =
        (0..600).map(|i| AuditRecord { id: format!("dup-{i}"), at: BASE + 7000 + i, ..record(i) }).collect();
    batch[599].id = "dup-0".into();
    let err = store.record_audit(&batch).await.expect_err("a duplicate id fails the batch");
    assert_eq!(err.code(), "DC-604");
    assert_eq!(store.audit(&all()).await.unwrap().len(), before, "nothing of the failed batch is kept");

    // Purge by age.
    assert_eq!(store.purge_audit(BASE + 500).await.unwrap(), 500);
    assert_eq!(store.purge_audit(BASE + 500).await.unwrap(), 0);
    let left = store.audit(&all()).await.unwrap();
    assert_eq!(left.len(), before - 500);
    assert!(left.iter().all(|r| r.at >= BASE + 500));
    assert_eq!(left.last().unwrap().at, BASE + 500);
    store.close().await;
}

#[tokio::test]
async fn audit_on_sqlite() {
    audit_scenario(Backend::Sqlite(tempfile::tempdir().expect("temp dir"))).await;
}

#[tokio::test]
async fn audit_on_postgres() {
    audit_scenario(Backend::Postgres(Postgres::start())).await;
}
