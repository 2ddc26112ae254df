//! The Kerberos password check against real MIT KDCs on loopback: every KDC answer a login must tell apart
//! gets its own code, tickets are validated with a keytab (a spoofed KDC is refused), dead KDCs are failed
//! over, a UDP reply too big is asked again over TCP, and a stale keytab is named as such.

use std::{path::Path, time::Duration};

use dirconn_kerberos::{Error, KdcAddress, Principal, Realm, RealmSettings, Validation};
use dirconn_tests::{KdcOptions, MitKdc};

const SERVICE: &str = "imap/mail.example.org";

fn settings(kdcs: &[String], keytab: Option<&Path>) -> RealmSettings {
    RealmSettings {
        realm: "EXAMPLE.ORG".into(),
        kdcs: kdcs.iter().map(|k| KdcAddress::parse(k).unwrap()).collect(),
        udp: false,
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(2),
        max_skew: Duration::from_secs(300),
        max_in_flight: 4,
        validation: keytab
            .map(|k| Validation { keytab: k.to_owned(), service: Principal::parse(SERVICE, "EXAMPLE.ORG").unwrap() }),
    }
}

fn user(name: &str) -> Principal {
    Principal::parse(name, "EXAMPLE.ORG").unwrap()
}

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

fn code(r: Result<dirconn_kerberos::Verified, Error>) -> String {
    match r {
        Ok(v) => format!("ok validated={}", v.validated),
        Err(e) => format!("{} {e}", e.code()),
    }
}

#[test]
fn every_kdc_answer_has_its_own_outcome() {
    let kdc = MitKdc::start();
    let keytab = kdc.add_service(SERVICE);
    kdc.kadmin("addpol -maxfailure 2 -failurecountinterval 0 -lockoutduration 1h lockpol");
    for (name, pw) in [
        ("alice", "alice-pass"),
        ("dora", "dora-pass"),
        ("pete", "pete-pass"),
        ("olga", "olga-pass"),
        ("lars", "lars-pass"),
        ("nina", "nina-pass"),
    ] {
        kdc.add_user(name, pw);
    }
    kdc.kadmin("modprinc -allow_tix dora");
    kdc.kadmin("modprinc -pwexpire 2000-01-01 pete");
    kdc.kadmin("modprinc -expire 2000-01-01 olga");
    kdc.kadmin("modprinc -policy lockpol lars");
    kdc.kadmin("modprinc +needchange nina");
    let realm = Realm::new(settings(&[kdc.address()], Some(&keytab)));
    block(async {
        let ok = realm.check_password(&user("alice"), "alice-pass").await.expect("alice");
        assert!(ok.validated);
        let cases = [
            ("alice", "wrong", "DC-901"),
            ("nobody", "x", "DC-902"),
            ("dora", "dora-pass", "DC-904"),
            ("pete", "pete-pass", "DC-906"),
            ("pete", "not-petes", "DC-901"),
            ("olga", "olga-pass", "DC-908"),
            ("nina", "nina-pass", "DC-906"),
        ];
        for (name, pw, want) in cases {
            let got = code(realm.check_password(&user(name), pw).await);
            eprintln!("{name}/{pw}: {got}");
            assert!(got.starts_with(want), "{name} with {pw}: {got}\n{}", kdc.logs());
        }
        for _ in 0..2 {
            let got = code(realm.check_password(&user("lars"), "bad").await);
            assert!(got.starts_with("DC-901"), "{got}");
        }
        let got = code(realm.check_password(&user("lars"), "lars-pass").await);
        eprintln!("lars locked: {got}");
        assert!(got.starts_with("DC-903"), "{got}\n{}", kdc.logs());
        assert_eq!(code(realm.check_password(&user("alice"), "").await).get(..6), Some("DC-201"));
    });
}

