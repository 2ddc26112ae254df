//! Tests of the Samba AD DC harness itself: one DC per test process, each in its own network namespace.
//!
//! Run under cargo-nextest (one process per test): `cargo nextest run -p dirconn-tests --test samba_harness`.
//! They skip, saying why, when [`samba::unavailable`] is `Some` (not root, Samba missing), unless `CI` is set.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use dirconn_tests::samba::{
    self, AD_USERS, AdGroup, AdUser, AdUserState, BASE_DN, GENERATED_USERS, LOCKOUT_THRESHOLD, SambaDc, generated_dn,
    generated_password,
};
use ldap3::{LdapConnAsync, Scope, SearchEntry, adapters::EntriesOnly, adapters::PagedResults};

/// Enters the private network namespace and starts a DC, or returns `None` (skip) when Samba cannot run here.
fn start_dc() -> Option<SambaDc> {
    if let Some(reason) = samba::unavailable() {
        assert!(std::env::var_os("CI").is_none(), "CI is set but the Samba AD tests cannot run: {reason}");
        eprintln!("skipped: {reason}");
        return None;
    }
    samba::enter_private_network().expect("cannot enter a private network namespace");
    let began = Instant::now();
    let dc = SambaDc::start();
    eprintln!(
        "samba DC (PID {}) ready in {:?} (start() itself {:?}), RSS {} MiB, in {}; template {}",
        dc.pid(),
        began.elapsed(),
        dc.startup_time(),
        dc.rss_kib() / 1024,
        dc.dir().display(),
        dc.template_dir().display()
    );
    if let Ok(info) = std::fs::read_to_string(dc.template_dir().join("build-info.txt")) {
        eprintln!("template build:\n{info}");
    }
    Some(dc)
}

