//! The PAM check through libpam with real modules, service files in a temp folder (nothing written to
//! /etc): `pam_debug.so` returns each code the mapping knows, from the auth and the account stacks;
//! `pam_exec.so expose_authtok` receives the password through the conversation; a missing service or
//! module, and a pool whose slots stay busy, each get their own code.

use std::{path::Path, time::Duration};

use dirconn_pam::{Pam, PamSettings};

const MODULES: &str = "/usr/lib/x86_64-linux-gnu/security";

fn available() -> bool {
    Path::new(MODULES).join("pam_debug.so").is_file() && Path::new(MODULES).join("pam_exec.so").is_file()
}

fn pam(dir: &Path, service: &str, file: &str) -> Pam {
    std::fs::write(dir.join(service), file).unwrap();
    Pam::new(PamSettings {
        service: service.into(),
        confdir: Some(dir.to_owned()),
        max_concurrent: 4,
        timeout: Duration::from_secs(10),
    })
}

fn block<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
}

#[test]
fn every_pam_code_the_mapping_knows() {
    if !available() {
        panic!("pam_debug.so and pam_exec.so are needed (libpam-modules)");
    }
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("auth_err", "DC-951"),
        ("cred_insufficient", "DC-951"),
        ("user_unknown", "DC-952"),
        ("maxtries", "DC-953"),
        ("acct_expired", "DC-954"),
        ("new_authtok_reqd", "DC-955"),
        ("perm_denied", "DC-956"),
        ("authinfo_unavail", "DC-957"),
        ("cred_unavail", "DC-957"),
        ("system_err", "DC-960"),
        ("abort", "DC-960"),
        ("service_err", "DC-962"),
    ];
    block(async {
        for (state, want) in cases {
            for stack in ["auth", "account"] {
                let file = match stack {
                    "auth" => format!("auth required pam_debug.so auth={state}\naccount required pam_permit.so\n"),
                    _ => format!("auth required pam_permit.so\naccount required pam_debug.so acct={state}\n"),
                };
                let service = format!("debug-{state}-{stack}");
                let got = pam(dir.path(), &service, &file).check("alice", "pw", None).await;
                let err = got.expect_err(state);
                assert_eq!(err.code(), want, "{state} in {stack}: {err} ({:?})", err.diagnostic());
            }
        }
        let ok = pam(
            dir.path(),
            "debug-success",
            "auth required pam_debug.so auth=success\naccount required pam_debug.so acct=success\n",
        );
        ok.check("alice", "pw", None).await.expect("success");
    });
}

#[test]
fn the_password_reaches_the_module_once_and_verbatim() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("check.sh");
    // pam_exec writes the password on standard input.
    std::fs::write(
        &script,
        "#!/bin/sh\npw=$(cat | tr -d '\\000')\n[ \"$pw\" = 'sé cret \\ \"x' ] && [ \"$PAM_USER\" = alice ]\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let file = format!(
        "auth [success=1 default=ignore] pam_exec.so expose_authtok quiet {s}\nauth requisite pam_deny.so\n\
         auth required pam_exec.so expose_authtok quiet {s}\naccount required pam_permit.so\n",
        s = script.display()
    );
    let service = pam(dir.path(), "exec", &file);
    block(async {
        service.check("alice", "sé cret \\ \"x", None).await.expect("the right password");
        let wrong = service.check("alice", "sé cret", None).await.unwrap_err();
        assert_eq!(wrong.code(), "DC-951", "{wrong}");
        let other = service.check("bob", "sé cret \\ \"x", None).await.unwrap_err();
        assert_eq!(other.code(), "DC-951");
        assert_eq!(service.check("alice", "", None).await.unwrap_err().code(), "DC-201");
        assert_eq!(service.check("alice", "a\0b", None).await.unwrap_err().code(), "DC-963");
        assert_eq!(service.check("al\0ice", "x", None).await.unwrap_err().code(), "DC-963");
    });
}

#[test]
fn a_missing_service_or_module_and_a_busy_pool() {
    let dir = tempfile::tempdir().unwrap();
    let missing = Pam::new(PamSettings {
        service: "absent".into(),
        confdir: Some(dir.path().to_owned()),
        max_concurrent: 1,
        timeout: Duration::from_secs(5),
    });
    let slow_script = dir.path().join("slow.sh");
    std::fs::write(&slow_script, "#!/bin/sh\nsleep 2\n").unwrap();
    std::fs::set_permissions(&slow_script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    block(async {
        assert_eq!(missing.check("alice", "x", None).await.unwrap_err().code(), "DC-958");
        let broken = pam(dir.path(), "broken", "auth required pam_no_such_module.so\naccount required pam_permit.so\n");
        let err = broken.check("alice", "x", None).await.unwrap_err();
        eprintln!("missing module: {err} / {:?}", err.diagnostic());
        assert!(["DC-962", "DC-960"].contains(&err.code()), "{err}");
    });
    std::fs::write(
        dir.path().join("slow"),
        format!("auth required pam_exec.so quiet {}\naccount required pam_permit.so\n", slow_script.display()),
    )
    .unwrap();
    let slow = Pam::new(PamSettings {
        service: "slow".into(),
        confdir: Some(dir.path().to_owned()),
        max_concurrent: 1,
        timeout: Duration::from_millis(500),
    });
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let (a, b) = tokio::join!(slow.check("alice", "x", None), slow.check("bob", "y", None));
        for r in [a, b] {
            assert_eq!(r.unwrap_err().code(), "DC-959");
        }
    });
}
