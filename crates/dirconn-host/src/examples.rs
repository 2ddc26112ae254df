//! One example of every failure of the host, for the generated troubleshooting page: configuration
//! failures provoked by loading real configuration texts, the others built with their fields named in
//! braces (`{domain}`).

use std::path::{Path, PathBuf};

use dirconn_abi::{ConnectorError, ErrorKind};

use crate::{Error, HostConfig};

fn field(name: &str) -> String {
    format!("{{{name}}}")
}

/// Configuration texts with one thing wrong each, loaded as `/etc/dirconn/dirconn.toml`.
const PROVOKED: &[&str] = &[
    "plugin_dir = \"plugins\"\n[[domain]\nname = \"example.org\"\n",
    "plugn_dir = \"plugins\"\n",
    "default_domain = \"example.com\"\n[[domain]]\nname = \"example.org\"\nconnector = \"ldap\"\n",
    "[[domain]]\nconnector = \"ldap\"\nsearch_base = \"ou=people,o=corp\"\n",
    "[[domain]]\nname = \"alice@example.org\"\nconnector = \"ldap\"\n",
    "[[domain]]\nname = \"example.org\"\n",
    "[[domain]]\nname = \"example.org\"\nconnector = \"ldap\"\nenabled = \"yes\"\n",
    "[[domain]]\nname = \"example.org\"\nconnector = \"ldap\"\ndisplay_name = 1\n",
    "[[domain]]\nname = \"example.org\"\nconnector = \"ldap\"\nlogin_suffixes = \"corp.example.org\"\n",
    "[[domain]]\nname = \"example.org\"\nconnector = \"ldap\"\nbind_ip = [\"mail.example.org\"]\n",
    "[[domain]]\nname = \"example.org\"\nconnector = \"ldap\"\n[domain.accounts]\nlogin_policy = \"sometimes\"\n",
    "[[domain]]\nname = \"example.org\"\nconnector = \"ldap\"\n[domain.userdb]\nhome = [1]\n",
    "[[domain]]\nname = \"example.org\"\nconnector = \"ldap\"\n[[domain]]\nname = \"EXAMPLE.org\"\nconnector = \"ldap\"\n",
    "[[domain]]\nname = \"example.org\"\nconnector = \"ldap\"\nlogin_suffixes = [\"corp.example.org\"]\n\
     [[domain]]\nname = \"corp.example.org\"\nconnector = \"ldap\"\n",
    "[[domain]]\nname = \"example.org\"\nconnector = \"ldap\"\nbind_ip = [\"192.0.2.10\"]\n\
     [[domain]]\nname = \"example.com\"\nconnector = \"ldap\"\nbind_ip = [\"192.0.2.10\"]\n",
];

/// The path the provoked configurations are read from.
pub const EXAMPLE_CONFIG: &str = "/etc/dirconn/dirconn.toml";

/// Every failure of the host itself (connector and store failures have their own examples), each way a
/// configuration can be wrong once.
pub fn examples() -> Vec<Error> {
    let path = Path::new(EXAMPLE_CONFIG);
    let mut out: Vec<Error> = PROVOKED
        .iter()
        .map(|text| match HostConfig::parse(path, text) {
            Err(err) => err,
            Ok(_) => panic!("the example configuration loads, but should fail: {text}"),
        })
        .collect();
    let io = || std::io::Error::from_raw_os_error(2);
    let cause = || Box::new(ConnectorError::new(ErrorKind::Unreachable, "DC-302", field("message"), field("fix")));
    let (domain, login) = (field("domain"), field("login"));
    out.extend([
        Error::ConfigRead { path: path.to_owned(), source: io() },
        Error::PluginDir { path: PathBuf::from("/usr/lib/dirconn/plugins"), source: io() },
        Error::DuplicateKind { kind: "ldap".into(), first: "{first}".into(), second: "{second}".into() },
        Error::UnknownConnector {
            path: path.to_owned(),
            domain: domain.clone(),
            kind: field("kind"),
            available: field("kinds"),
        },
        Error::UnknownDomain { domain: domain.clone(), known: field("domains") },
        Error::NoDomain { login: login.clone() },
        Error::DomainDisabled { domain: domain.clone() },
        Error::Input { message: field("message"), fix: field("fix") },
        Error::NoAccount { domain: domain.clone(), login: login.clone() },
        Error::AccountInactive { domain: domain.clone(), login: login.clone() },
        Error::DirectoryUnavailable { domain: domain.clone(), login: login.clone(), cause: cause() },
        Error::LocalPassword { domain: domain.clone(), login: login.clone() },
        Error::Guard { domain: domain.clone(), would: 120, active: 400, allowed: 40 },
        Error::SyncFailed { domain: domain.clone(), seen: 1500, cause: cause() },
        Error::Account { message: field("message"), fix: field("fix") },
        Error::NotInMappedGroups { domain, login },
    ]);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_provoked_configuration_fails() {
        let all = super::examples();
        assert!(all.iter().take(super::PROVOKED.len()).all(|e| e.code().starts_with("DC-00")));
    }
}
