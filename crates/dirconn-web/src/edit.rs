//! Editing the configuration file in place: a domain's keys are set or removed in the TOML document with
//! its comments, order and formatting kept (`toml_edit`; a changed value keeps its trailing comment); the
//! result is loaded as the host would load it before anything is written; the file is replaced atomically,
//! its previous text kept beside it as `<file>.previous`.

use std::{
    io::Write as _,
    path::{Path, PathBuf},
};

use dirconn_host::{Error as HostError, Host, HostConfig, PluginRegistry};
use toml_edit::{DocumentMut, Item, Table, TableLike, Value};

use crate::{
    Error,
    fields::{self, Field, Input},
};

/// The configuration file's text, parsed for editing.
pub struct Document {
    /// The file.
    pub path: PathBuf,
    doc: DocumentMut,
}

/// A short fingerprint of a text: the form carries the file's, so that a save over a file changed since is
/// refused.
pub fn revision(text: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(text.as_bytes());
    digest[..12].iter().map(|b| format!("{b:02x}")).collect()
}

impl Document {
    /// Reads the file.
    pub fn read(path: &Path) -> Result<(Document, String), Error> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::ReadOnly { path: path.display().to_string(), problem: e.to_string() })?;
        let doc = Document::parse(path, &text)?;
        Ok((doc, text))
    }

    /// Parses a text.
    pub fn parse(path: &Path, text: &str) -> Result<Document, Error> {
        let doc = text.parse::<DocumentMut>().map_err(|e| Error::Invalid {
            key: None,
            problem: e.message().to_owned(),
            fix: "Correct the file by hand; it is not TOML.".into(),
        })?;
        Ok(Document { path: path.to_owned(), doc })
    }

    /// The text, as it would be written.
    pub fn text(&self) -> String {
        self.doc.to_string()
    }

    /// The `index`th `[[domain]]` table (the host's domains are in file order).
    pub fn domain(&self, index: usize) -> Option<&Table> {
        self.doc.get("domain")?.as_array_of_tables()?.get(index)
    }

    fn domain_mut(&mut self, index: usize) -> Option<&mut Table> {
        self.doc.get_mut("domain")?.as_array_of_tables_mut()?.get_mut(index)
    }

    /// Sets (or, with `None`, removes) a dotted key of a domain; a changed value keeps the old one's
    /// comment. Returns whether anything changed.
    pub fn set(&mut self, index: usize, key: &str, value: Option<Value>) -> bool {
        let Some(domain) = self.domain_mut(index) else { return false };
        let (table, leaf): (&mut dyn TableLike, &str) = match key.split_once('.') {
            Some((outer, inner)) => {
                if value.is_none() && !domain.contains_key(outer) {
                    return false;
                }
                let entry = domain.entry(outer).or_insert_with(|| Item::Table(Table::new()));
                match entry.as_table_like_mut() {
                    Some(t) => (t, inner),
                    None => return false,
                }
            }
            None => (domain, key),
        };
        match (table.get(leaf).and_then(Item::as_value), value) {
            (Some(old), Some(new)) if fields::same(old, &new) => false,
            (Some(old), Some(mut new)) => {
                *new.decor_mut() = old.decor().clone();
                table.insert(leaf, Item::Value(new));
                true
            }
            (None, Some(new)) => {
                table.insert(leaf, Item::Value(new));
                true
            }
            (_, None) => table.remove(leaf).is_some(),
        }
    }

    /// The group mappings of a domain (`[domain.groups.map]`): group DN → app groups, in file order.
    pub fn group_map(&self, index: usize) -> Vec<(String, Vec<String>)> {
        let Some(map) = self.domain(index).and_then(|d| d.get("groups")).and_then(|g| g.get("map")) else {
            return Vec::new();
        };
        let Some(map) = map.as_table_like() else { return Vec::new() };
        map.iter()
            .map(|(dn, apps)| {
                let apps = match apps.as_value() {
                    Some(Value::String(s)) => vec![s.value().clone()],
                    Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
                    _ => Vec::new(),
                };
                (dn.to_owned(), apps)
            })
            .collect()
    }

    /// Maps a directory group to app groups (`None` or empty: removes the mapping).
    pub fn set_group(&mut self, index: usize, dn: &str, apps: Option<&[String]>) -> bool {
        let Some(domain) = self.domain_mut(index) else { return false };
        let apps = apps.filter(|a| !a.is_empty());
        if apps.is_none() && !domain.contains_key("groups") {
            return false;
        }
        let Some(groups) = domain.entry("groups").or_insert_with(|| Item::Table(Table::new())).as_table_like_mut()
        else {
            return false;
        };
        let Some(map) = groups.entry("map").or_insert_with(|| Item::Table(Table::new())).as_table_like_mut() else {
            return false;
        };
        match apps {
            Some(apps) => {
                let mut array = toml_edit::Array::new();
                for a in apps {
                    array.push(a.as_str());
                }
                let new = Value::Array(array);
                if map.get(dn).and_then(Item::as_value).is_some_and(|old| fields::same(old, &new)) {
                    return false;
                }
                map.insert(dn, Item::Value(new));
                true
            }
            None => map.remove(dn).is_some(),
        }
    }

    /// Sets the posted fields of a domain (`k.<key>` → text) over its current values; a field not posted is
    /// left as it is. Returns the keys that changed, or the first value of a wrong type.
    pub fn apply(&mut self, index: usize, fields: &[Field], posted: &[(String, String)]) -> Result<Vec<String>, Error> {
        let mut changed = Vec::new();
        for field in fields.iter().filter(|f| f.input != Input::Secret) {
            let name = format!("k.{}", field.key);
            let Some((_, text)) = posted.iter().find(|(n, _)| *n == name) else { continue };
            let value =
                fields::parse(field, text).map_err(|problem| Error::BadValue { key: field.key.clone(), problem })?;
            if self.set(index, &field.key, value) {
                changed.push(field.key.clone());
            }
        }
        Ok(changed)
    }
}

