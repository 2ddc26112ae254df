//! `bench kerberos`: full logins through the host and the loaded `ldap` plugin with the password checked by
//! the realm, 16 clients at once, on one slapd (identity) and one MIT KDC with the same users. Ours:
//! `password_check = "kerberos"` (dirconn-kerberos, the ticket validated with a keytab). Reference:
//! `password_check = "pam"` with pam_krb5 (what a Linux mail server uses today), validating with the same
//! keytab; both sides do the same LDAP work, so they differ only in the password check. The LDAP bind check
//! on the same users is printed beside (`bench kerberos-vs-bind`).

use std::{sync::Arc, time::Instant};

use dirconn_abi::ClientContext;
use dirconn_tests::{DomainSpec, MitKdc, Slapd, SlapdOptions, TestHost, slapd};

use super::{SERVER_PID, Shape, compare, drive};

const SERVICE: &str = "imap/mail.example.org";

fn login_of(
    host: &Arc<TestHost>,
) -> impl Fn(usize) -> std::pin::Pin<Box<dyn std::future::Future<Output = bool> + Send>> + Clone + Send + Sync + 'static
{
    let host = Arc::clone(host);
    move |n: usize| {
        let host = Arc::clone(&host);
        Box::pin(async move {
            let login = format!("{}@example.org", slapd::generated_uid(n));
            host.host.login(&login, &slapd::generated_password(n), ClientContext::default()).await.is_ok()
        })
    }
}

pub async fn run(plugin_dir: &std::path::Path, users: usize, clients: usize, logins: usize, rounds: usize) {
    println!("bench kerberos: starting slapd with {users} generated users and an MIT KDC with the same ones…");
    let server = Slapd::start_with(SlapdOptions { users, ppolicy: false, ..SlapdOptions::default() });
    let kdc = MitKdc::start();
    let started = Instant::now();
    let principals: Vec<(String, String)> =
        (1..=users).map(|n| (slapd::generated_uid(n), slapd::generated_password(n))).collect();
    kdc.add_users(&principals);
    let keytab = kdc.add_service(SERVICE);
    println!("{users} principals and the service keytab in {:.1} s", started.elapsed().as_secs_f64());
    // pam_krb5 finds the realm through KRB5_CONFIG.
    // SAFETY: set before the hosts (and their plugin threads) start.
    unsafe { std::env::set_var("KRB5_CONFIG", kdc.krb5_conf()) };
    SERVER_PID.store(kdc.pid(), std::sync::atomic::Ordering::Relaxed);
    let pam_dir = tempfile::tempdir().expect("temp dir");
    let k = keytab.display();
    std::fs::write(
        pam_dir.path().join("dirconn-krb5"),
        format!(
            "auth required pam_krb5.so minimum_uid=0 no_ccache keytab={k}\naccount required pam_krb5.so minimum_uid=0\n"
        ),
    )
    .expect("the PAM service file");
    let ldap_plugin = plugin_dir.join(dirconn_tests::stage::library_file_name("dirconn-plugin-ldap"));
    let base = || DomainSpec::ldap(&server).raw("pool_size", "8").raw("operation_timeout", "\"10s\"");
    let kerberos = base()
        .set("password_check", "kerberos")
        .set("kerberos_realm", kdc.realm())
        .set("kdc", &format!("[\"{}\"]", kdc.address()))
        .set("keytab", &keytab.display().to_string())
        .set("service_principal", SERVICE);
    let pam = base()
        .set("password_check", "pam")
        .set("pam_service", "dirconn-krb5")
        .set("pam_confdir", &pam_dir.path().display().to_string())
        .raw("pam_max_concurrent", &clients.to_string());
    let ours = Arc::new(TestHost::start(std::slice::from_ref(&ldap_plugin), &[kerberos]).expect("host (kerberos)"));
    let theirs = Arc::new(TestHost::start(std::slice::from_ref(&ldap_plugin), &[pam]).expect("host (pam)"));
    let bind = Arc::new(TestHost::start(&[ldap_plugin], &[base()]).expect("host (bind)"));
    let (ours_login, pam_login, bind_login) = (login_of(&ours), login_of(&theirs), login_of(&bind));
    for n in [1, users] {
        assert!(ours_login(n).await, "user {n} with the Kerberos check");
        assert!(pam_login(n).await, "user {n} through pam_krb5");
        assert!(bind_login(n).await, "user {n} with the bind check");
    }
    println!("warming up…");
    drive(clients, 200, users, pam_login.clone()).await;
    drive(clients, 200, users, ours_login.clone()).await;
    drive(clients, 200, users, bind_login.clone()).await;
    println!("The LDAP bind check on the same users (reference), beside the Kerberos check (ours):");
    let shape = Shape { name: "kerberos-vs-bind", clients, logins, users, rounds, pool: 8 };
    compare(&shape, bind_login, ours_login.clone()).await;
    println!("pam_krb5 through libpam (reference) vs dirconn-kerberos (ours), both validating with the keytab:");
    let shape = Shape { name: "kerberos", clients, logins, users, rounds, pool: 8 };
    compare(&shape, pam_login, ours_login).await;
}
