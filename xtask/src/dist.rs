//! `cargo xtask dist`: a release tarball and a `.deb` of dirconn: the binary, the plugins in
//! `/usr/lib/dirconn/plugins`, the hardened systemd unit, the example configuration, the mail-server
//! snippets, the man page and shell completions generated from the command line (`packaging/`).

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use dirconn_tests::stage;

use crate::{Error, build_plugins, cargo_bin, run};

/// What to build.
#[derive(Debug, Clone)]
pub struct Dist {
    /// The debug profile (quick, for the package's test) instead of release.
    pub debug: bool,
    /// The package's version (default: the workspace's).
    pub version: Option<String>,
    /// Where the packages go (default: `target/dist`).
    pub out: Option<PathBuf>,
}

/// The packages built.
#[derive(Debug, Clone)]
#[allow(dead_code)] // For callers other than `cargo xtask dist`, which prints them.
pub struct Built {
    /// `dirconn_<version>_<arch>.deb`.
    pub deb: PathBuf,
    /// `dirconn-<version>-<arch>-linux.tar.gz`.
    pub tarball: PathBuf,
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { what: what.to_owned(), source }
}

fn copy(from: &Path, to: &Path, mode: u32) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt as _;
    if let Some(dir) = to.parent() {
        fs::create_dir_all(dir).map_err(io("creating a package folder"))?;
    }
    fs::copy(from, to).map_err(io("copying into the package"))?;
    fs::set_permissions(to, fs::Permissions::from_mode(mode)).map_err(io("setting a packaged file's mode"))
}