#[test]
fn a_spoofed_kdc_is_refused_with_validation_and_not_without() {
    let genuine = MitKdc::start();
    let keytab = genuine.add_service(SERVICE);
    genuine.add_user("alice", "alice-pass");
    // Whoever answers for the realm can make any password "work": the attacker's KDC knows the password
    // typed (here: it made alice with it), not the realm's service keys.
    let spoof = MitKdc::start();
    spoof.add_user("alice", "guessed");
    spoof.kadmin(&format!("addprinc -randkey {SERVICE}"));
    block(async {
        // Its service key is older (kvno 1) than the keytab's (2): refused as not from the realm.
        let validated = Realm::new(settings(&[spoof.address()], Some(&keytab)));
        let got = code(validated.check_password(&user("alice"), "guessed").await);
        assert!(got.starts_with("DC-915"), "{got}");
    });
    // The same key version as the keytab's, other key bytes: the ticket does not decrypt.
    spoof.export_keytab(SERVICE);
    block(async {
        let validated = Realm::new(settings(&[spoof.address()], Some(&keytab)));
        let got = code(validated.check_password(&user("alice"), "guessed").await);
        assert!(got.starts_with("DC-915"), "{got}");
        let unvalidated = Realm::new(settings(&[spoof.address()], None));
        let got = code(unvalidated.check_password(&user("alice"), "guessed").await);
        assert_eq!(got, "ok validated=false", "without a keytab the spoofed KDC is believed");
        let real = Realm::new(settings(&[genuine.address()], Some(&keytab)));
        assert!(code(real.check_password(&user("alice"), "guessed").await).starts_with("DC-901"));
        // A KDC's answer is final: the first KDC's "wrong password" is not tried again on the next one.
        let both = Realm::new(settings(&[spoof.address(), genuine.address()], Some(&keytab)));
        let got = code(both.check_password(&user("alice"), "alice-pass").await);
        assert!(got.starts_with("DC-901"), "{got}");
    });
}

#[test]
fn failover_udp_too_big_and_a_stale_keytab() {
    let kdc = MitKdc::start_with(KdcOptions { max_dgram_reply: Some(10), ..KdcOptions::default() });
    let keytab = kdc.add_service(SERVICE);
    kdc.add_user("alice", "alice-pass");
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("127.0.0.1:{}", l.local_addr().unwrap().port())
    };
    block(async {
        let realm = Realm::new(settings(&[dead.clone(), kdc.address()], Some(&keytab)));
        let ok = realm.check_password(&user("alice"), "alice-pass").await.expect("failover");
        assert_eq!(ok.kdc, kdc.address());
        // A KDC that takes the connection and never answers: the next one after the read timeout.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut slow = settings(&[silent.local_addr().unwrap().to_string(), kdc.address()], Some(&keytab));
        slow.read_timeout = Duration::from_millis(300);
        let ok = Realm::new(slow).check_password(&user("alice"), "alice-pass").await.expect("failover after a timeout");
        assert_eq!(ok.kdc, kdc.address());
        let all_dead = Realm::new(settings(std::slice::from_ref(&dead), Some(&keytab)));
        let got = code(all_dead.check_password(&user("alice"), "alice-pass").await);
        assert!(got.starts_with("DC-913"), "{got}");

        let mut udp = settings(&[kdc.address()], Some(&keytab));
        udp.udp = true;
        let ok = Realm::new(udp).check_password(&user("alice"), "alice-pass").await.expect("UDP then TCP");
        // Every reply is over 10 bytes: a success means each UDP error 52 was asked again over TCP.
        assert!(ok.validated);
    });
    // New keys in the realm (kvno 3), the old keytab kept aside.
    let stale = kdc.dir().join("stale.keytab");
    std::fs::copy(&keytab, &stale).unwrap();
    kdc.export_keytab(SERVICE);
    block(async {
        let realm = Realm::new(settings(&[kdc.address()], Some(&stale)));
        let got = code(realm.check_password(&user("alice"), "alice-pass").await);
        assert!(got.starts_with("DC-918"), "{got}");
        let missing = Realm::new(settings(&[kdc.address()], Some(&kdc.dir().join("none.keytab"))));
        assert!(code(missing.check_password(&user("alice"), "alice-pass").await).starts_with("DC-919"));
        let fresh = Realm::new(settings(&[kdc.address()], Some(&keytab)));
        assert!(fresh.check_password(&user("alice"), "alice-pass").await.unwrap().validated);
        assert!(fresh.check_keytab().await.is_ok());
        let stage = realm.check_keytab().await;
        assert!(matches!(&stage, Err(Error::NotValidated { reason, .. }) if reason.contains("changed")), "{stage:?}");
    });
}

#[test]
fn clock_skew_is_reported_with_the_offset() {
    let kdc = MitKdc::start_with(KdcOptions { clock_offset: Some("+20m".into()), ..KdcOptions::default() });
    kdc.add_user("alice", "alice-pass");
    block(async {
        let realm = Realm::new(settings(&[kdc.address()], None));
        match realm.check_password(&user("alice"), "alice-pass").await {
            Err(Error::ClockSkew { offset, .. }) => assert!((1100..1300).contains(&offset), "{offset}"),
            other => panic!("{other:?}"),
        }
        let probes = realm.probe().await;
        assert!(matches!(probes[0].outcome, Err(Error::ClockSkew { .. })), "{probes:?}");
    });
}
