//! The drop-in directory and the ABI boundary: real cdylibs loaded by the host.

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use dirconn_abi::{ClientContext, ErrorKind};
use dirconn_host::{Error, PluginRegistry, log_sink};
use dirconn_tests::{DomainSpec, Fixture, Slapd, TestHost, stage};

fn drop_in(files: &[(&str, &Path)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, from) in files {
        std::fs::copy(from, dir.path().join(name)).unwrap();
    }
    dir
}

/// A real shared library that is not a dirconn plugin, compiled with the system's C compiler.
fn foreign_library(dir: &Path) -> PathBuf {
    let src = dir.join("foreign.c");
    std::fs::write(&src, "int foreign_answer(void) { return 42; }\n").unwrap();
    let out = dir.join("libforeign.so");
    let status = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&out)
        .arg(&src)
        .status()
        .expect("a C compiler (cc) is needed to build the foreign library");
    assert!(status.success());
    out
}

fn echo_domain(name: &str) -> DomainSpec {
    DomainSpec::new().set("name", name).set("connector", "fixture-echo")
}

#[test]
fn files_that_are_not_plugins_are_reported_and_skipped() {
    let work = tempfile::tempdir().unwrap();
    let foreign = foreign_library(work.path());
    let text = work.path().join("README.txt");
    std::fs::write(&text, "not a library\n").unwrap();
    let staged = stage::for_tests();
    let dir = drop_in(&[
        ("libdirconn_plugin_ldap.so", &staged.ldap()),
        ("libforeign.so", &foreign),
        ("README.txt", &text),
        ("libskewed.so", &staged.skewed()),
        ("libstale.so", &staged.stale()),
    ]);
    let registry = PluginRegistry::load_dir(dir.path(), log_sink()).expect("the directory loads");
    assert_eq!(registry.loaded.len(), 1, "{registry:?}");
    assert_eq!(registry.loaded[0].metadata.kinds[0].as_str(), "ldap");
    let reason = |name: &str| {
        registry
            .refused
            .iter()
            .find(|r| r.path.file_name().unwrap() == name)
            .unwrap_or_else(|| panic!("{name} should be refused: {registry:?}"))
            .reason
            .clone()
    };
    assert!(reason("libforeign.so").contains("not a dirconn connector plugin"), "{}", reason("libforeign.so"));
    assert!(reason("README.txt").contains("not a loadable shared library"), "{}", reason("README.txt"));
    // Built for ABI 3 (its layout passes abi_stable's check: ABI 4 appended a root-module field).
    assert!(
        reason("libstale.so").contains("built for ABI 3") && reason("libstale.so").contains("offers ABI 5"),
        "{}",
        reason("libstale.so")
    );
    assert!(
        reason("libskewed.so").contains("incompatible version of the dirconn connector ABI"),
        "{}",
        reason("libskewed.so")
    );
}

#[test]
fn two_plugins_claiming_one_kind_is_an_error() {
    let echo = stage::for_tests().echo();
    let dir = drop_in(&[("liba.so", &echo), ("libb.so", &echo)]);
    let err = PluginRegistry::load_dir(dir.path(), log_sink()).unwrap_err();
    assert_eq!(err.code(), "DC-006");
    assert!(err.to_string().contains("fixture-echo") && err.to_string().contains("liba.so"), "{err}");
}

#[tokio::test]
async fn two_plugins_side_by_side_stay_distinct() {
    let slapd = Slapd::start();
    let staged = stage::for_tests();
    let h = TestHost::start(&[staged.ldap(), staged.echo()], &[DomainSpec::ldap(&slapd), echo_domain("fixture.test")])
        .expect("both load");
    let names: Vec<String> = h.host.registry().loaded.iter().map(|p| p.metadata.name.to_string()).collect();
    assert!(names.contains(&"dirconn-plugin-ldap".to_owned()) && names.contains(&"dirconn-fixture-echo".to_owned()));
    let (domain, ldap_user) =
        h.host.login("alice@example.org", Fixture::ALICE.password, ClientContext::default()).await.unwrap();
    assert_eq!((domain.kind.as_str(), ldap_user.dn.as_str()), ("ldap", Fixture::ALICE.dn().as_str()));
    let (domain, echo_user) = h.host.login("alice@fixture.test", "secret", ClientContext::default()).await.unwrap();
    assert_eq!((domain.kind.as_str(), echo_user.dn.as_str()), ("fixture-echo", "uid=alice,ou=fixture"));
    let filters = h.host.domain("fixture.test").unwrap().filter().unwrap();
    assert_eq!(filters.items[0].value.as_str(), "fixture.test");
}