/// Loads a configuration's text as the host would (its plugins are those already loaded), without opening
/// the store or any connection; every domain's settings are checked by its plugin.
pub fn load(path: &Path, text: &str, plugin_dir: &Path, registry: &PluginRegistry) -> Result<Host, HostError> {
    let mut config = HostConfig::parse(path, text)?;
    config.plugin_dir = plugin_dir.to_owned();
    Host::new(config, registry.clone())
}

/// A host error of a configuration that would not load, at the key it names when it names one.
pub fn invalid(err: &HostError) -> Error {
    let key = match err {
        HostError::ConfigKey { key, .. } => Some(key.clone()),
        HostError::DomainSetup { error, .. } => setting_named(error.message.as_str()),
        _ => None,
    };
    Error::Invalid { key, problem: format!("[{}] {}", err.code(), err.message()), fix: err.fix() }
}

/// The key of a connector's "Setting `key`: …" message.
fn setting_named(message: &str) -> Option<String> {
    let rest = message.split_once("Setting `")?.1;
    Some(rest.split_once('`')?.0.to_owned())
}

/// Why the file cannot be replaced, if it cannot: the file and its folder must be writable by the service,
/// and the file must have a write permission bit (a file made read-only, `chmod a-w`, is left alone even by
/// root).
pub fn writable(path: &Path) -> Result<(), Error> {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o222 == 0
    {
        let problem =
            format!("{} has no write permission (mode {:o})", path.display(), meta.permissions().mode() & 0o7777);
        return Err(Error::ReadOnly { path: path.display().to_string(), problem });
    }
    let check = |p: &Path| -> Result<(), String> {
        let c = std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?;
        // SAFETY: a NUL-terminated path; access(2) only reads it.
        if unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0 {
            Ok(())
        } else {
            Err(format!("{} is not writable ({})", p.display(), std::io::Error::last_os_error()))
        }
    };
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    check(path)
        .and_then(|()| check(folder))
        .map_err(|problem| Error::ReadOnly { path: path.display().to_string(), problem })
}

