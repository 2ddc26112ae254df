//! A host for integration tests: a temporary drop-in directory holding the chosen staged plugins, a
//! configuration written from [`DomainSpec`]s, and the [`dirconn_host::Host`] built from them.

use std::path::{Path, PathBuf};

use dirconn_host::{Error, Host};
use tempfile::TempDir;

use crate::Slapd;

/// One `[[domain]]` section, key by key (values are TOML literals).
#[derive(Debug, Clone, Default)]
pub struct DomainSpec {
    keys: Vec<(String, String)>,
}

impl DomainSpec {
    /// An empty section.
    pub fn new() -> DomainSpec {
        DomainSpec::default()
    }

    /// The `example.org` domain on a slapd of the harness: its plain URL, the service account with its
    /// password file, and the people OU as the search base.
    pub fn ldap(slapd: &Slapd) -> DomainSpec {
        DomainSpec::new()
            .set("name", "example.org")
            .set("connector", "ldap")
            .set("urls", &format!("[\"{}\"]", slapd.ldap_url()))
            .set("bind_dn", slapd.service_dn())
            .set("bind_password_file", &slapd.service_password_file().display().to_string())
            .set("search_base", &format!("ou=people,{}", slapd.base_dn()))
            .raw("connect_timeout", "\"2s\"")
            .raw("operation_timeout", "\"3s\"")
    }

    /// The `example.com` domain on a Samba AD DC of the harness over LDAPS with the harness's CA: the service
    /// account with its password file, the base DN, the NT domain, 5 s / 10 s timeouts.
    pub fn active_directory(dc: &crate::samba::SambaDc) -> DomainSpec {
        DomainSpec::new()
            .set("name", "example.com")
            .set("connector", "active-directory")
            .set("urls", &format!("[\"{}\"]", dc.ldaps_url()))
            .set("ca_file", &dc.ca_file().display().to_string())
            .set("bind_dn", dc.service_dn())
            .set("bind_password_file", &dc.service_password_file().display().to_string())
            .set("search_base", dc.base_dn())
            .set("nt_domain", dc.nt_domain())
            .raw("connect_timeout", "\"5s\"")
            .raw("operation_timeout", "\"10s\"")
    }

    /// The `example.org` domain on an Open Directory-shaped slapd ([`crate::open_directory`]): the
    /// `open-directory` connector, the service account, `cn=users` as the search base.
    pub fn open_directory(slapd: &Slapd) -> DomainSpec {
        DomainSpec::ldap(slapd).set("connector", "open-directory").set("search_base", crate::open_directory::USERS_DN)
    }

    /// Sets a string key (quoted for TOML).
    pub fn set(self, key: &str, value: &str) -> DomainSpec {
        if value.starts_with('[') {
            return self.raw(key, value);
        }
        let quoted = format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""));
        self.raw(key, &quoted)
    }

    /// Sets a key to a TOML literal as written (`true`, `3`, `["a", "b"]`).
    pub fn raw(mut self, key: &str, literal: &str) -> DomainSpec {
        self.keys.retain(|(k, _)| k != key);
        self.keys.push((key.to_owned(), literal.to_owned()));
        self
    }

    /// Removes a key.
    pub fn remove(mut self, key: &str) -> DomainSpec {
        self.keys.retain(|(k, _)| k != key);
        self
    }

    /// The `[[domain]]` section as TOML text.
    pub fn toml(&self) -> String {
        let mut s = String::from("[[domain]]\n");
        for (k, v) in &self.keys {
            s.push_str(&format!("{k} = {v}\n"));
        }
        s
    }
}

/// A host with its own drop-in directory and configuration file.
#[derive(Debug)]
pub struct TestHost {
    /// The loaded host.
    pub host: Host,
    /// The configuration file.
    pub config: PathBuf,
    dir: TempDir,
}

impl TestHost {
    /// Stages `plugins` (paths of libraries) into a fresh drop-in directory, writes the domains into a
    /// configuration file, and loads the host.
    pub fn start(plugins: &[PathBuf], domains: &[DomainSpec]) -> Result<TestHost, Error> {
        let (dir, config) = Self::prepare(plugins, domains);
        let host = Host::load(&config, None)?;
        Ok(TestHost { host, config, dir })
    }

    /// Like [`TestHost::start`], but returns the folder and config path without loading.
    pub fn prepare(plugins: &[PathBuf], domains: &[DomainSpec]) -> (TempDir, PathBuf) {
        let dir = tempfile::Builder::new().prefix("dirconn-host-").tempdir().expect("temp dir");
        let plugin_dir = dir.path().join("plugins");
        std::fs::create_dir(&plugin_dir).expect("plugin dir");
        for p in plugins {
            let name = p.file_name().expect("a library file");
            let target = p.canonicalize().unwrap_or_else(|e| panic!("plugin {}: {e}", p.display()));
            std::os::unix::fs::symlink(target, plugin_dir.join(name)).expect("symlink a plugin");
        }
        let mut text = format!("plugin_dir = \"{}\"\n\n", plugin_dir.display());
        for d in domains {
            text.push_str(&d.toml());
            text.push('\n');
        }
        let config = dir.path().join("dirconn.toml");
        std::fs::write(&config, text).expect("write config");
        (dir, config)
    }

    /// The drop-in directory.
    pub fn plugin_dir(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    /// The temporary folder.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
