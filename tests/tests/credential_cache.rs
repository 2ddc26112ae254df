//! The verified-credential cache of `dirconn serve` (`credential_cache_ttl`) against a real slapd that is
//! stopped mid-test: a login the directory accepted is answered from memory with the same password only;
//! another password, another user, or any failed attempt go to the directory (and a failure drops the
//! entry); without the setting nothing is cached.

use dirconn_tests::{
    DomainSpec, Fixture, Slapd,
    serve::{Serve, ServeSpec},
};

fn serve(slapd: &Slapd, ttl: Option<&str>) -> Serve {
    let mut spec = ServeSpec::new(vec![DomainSpec::ldap(slapd)]);
    if let Some(ttl) = ttl {
        spec.service.push(format!("credential_cache_ttl = \"{ttl}\""));
    }
    Serve::start(spec)
}

#[test]
fn a_verified_login_is_answered_from_memory_until_anything_else_happens() {
    let mut slapd = Slapd::start();
    let serve = serve(&slapd, Some("1h"));
    let (alice, bob) = (Fixture::ALICE, Fixture::BOB);
    assert_eq!(serve.client().login(alice.uid, alice.password).status, 200);
    assert_eq!(serve.client().login(bob.uid, bob.password).status, 200);
    // A wrong password for bob goes to the directory (401) and drops bob's entry.
    assert_eq!(serve.client().login(bob.uid, "not-his-password").status, 401);

    slapd.stop();
    // alice with her password: from memory, though the directory is down, in any case of the login.
    let r = serve.client().login("ALICE", alice.password);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["account"], "alice@example.org");
    // bob's entry was dropped by his failure: the directory is asked, and is down.
    assert_eq!(serve.client().login(bob.uid, bob.password).status, 503);
    // Another password for alice is never answered from memory, and drops her entry.
    assert_eq!(serve.client().login(alice.uid, "alice-old-password").status, 503);
    assert_eq!(serve.client().login(alice.uid, alice.password).status, 503);

    slapd.restart();
    let r = serve.client().login(alice.uid, alice.password);
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn without_the_setting_nothing_is_cached() {
    let mut slapd = Slapd::start();
    let serve = serve(&slapd, None);
    assert_eq!(serve.client().login(Fixture::ALICE.uid, Fixture::ALICE.password).status, 200);
    slapd.stop();
    assert_eq!(serve.client().login(Fixture::ALICE.uid, Fixture::ALICE.password).status, 503);
}