/// Replaces the file with `text` atomically (a temporary file in the same folder, synced, renamed over it),
/// keeping its permissions, and its previous text as `<file>.previous`.
pub fn write(path: &Path, old: &str, text: &str) -> Result<(), Error> {
    let fail = |e: std::io::Error| Error::ReadOnly { path: path.display().to_string(), problem: e.to_string() };
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let permissions = std::fs::metadata(path).map_err(fail)?.permissions();
    let put = |target: &Path, content: &str| -> std::io::Result<()> {
        let tmp = folder.join(format!(".{name}.{}.tmp", std::process::id()));
        let mut file = std::fs::File::create(&tmp)?;
        file.set_permissions(permissions.clone())?;
        file.write_all(content.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, target)
    };
    put(&folder.join(format!("{name}.previous")), old).map_err(fail)?;
    put(path, text).map_err(fail)?;
    if let Ok(dir) = std::fs::File::open(folder) {
        let _ = dir.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    const TEXT: &str = "# The directory of example.org.\nplugin_dir = \"plugins\"\n\n[[domain]]\nname = \"example.org\"\n\
        connector = \"ldap\"\nurls = [\"ldap://127.0.0.1:389\"] # the first DC\nbind_dn = \"cn=svc,dc=example,dc=org\"\n\n\
        # Accounts are made at first login.\n[domain.accounts]\nlogin_policy = \"auto-create\"\n";

    fn posted(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (format!("k.{k}"), (*v).to_owned())).collect()
    }

    #[test]
    fn a_change_keeps_comments_order_and_the_values_trailing_comment() {
        let mut doc = Document::parse(Path::new("/x/dirconn.toml"), TEXT).unwrap();
        let all = fields::fields("ldap", &BTreeMap::new());
        let changed = doc
            .apply(
                0,
                &all,
                &posted(&[
                    ("urls", "ldap://127.0.0.1:1389"),
                    ("bind_dn", "cn=svc,dc=example,dc=org"),
                    ("pool_size", "4"),
                    ("accounts.login_policy", ""),
                    ("mapping.email", "mail"),
                ]),
            )
            .unwrap();
        assert_eq!(changed, ["urls", "pool_size", "mapping.email", "accounts.login_policy"]);
        let text = doc.text();
        assert!(text.starts_with("# The directory of example.org.\n"), "{text}");
        assert!(text.contains("urls = [\"ldap://127.0.0.1:1389\"] # the first DC\n"), "{text}");
        assert!(text.contains("# Accounts are made at first login.\n[domain.accounts]\n"), "{text}");
        assert!(text.contains("[domain.mapping]\nemail = \"mail\"\n"), "{text}");
        let config = HostConfig::parse(Path::new("/x/dirconn.toml"), &text).unwrap();
        assert_eq!(config.domains[0].settings["pool_size"], 4);
    }

    #[test]
    fn nothing_changes_when_the_values_mean_the_same() {
        let mut doc = Document::parse(Path::new("/x/dirconn.toml"), TEXT).unwrap();
        let all = fields::fields("ldap", &BTreeMap::new());
        let same =
            posted(&[("urls", "ldap://127.0.0.1:389\n"), ("accounts.login_policy", "auto-create"), ("bind_ip", "")]);
        assert!(doc.apply(0, &all, &same).unwrap().is_empty());
        assert_eq!(doc.text(), TEXT);
        let err = doc.apply(0, &all, &posted(&[("pool_size", "many")])).unwrap_err();
        assert_eq!((err.code(), err.field()), ("DC-838", Some("pool_size")));
    }

    #[test]
    fn group_mappings_are_added_and_removed() {
        let mut doc = Document::parse(Path::new("/x/dirconn.toml"), TEXT).unwrap();
        let staff = "cn=staff,ou=groups,dc=example,dc=org";
        assert!(doc.set_group(0, staff, Some(&["mail-users".to_owned()])));
        assert!(!doc.set_group(0, staff, Some(&["mail-users".to_owned()])));
        assert_eq!(doc.group_map(0), [(staff.to_owned(), vec!["mail-users".to_owned()])]);
        let config = HostConfig::parse(Path::new("/x/dirconn.toml"), &doc.text()).unwrap();
        assert_eq!(config.domains[0].policy.groups.map.len(), 1, "{}", doc.text());
        assert!(doc.set_group(0, staff, None));
        assert!(doc.group_map(0).is_empty());
    }

    #[test]
    fn a_setting_error_names_its_key() {
        assert_eq!(setting_named("Setting `pool_size`: 0 is not allowed").as_deref(), Some("pool_size"));
        assert_eq!(setting_named("no key here"), None);
    }

    #[test]
    fn the_file_is_replaced_and_the_previous_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dirconn.toml");
        std::fs::write(&path, "old = 1\n").unwrap();
        writable(&path).unwrap();
        write(&path, "old = 1\n", "new = 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new = 2\n");
        assert_eq!(std::fs::read_to_string(dir.path().join("dirconn.toml.previous")).unwrap(), "old = 1\n");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2, "a temporary file was left");
        assert!(writable(&dir.path().join("missing.toml")).is_err());
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o444)).unwrap();
        assert_eq!(writable(&path).unwrap_err().code(), "DC-835");
    }
}
