//! The connector keys' tables, from `dirconn_ldap::keys::KEYS`: every key with its type, each connector
//! kind's default (or that it refuses the key) and its meaning.

use dirconn_ldap::{LdapDefaults, keys::KEYS};

/// Every connector kind's defaults, from the plugin crates that own them.
pub const KINDS: [LdapDefaults; 3] =
    [dirconn_plugin_ldap::DEFAULTS, dirconn_plugin_active_directory::DEFAULTS, dirconn_plugin_open_directory::DEFAULTS];

use crate::markdown::cell;

/// Every key, with a default column per connector kind.
pub fn all_connectors() -> String {
    let kinds = KINDS;
    let mut out = String::from("| Key | Type |");
    for d in &kinds {
        out.push_str(&format!(" `{}` default |", d.kind));
    }
    out.push_str(" Meaning |\n| --- | --- |");
    out.push_str(&" --- |".repeat(kinds.len()));
    out.push_str(" --- |\n");
    for key in KEYS {
        out.push_str(&format!("| `{}` | {} |", key.name, cell(key.ty)));
        for d in &kinds {
            let default =
                if key.accepted_by(&*(d.dialect)()) { key.default_for(d) } else { "refused (`DC-101`)".to_owned() };
            out.push_str(&format!(" {} |", cell(&default)));
        }
        out.push_str(&format!(" {} |\n", cell(key.meaning)));
    }
    out
}

/// The keys only the connector `kind` reads.
pub fn only(kind: &str) -> String {
    let d = KINDS.into_iter().find(|d| d.kind == kind).expect("a connector kind of a plugin");
    let mut out = String::from("| Key | Type | Default | Meaning |\n| --- | --- | --- | --- |\n");
    for key in KEYS.iter().filter(|k| k.only == Some(d.kind)) {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            key.name,
            cell(key.ty),
            cell(&key.default_for(&d)),
            cell(key.meaning)
        ));
    }
    out
}