#[tokio::test]
async fn a_panicking_connector_returns_an_error_and_the_host_keeps_serving() {
    let h = TestHost::start(&[stage::for_tests().echo()], &[echo_domain("fixture.test")]).unwrap();
    for _ in 0..3 {
        let err = h.host.login("panic@fixture.test", "secret", ClientContext::default()).await.unwrap_err();
        assert_eq!((err.kind(), err.code()), (ErrorKind::Internal, "DC-500"), "{err}");
        let diag = err.connector_error().unwrap().diagnostic.as_ref().map(|d| d.to_string()).into_option();
        assert_eq!(diag.as_deref(), Some("the fixture was asked to panic"));
        h.host.login("bob@fixture.test", "secret", ClientContext::default()).await.expect("still serving");
    }
}

#[test]
fn a_constructor_panic_is_a_setup_error_not_a_crash() {
    let spec = echo_domain("fixture.test").raw("panic_on_new", "true");
    let err = TestHost::start(&[stage::for_tests().echo()], &[spec]).unwrap_err();
    assert!(matches!(err, Error::DomainSetup { .. }), "{err}");
    assert_eq!(err.code(), "DC-500");
}

#[test]
fn configuration_errors_name_the_file_the_domain_and_the_key() {
    let slapd = Slapd::start();
    let spec = DomainSpec::ldap(&slapd).set("serach_base", "dc=example,dc=org");
    let err = TestHost::start(&[stage::for_tests().ldap()], &[spec]).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("dirconn.toml") && text.contains("example.org") && text.contains("serach_base"), "{text}");
    assert_eq!(err.code(), "DC-101");
    let spec = DomainSpec::ldap(&slapd).set("connector", "no-such-kind");
    let err = TestHost::start(&[stage::for_tests().ldap()], &[spec]).unwrap_err();
    assert_eq!(err.code(), "DC-007");
    assert!(err.to_string().contains("loaded kinds: ldap"), "{err}");
    let spec = DomainSpec::ldap(&slapd).remove("bind_dn");
    assert_eq!(TestHost::start(&[stage::for_tests().ldap()], &[spec]).unwrap_err().code(), "DC-105");
}

/// Collects what the host's subscriber receives.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn plugin_log_events_reach_the_host_tagged_with_the_domain() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let h = TestHost::start(&[stage::for_tests().echo()], &[echo_domain("fixture.test")]).unwrap();
    h.host.login("carol@fixture.test", "secret", ClientContext::default()).await.unwrap();
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let line =
        text.lines().find(|l| l.contains("fixture authenticating")).unwrap_or_else(|| panic!("not forwarded:\n{text}"));
    assert!(line.contains("domain=\"fixture.test\"") || line.contains("domain=fixture.test"), "{line}");
    assert!(line.contains("carol"), "{line}");
}

/// A connector whose sync panics midway fails that sync with the panic's code (DC-500 under DC-706), and
/// the store keeps nothing of it.
#[tokio::test]
async fn a_panic_inside_a_sync_fails_the_sync_and_writes_nothing() {
    let h = TestHost::start(&[stage::for_tests().echo()], &[echo_domain("fixture.test")]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = dirconn_store::Store::open(&dir.path().join("accounts.db").display().to_string()).await.unwrap();
    let domain = h.host.domain("fixture.test").unwrap();
    let err =
        dirconn_host::sync_domain(domain, &store, dirconn_host::SyncOptions::default(), |_| {}).await.unwrap_err();
    assert_eq!(err.code(), "DC-706", "{err}");
    let cause = err.to_string();
    assert!(cause.contains("DC-500") && cause.contains("asked to panic"), "{cause}");
    assert!(store.accounts(None).await.unwrap().is_empty(), "the user sent before the panic was rolled back");
    assert!(h.host.domain("fixture.test").unwrap().lookup("still-serving").await.is_ok(), "the host keeps serving");
}
