//! The host: the plugins of the drop-in directory and the configured domains.

use std::path::Path;

use dirconn_host::{Domain, Host, LoadedPlugin, PluginRegistry, Refused};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A plugin that loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PluginView {
    /// The plugin's name (`dirconn-plugin-ldap`).
    pub name: String,
    /// Its own version.
    pub version: String,
    /// What it connects to.
    pub description: String,
    /// The connector kinds it serves (`ldap`).
    pub kinds: Vec<String>,
    /// The ABI version it was built against.
    pub abi_version: u64,
    /// What it can do beyond the first ABI's operations (`password-reset`…).
    pub capabilities: Vec<String>,
    /// The file it was loaded from.
    pub path: String,
}

impl From<&LoadedPlugin> for PluginView {
    fn from(p: &LoadedPlugin) -> PluginView {
        PluginView {
            name: p.metadata.name.to_string(),
            version: p.metadata.version.to_string(),
            description: p.metadata.description.to_string(),
            kinds: p.metadata.kinds.iter().map(|k| k.to_string()).collect(),
            abi_version: u64::from(p.metadata.abi_version),
            capabilities: p.metadata.capabilities.iter().map(|c| c.to_string()).collect(),
            path: p.path.display().to_string(),
        }
    }
}

/// A file of the drop-in directory that was not loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RefusedPluginView {
    /// The file.
    pub path: String,
    /// Why, in words an administrator can act on.
    pub reason: String,
}

impl From<&Refused> for RefusedPluginView {
    fn from(r: &Refused) -> RefusedPluginView {
        RefusedPluginView { path: r.path.display().to_string(), reason: r.reason.clone() }
    }
}

/// The plugins of a drop-in directory.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PluginsView {
    /// The drop-in directory.
    pub plugin_dir: String,
    /// The plugins that loaded.
    pub loaded: Vec<PluginView>,
    /// The files refused, with the reason.
    pub refused: Vec<RefusedPluginView>,
}

impl PluginsView {
    /// The plugins loaded from `dir`.
    pub fn new(dir: &Path, registry: &PluginRegistry) -> PluginsView {
        PluginsView {
            plugin_dir: dir.display().to_string(),
            loaded: registry.loaded.iter().map(PluginView::from).collect(),
            refused: registry.refused.iter().map(RefusedPluginView::from).collect(),
        }
    }
}

/// A configured mail domain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DomainView {
    /// The mail domain.
    pub name: String,
    /// Its display name.
    pub display_name: String,
    /// The connector kind (`ldap`, `active-directory`).
    pub connector: String,
    /// The plugin serving it.
    pub plugin: String,
    /// Whether it is enabled.
    pub enabled: bool,
}

impl From<&Domain> for DomainView {
    fn from(d: &Domain) -> DomainView {
        DomainView {
            name: d.name.clone(),
            display_name: d.display_name.clone(),
            connector: d.kind.clone(),
            plugin: d.plugin.clone(),
            enabled: d.enabled(),
        }
    }
}

/// The configured domains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DomainsView {
    /// The configuration file.
    pub config: String,
    /// The domains, in the file's order.
    pub domains: Vec<DomainView>,
}

impl From<&Host> for DomainsView {
    fn from(host: &Host) -> DomainsView {
        DomainsView {
            config: host.config().path.display().to_string(),
            domains: host.domains().iter().map(DomainView::from).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::testing::{keys, set};

    #[test]
    fn plugins_list_the_loaded_and_the_refused() {
        let registry = PluginRegistry {
            loaded: vec![],
            refused: vec![Refused { path: PathBuf::from("/p/notes.txt"), reason: "not a library".into() }],
        };
        let view = PluginsView::new(Path::new("/p"), &registry);
        assert_eq!(keys(&view), set(&["plugin_dir", "loaded", "refused"]));
        assert_eq!(
            serde_json::to_value(&view).unwrap(),
            serde_json::json!({ "plugin_dir": "/p", "loaded": [], "refused": [{ "path": "/p/notes.txt", "reason": "not a library" }] })
        );
    }
}