fn text(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `ldapsearch -x` bound as the service account over `url`, trusting only the DC's CA.
fn service_search(dc: &SambaDc, url: &str, base: &str, filter: &str, attrs: &[&str]) -> Output {
    let mut cmd = Command::new("ldapsearch");
    cmd.env("LDAPTLS_CACERT", dc.ca_file()).env("LDAPTLS_REQCERT", "demand");
    cmd.args(["-LLL", "-o", "ldif-wrap=no", "-x", "-H", url, "-D", dc.service_dn(), "-w", dc.service_password()]);
    cmd.args(["-b", base, filter]).args(attrs);
    cmd.output().expect("cannot run ldapsearch (ldap-utils)")
}

use dirconn_tests::process::is_alive as alive;

#[test]
fn dc_answers_on_every_port_with_the_fixture_states() {
    let Some(mut dc) = start_dc() else { return };
    assert_eq!((dc.realm(), dc.nt_domain(), dc.base_dn()), ("EXAMPLE.TEST", "EXAMPLE", "DC=example,DC=test"));
    assert_eq!(dc.users_dn(), "CN=Users,DC=example,DC=test");
    assert_eq!(std::fs::read_to_string(dc.service_password_file()).expect("password file"), "Passw0rd-svc-dirconn\n");

    // 389, 636 (trusting only the test CA), 3268, 3269.
    let alice = AdUser::ALICE;
    for url in [dc.ldap_url(), dc.ldaps_url(), dc.gc_url(), dc.gcs_url()] {
        let out = service_search(&dc, &url, BASE_DN, "(sAMAccountName=alice)", &["mail"]);
        assert!(out.status.success(), "{url}: {}", text(&out));
        assert!(String::from_utf8_lossy(&out.stdout).contains("mail: alice@example.test"), "{url}: {}", text(&out));
    }
    let mut wrong_ca = Command::new("ldapsearch");
    wrong_ca.env("LDAPTLS_CACERT", dc.wrong_ca_file()).env("LDAPTLS_REQCERT", "demand");
    wrong_ca.args(["-x", "-H", &dc.ldaps_url(), "-b", "", "-s", "base"]);
    let out = wrong_ca.output().expect("ldapsearch");
    assert!(!out.status.success(), "LDAPS with an unrelated CA must fail: {}", text(&out));

    // Every fixture user in its state: right password → success or the state's sub-code; wrong → 52e.
    for u in AD_USERS {
        let answer = dc.simple_bind(&u.dn(), u.password);
        match u.state.bind_sub_code() {
            None => assert_eq!(answer.code, 0, "{}: {answer:?}", u.sam),
            Some(code) => {
                assert_eq!(answer.code, 49, "{}: {answer:?}", u.sam);
                assert_eq!(answer.data_code(), Some(code), "{}: {answer:?}", u.sam);
            }
        }
    }
    assert_eq!(dc.simple_bind(&AdUser::DISABLED.dn(), AdUser::DISABLED.password).data_code(), Some("533"));
    assert_eq!(dc.simple_bind(&AdUser::BOB.dn(), "wrong").data_code(), Some("52e"));
    assert_eq!(dc.simple_bind("alice@example.test", alice.password).code, 0);
    assert_eq!(dc.simple_bind(&alice.nt_name(), alice.password).code, 0);
    assert_eq!(dc.simple_bind(AdUser::UPN_USER.upn, AdUser::UPN_USER.password).code, 0);
    assert_eq!(dc.simple_bind(&generated_dn(100), &generated_password(100)).code, 0);
    assert_eq!(dc.simple_bind(dc.service_dn(), dc.service_password()).code, 0);

    // Groups: nested (chain rule), the big one, the primary one.
    let chain = dc.ldapsearch(&["-b", BASE_DN, &format!("(member:1.2.840.113556.1.4.1941:={})", alice.dn()), "1.1"]);
    for g in [AdGroup::DEVS, AdGroup::STAFF, AdGroup::ALL_STAFF] {
        assert!(chain.contains(&format!("dn: {}", g.dn())), "{chain}");
    }
    let big = dc.ldapsearch(&["-b", &AdGroup::BIG_GROUP.dn(), "-s", "base", "(objectClass=*)", "member"]);
    assert_eq!(big.matches("\nmember: ").count(), samba::BIG_GROUP_MEMBERS, "big-group");
    let primary = dc.ldapsearch(&["-b", &AdUser::PRIMARY_USER.dn(), "-s", "base", "(objectClass=*)", "primaryGroupID"]);
    let token =
        dc.ldapsearch(&["-b", &AdGroup::CUSTOM_PRIMARY.dn(), "-s", "base", "(objectClass=*)", "primaryGroupToken"]);
    let rid = token.lines().find_map(|l| l.strip_prefix("primaryGroupToken: ")).expect("primaryGroupToken");
    assert!(primary.contains(&format!("primaryGroupID: {rid}")), "{primary}\n{token}");

    // samba-tool works on the running DC, and ldapmodify can set unicodePwd.
    let shown = dc.samba_tool(&["user", "show", "alice"]);
    assert!(shown.contains("sAMAccountName: alice"), "{shown}");
    let pw = utf16_quoted_base64("Brand-new-1");
    dc.ldapmodify(&format!("dn: {}\nchangetype: modify\nreplace: unicodePwd\nunicodePwd:: {pw}\n", AdUser::BOB.dn()));
    assert_eq!(dc.simple_bind(&AdUser::BOB.dn(), "Brand-new-1").code, 0);

    // Tombstones: the administrator sees them with the Show Deleted control; the service account, as in AD by
    // default, gets no entries (and no error).
    dc.ldapmodify(&format!("dn: {}\nchangetype: delete\n", generated_dn(GENERATED_USERS)));
    let filter = format!("(sAMAccountName={})", samba::generated_sam(GENERATED_USERS));
    let tombstone = dc.ldapsearch(&["-E", "!1.2.840.113556.1.4.417", "-b", BASE_DN, &filter, "isDeleted"]);
    assert!(tombstone.contains("isDeleted: TRUE"), "{tombstone}");
    let hidden = service_search(&dc, &dc.ldap_url(), BASE_DN, &filter, &["-E", "!1.2.840.113556.1.4.417", "isDeleted"]);
    assert!(hidden.status.success() && !String::from_utf8_lossy(&hidden.stdout).contains("dn:"), "{}", text(&hidden));

    // thumbnailPhoto holds the harness's JPEG.
    let photo = dc.ldapsearch(&["-b", &alice.dn(), "-s", "base", "(objectClass=*)", "thumbnailPhoto"]);
    let b64 = photo.lines().find_map(|l| l.strip_prefix("thumbnailPhoto:: ")).expect("thumbnailPhoto");
    assert_eq!(b64, base64_std(&samba::thumbnail_jpeg()));

    // A second thread of this process may not enter another network.
    let other = std::thread::spawn(samba::enter_private_network).join();
    assert!(other.is_err(), "enter_private_network from a second thread must panic");
    samba::enter_private_network().expect("idempotent on the same thread");

    let pid = dc.pid();
    assert!(alive(pid));
    dc.stop();
    assert!(!alive(pid), "samba (PID {pid}) still runs after stop()");
    let dir = dc.dir().to_path_buf();
    drop(dc);
    assert!(!dir.exists(), "{} not removed", dir.display());
}

#[test]
fn ldap3_over_a_runtime_built_in_the_namespace_sees_every_user() {
    let Some(dc) = start_dc() else { return };
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    rt.block_on(async {
        let (conn, mut ldap) = LdapConnAsync::new(&dc.ldap_url()).await.expect("connect");
        ldap3::drive!(conn);
        ldap.simple_bind(dc.service_dn(), dc.service_password()).await.expect("bind").success().expect("bind ok");
        let adapters: Vec<Box<dyn ldap3::adapters::Adapter<_, _>>> =
            vec![Box::new(EntriesOnly::new()), Box::new(PagedResults::new(1000))];
        let mut stream = ldap
            .streaming_search_with(
                adapters,
                BASE_DN,
                Scope::Subtree,
                "(&(objectCategory=person)(objectClass=user))",
                vec!["sAMAccountName"],
            )
            .await
            .expect("search");
        let mut users = 0;
        while let Some(entry) = stream.next().await.expect("next entry") {
            let entry = SearchEntry::construct(entry);
            assert!(entry.attrs.contains_key("sAMAccountName"), "{entry:?}");
            users += 1;
        }
        stream.finish().await.success().expect("paged search");
        assert!(users > GENERATED_USERS, "{users} users");
        eprintln!("paged search: {users} person users");

        // Bind throughput sanity check: 200 sequential binds as 100 generated users on one connection.
        let began = Instant::now();
        let (conn, mut user_ldap) = LdapConnAsync::new(&dc.ldap_url()).await.expect("connect");
        ldap3::drive!(conn);
        for i in 0..200 {
            let n = i % 100 + 1;
            let res = user_ldap.simple_bind(&generated_dn(n), &generated_password(n)).await.expect("bind");
            assert_eq!(res.rc, 0, "user {n}: {res:?}");
        }
        let took = began.elapsed();
        eprintln!("200 binds in {took:?} ({:.0}/s)", 200.0 / took.as_secs_f64());
        let _ = ldap.unbind().await;
    });
}

/// Locks `lock-me` in this DC: if two DCs shared anything, the other test would find it locked.
fn lock_out_and_check_isolation(dc: &SambaDc) {
    let lock_me = AdUser::LOCK_ME;
    assert_eq!(lock_me.state, AdUserState::Normal);
    let fresh = dc.simple_bind(&lock_me.dn(), lock_me.password);
    assert_eq!(fresh.code, 0, "lock-me must start unlocked in every DC: {fresh:?}");
    for _ in 0..LOCKOUT_THRESHOLD {
        assert_eq!(dc.simple_bind(&lock_me.dn(), "wrong").data_code(), Some("52e"));
    }
    assert_eq!(dc.simple_bind(&lock_me.dn(), lock_me.password).data_code(), Some("775"));
    // Hold the DC a little, so that the parallel tests' DCs overlap.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(dc.simple_bind(&AdUser::ALICE.dn(), AdUser::ALICE.password).code, 0);
}

#[test]
fn parallel_dc_one_locks_its_own_user() {
    let Some(dc) = start_dc() else { return };
    lock_out_and_check_isolation(&dc);
}

#[test]
fn parallel_dc_two_locks_its_own_user() {
    let Some(dc) = start_dc() else { return };
    lock_out_and_check_isolation(&dc);
}

fn utf16_quoted_base64(password: &str) -> String {
    let bytes: Vec<u8> = format!("\"{password}\"").encode_utf16().flat_map(u16::to_le_bytes).collect();
    base64_std(&bytes)
}

fn base64_std(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
