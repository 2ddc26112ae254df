//! The configuration file: the host's parser, the `[service]` table and each domain's connector settings
//! as the plugin of its kind validates them.

use std::path::Path;

use dirconn_host::HostConfig;
use dirconn_ldap::{LdapDefaults, LdapSettings};
use dirconn_service::ServiceConfig;

/// Where the fuzzed file claims to live: a folder that does not exist, so that the files it names (token
/// files, password files, CA bundles) are not found rather than read.
const PATH: &str = "/nonexistent/dirconn-fuzz/dirconn.toml";

/// A failure as the CLI would show it: a code `DC-nnn` and a text.
fn check_error(code: &str, text: &str, secrets: &[String], input: &str) {
    let well_formed = code.len() == 6 && code.starts_with("DC-") && code[3..].bytes().all(|b| b.is_ascii_digit());
    assert!(well_formed, "the code {code:?} of {text:?}");
    assert!(!text.trim().is_empty(), "{code} without a text");
    for secret in secrets {
        assert!(!text.contains(secret.as_str()), "{code} quotes the secret {secret:?}: {text}\n(input {input:?})");
    }
}

/// The string values of keys naming a secret (`bind_password`…), long enough to be told apart
/// from the error's own words and written once in the file.
fn secrets(value: &toml::Value, key: &str, text: &str, out: &mut Vec<String>) {
    match value {
        toml::Value::String(s) => {
            let key = key.to_ascii_lowercase();
            // `bind_password_file`, `token_file`, `bind_password_env` name where a secret is, not the secret.
            let secret_key = ["password", "secret", "token"].iter().any(|w| key.contains(w))
                && !key.ends_with("_file")
                && !key.ends_with("_env");
            if secret_key && s.chars().count() >= 12 && text.matches(s.as_str()).count() == 1 {
                out.push(s.clone());
            }
        }
        toml::Value::Array(items) => items.iter().for_each(|v| secrets(v, key, text, out)),
        toml::Value::Table(t) => t.iter().for_each(|(k, v)| secrets(v, k, text, out)),
        _ => {}
    }
}

fn defaults(kind: &str) -> Option<LdapDefaults> {
    match kind {
        "ldap" => Some(dirconn_plugin_ldap::DEFAULTS),
        "active-directory" => Some(dirconn_plugin_active_directory::DEFAULTS),
        "open-directory" => Some(dirconn_plugin_open_directory::DEFAULTS),
        _ => None,
    }
}

/// Any text as `dirconn.toml`: it loads, or fails with a code and a text that quotes no secret; what loads
/// has lowercase domain names, each once, and a `[service]` table and connector settings that load or
/// fail the same way.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut hidden = Vec::new();
    if let Ok(table) = toml::from_str::<toml::Table>(text) {
        secrets(&toml::Value::Table(table), "", text, &mut hidden);
    }
    let path = Path::new(PATH);
    let config = match HostConfig::parse(path, text) {
        Ok(config) => config,
        Err(err) => {
            let shown = format!("{err}\n{}\n{}", err.fix(), err.diagnostic().unwrap_or_default());
            check_error(err.code(), &shown, &hidden, text);
            return;
        }
    };
    for (i, d) in config.domains.iter().enumerate() {
        assert_eq!(d.name, d.name.to_ascii_lowercase(), "domain names are lowercase");
        assert!(!d.name.is_empty() && !d.name.contains('@'), "{:?}", d.name);
        assert!(config.domains[..i].iter().all(|o| o.name != d.name), "{} twice", d.name);
        assert!(d.settings.is_object(), "the settings of {} are a JSON object", d.name);
        if let Some(defaults) = defaults(&d.connector) {
            match LdapSettings::from_json(&d.name, &d.settings.to_string(), &config.dir, defaults) {
                Ok(_) => {}
                Err(err) => {
                    let shown = format!("{err}\n{}\n{}", err.fix(), err.diagnostic().unwrap_or_default());
                    check_error(err.code(), &shown, &hidden, text);
                }
            }
        }
    }
    if let Some(default) = &config.default_domain {
        assert!(config.domains.iter().any(|d| &d.name == default), "default_domain {default} names a domain");
    }
    if let Err(err) = ServiceConfig::from_table(&config.service, &config.dir) {
        check_error(err.code(), &format!("{err}\n{}", err.fix()), &hidden, text);
    }
}
