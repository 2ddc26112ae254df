//! Building and staging plugin libraries: the real plugins into `target/<profile>/plugins`, the test
//! fixtures into `target/<profile>/test-plugins` (one folder per profile, so a debug build never replaces
//! the release plugins a benchmark or an install copies). Used by `cargo xtask` and the integration tests.
//!
//! Files are copied under a temporary name and renamed into place, so a process that has a staged
//! library mapped keeps its old inode instead of seeing it rewritten.

use std::{
    io,
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

/// The cdylib plugins staged for production use (crate names).
pub const PLUGINS: [&str; 3] =
    ["dirconn-plugin-ldap", "dirconn-plugin-active-directory", "dirconn-plugin-open-directory"];
/// The fixture plugins staged for tests, built as they are.
pub const FIXTURES: [&str; 2] = ["dirconn-fixture-echo", "dirconn-fixture-stale"];
/// The fixture built against a skewed ABI.
pub const SKEWED: &str = "dirconn-fixture-skewed";

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ lives in the workspace").to_owned()
}

/// The cargo target folder (`CARGO_TARGET_DIR` or `target/`).
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"))
}

/// `libdirconn_plugin_ldap.so` for `dirconn-plugin-ldap`.
pub fn library_file_name(crate_name: &str) -> String {
    format!("{}{}{}", std::env::consts::DLL_PREFIX, crate_name.replace('-', "_"), std::env::consts::DLL_SUFFIX)
}

/// Where the staged libraries are.
#[derive(Debug, Clone)]
pub struct Staged {
    /// The drop-in folder of the real plugins (`target/<profile>/plugins`).
    pub plugin_dir: PathBuf,
    /// The fixtures folder (`target/<profile>/test-plugins`).
    pub fixture_dir: PathBuf,
}

impl Staged {
    /// The folders of a cargo profile (`debug`, `release`).
    pub fn of(profile: &str) -> Staged {
        let out = target_dir().join(profile);
        Staged { plugin_dir: out.join("plugins"), fixture_dir: out.join("test-plugins") }
    }

    /// The staged generic LDAP plugin.
    pub fn ldap(&self) -> PathBuf {
        self.plugin_dir.join(library_file_name("dirconn-plugin-ldap"))
    }
    /// The staged Active Directory plugin.
    pub fn active_directory(&self) -> PathBuf {
        self.plugin_dir.join(library_file_name("dirconn-plugin-active-directory"))
    }
    /// The staged Open Directory plugin.
    pub fn open_directory(&self) -> PathBuf {
        self.plugin_dir.join(library_file_name("dirconn-plugin-open-directory"))
    }
    /// The fixture whose metadata names ABI 3.
    pub fn stale(&self) -> PathBuf {
        self.fixture_dir.join(library_file_name("dirconn-fixture-stale"))
    }
    /// The staged echo fixture.
    pub fn echo(&self) -> PathBuf {
        self.fixture_dir.join(library_file_name("dirconn-fixture-echo"))
    }
    /// The fixture built against a changed ABI type.
    pub fn skewed(&self) -> PathBuf {
        self.fixture_dir.join(library_file_name(SKEWED))
    }
}

/// Runs cargo in the workspace root with a clean cargo environment.
pub fn cargo(args: &[&str]) -> io::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(args).current_dir(workspace_root());
    // A test process carries the variables cargo set for it (CARGO_PKG_*, CARGO_MANIFEST_DIR…); build
    // scripts that watch them would rebuild for nothing, so the nested build gets a clean set.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key.starts_with("CARGO_") && !matches!(key.as_ref(), "CARGO_HOME" | "CARGO_TARGET_DIR") {
            cmd.env_remove(key.as_ref());
        }
    }
    let status = cmd.status()?;
    if status.success() { Ok(()) } else { Err(io::Error::other(format!("cargo {} failed: {status}", args.join(" ")))) }
}

fn install(from: &Path, dir: &Path, name: &str) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let to = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    std::fs::copy(from, &tmp).map_err(|e| io::Error::other(format!("copying {}: {e}", from.display())))?;
    std::fs::rename(&tmp, &to)?;
    Ok(to)
}

/// Builds the plugins (and with `fixtures`, the test fixtures) and stages them.
pub fn build(release: bool, fixtures: bool) -> io::Result<Staged> {
    let profile = if release { "release" } else { "debug" };
    let out = target_dir().join(profile);
    let staged = Staged::of(profile);
    let mut args = vec!["build", "--quiet"];
    if release {
        args.push("--release");
    }
    let mut crates: Vec<&str> = PLUGINS.to_vec();
    if fixtures {
        crates.extend(FIXTURES);
    }
    for c in &crates {
        args.extend(["-p", c]);
    }
    cargo(&args)?;
    for c in PLUGINS {
        install(&out.join(library_file_name(c)), &staged.plugin_dir, &library_file_name(c))?;
    }
    if fixtures {
        for c in FIXTURES {
            install(&out.join(library_file_name(c)), &staged.fixture_dir, &library_file_name(c))?;
        }
        let mut args = vec!["build", "--quiet", "-p", SKEWED, "--features", "dirconn-abi/skew-for-tests"];
        if release {
            args.push("--release");
        }
        cargo(&args)?;
        install(&out.join(library_file_name(SKEWED)), &staged.fixture_dir, &library_file_name(SKEWED))?;
    }
    Ok(staged)
}

/// The staged plugins and fixtures for tests: built once per process, under a file lock so parallel
/// test processes do not race. `DIRCONN_TEST_PLUGINS_STAGED=1` (set by `cargo xtask test`) skips the build.
pub fn for_tests() -> &'static Staged {
    static STAGED: OnceLock<Staged> = OnceLock::new();
    STAGED.get_or_init(|| {
        if std::env::var_os("DIRCONN_TEST_PLUGINS_STAGED").is_some() {
            return Staged::of("debug");
        }
        std::fs::create_dir_all(target_dir()).expect("target dir");
        let lock = std::fs::File::create(target_dir().join(".dirconn-stage.lock")).expect("lock file");
        // SAFETY: flock on a file descriptor we own; released when `lock` is dropped.
        let rc = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
        assert_eq!(rc, 0, "flock failed");
        let staged = build(false, true).expect("building the plugins for the tests");
        drop(lock);
        staged
    })
}

/// The `dirconn` binary of the debug profile, built once per process (under the staging lock) so that tests
/// never run a stale one. `DIRCONN_TEST_PLUGINS_STAGED=1` skips the build when the binary exists.
pub fn dirconn_binary() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let bin = target_dir().join("debug").join(format!("dirconn{}", std::env::consts::EXE_SUFFIX));
        if std::env::var_os("DIRCONN_TEST_PLUGINS_STAGED").is_some() && bin.is_file() {
            return bin;
        }
        std::fs::create_dir_all(target_dir()).expect("target dir");
        let lock = std::fs::File::create(target_dir().join(".dirconn-stage.lock")).expect("lock file");
        // SAFETY: flock on a file descriptor we own; released when `lock` is dropped.
        let rc = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
        assert_eq!(rc, 0, "flock failed");
        cargo(&["build", "--quiet", "-p", "dirconn"]).expect("building dirconn for the tests");
        drop(lock);
        bin
    })
}