/// Builds the packages.
pub fn dist(opts: &Dist) -> Result<Built, Error> {
    let root = stage::workspace_root();
    let cargo = cargo_bin();
    let profile = if opts.debug { "debug" } else { "release" };
    let mut args = vec!["build", "--quiet", "-p", "dirconn"];
    if !opts.debug {
        args.push("--release");
    }
    run(&cargo, &args)?;
    let staged = build_plugins(!opts.debug, false)?;
    let version = opts.version.clone().unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_owned());
    let arch = deb_arch()?;
    let out = opts.out.clone().unwrap_or_else(|| stage::target_dir().join("dist"));
    let tree = out.join(format!("dirconn_{version}_{arch}"));
    if tree.exists() {
        fs::remove_dir_all(&tree).map_err(io("clearing the package tree"))?;
    }
    let binary = stage::target_dir().join(profile).join("dirconn");
    copy(&binary, &tree.join("usr/bin/dirconn"), 0o755)?;
    let mut plugins: Vec<PathBuf> = fs::read_dir(&staged.plugin_dir)
        .map_err(io("listing the staged plugins"))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "so"))
        .collect();
    plugins.sort();
    for plugin in &plugins {
        let name = plugin.file_name().expect("a file");
        copy(plugin, &tree.join("usr/lib/dirconn/plugins").join(name), 0o644)?;
    }
    let packaging = root.join("packaging");
    copy(&packaging.join("dirconn.service"), &tree.join("lib/systemd/system/dirconn.service"), 0o644)?;
    copy(&packaging.join("dirconn.toml"), &tree.join("etc/dirconn/dirconn.toml"), 0o640)?;
    let doc = tree.join("usr/share/doc/dirconn");
    copy(&root.join("README.md"), &doc.join("README.md"), 0o644)?;
    for (from, to) in [
        ("integrations/dovecot/dirconn.lua", "examples/dovecot/dirconn.lua"),
        ("integrations/dovecot/dovecot-dirconn.conf", "examples/dovecot/dovecot-dirconn.conf"),
        ("integrations/postfix/main.cf", "examples/postfix/main.cf"),
    ] {
        copy(&root.join(from), &doc.join(to), 0o644)?;
    }
    // The man page and completions, from the binary's own command line.
    let generated = out.join("generated");
    let status =
        Command::new(&binary).arg("generate-docs").arg(&generated).status().map_err(io("dirconn generate-docs"))?;
    if !status.success() {
        return Err(Error::Check(format!("dirconn generate-docs failed: {status}")));
    }
    gzip(&generated.join("dirconn.1"), &tree.join("usr/share/man/man1/dirconn.1.gz"))?;
    copy(&generated.join("dirconn.bash"), &tree.join("usr/share/bash-completion/completions/dirconn"), 0o644)?;
    copy(&generated.join("_dirconn"), &tree.join("usr/share/zsh/vendor-completions/_dirconn"), 0o644)?;
    copy(&generated.join("dirconn.fish"), &tree.join("usr/share/fish/vendor_completions.d/dirconn.fish"), 0o644)?;

    // The tarball: the tree as it installs, without the Debian control files.
    let tarball = out.join(format!("dirconn-{version}-{arch}-linux.tar.gz"));
    // Debug packages (the test's) are compressed lightly: they are large and built to be installed at once.
    let gzip_program = if opts.debug { "gzip -1" } else { "gzip -9 -n" };
    let tar_args = ["--use-compress-program", gzip_program, "-cf", &tarball.display().to_string(), "-C"];
    run("tar", &[&tar_args[..], &[tree.display().to_string().as_str(), "."]].concat())?;

    let control = tree.join("DEBIAN");
    fs::create_dir_all(&control).map_err(io("creating DEBIAN"))?;
    for script in ["postinst", "prerm", "postrm"] {
        copy(&packaging.join("debian").join(script), &control.join(script), 0o755)?;
    }
    fs::write(control.join("conffiles"), "/etc/dirconn/dirconn.toml\n").map_err(io("writing conffiles"))?;
    let size_kb = du_kb(&tree)?;
    fs::write(
        control.join("control"),
        format!(
            "Package: dirconn\nVersion: {version}\nArchitecture: {arch}\nMaintainer: dirconn developers \
             <dirconn@example.invalid>\nInstalled-Size: {size_kb}\nDepends: libc6, libpam0g, passwd, util-linux\n\
             Section: mail\nPriority: optional\nHomepage: https://example.invalid/dirconn\nDescription: connect mail \
             servers to Active Directory, Open Directory and LDAP\n dirconn logs mail users in against the directories \
             their organisations run, keeps\n an account store of them, and serves Dovecot, Postfix and nginx.\n"
        ),
    )
    .map_err(io("writing control"))?;
    let deb = out.join(format!("dirconn_{version}_{arch}.deb"));
    let level = if opts.debug { ["-Zgzip", "-z1"] } else { ["-Zxz", "-z6"] };
    let (tree_text, deb_text) = (tree.display().to_string(), deb.display().to_string());
    run("dpkg-deb", &[level[0], level[1], "--root-owner-group", "--build", &tree_text, &deb_text])?;
    println!("dist: {} and {}", deb.display(), tarball.display());
    Ok(Built { deb, tarball })
}

/// Debian's name of this machine's architecture.
fn deb_arch() -> Result<String, Error> {
    let out = Command::new("dpkg").arg("--print-architecture").output().map_err(io("dpkg --print-architecture"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn gzip(from: &Path, to: &Path) -> Result<(), Error> {
    if let Some(dir) = to.parent() {
        fs::create_dir_all(dir).map_err(io("creating the man folder"))?;
    }
    let page = fs::File::create(to).map_err(io("creating the man page"))?;
    let status = Command::new("gzip").args(["-9", "-n", "-c"]).arg(from).stdout(page).status().map_err(io("gzip"))?;
    if status.success() { Ok(()) } else { Err(Error::Check(format!("gzip failed: {status}"))) }
}

fn du_kb(tree: &Path) -> Result<u64, Error> {
    let out = Command::new("du").args(["-sk"]).arg(tree).output().map_err(io("du"))?;
    Ok(String::from_utf8_lossy(&out.stdout).split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(0))
}
