//! Loading connector plugins from the drop-in directory.
//!
//! Every library is loaded with `lib_header_from_path` + `init_root_module`, never with
//! `RootModule::load_from_file`, which caches one library per root-module type and would hand the second
//! plugin the first plugin's functions. Libraries are never unloaded.

use std::path::{Path, PathBuf};

use abi_stable::library::{LibraryError, lib_header_from_path};
use dirconn_abi::{LogSink, PluginMetadata, PluginModRef};

use crate::Error;

/// A plugin that loaded.
#[derive(Clone)]
pub struct LoadedPlugin {
    /// Where it was loaded from.
    pub path: PathBuf,
    /// What it says about itself.
    pub metadata: PluginMetadata,
    /// Its root module.
    pub module: PluginModRef,
}

impl std::fmt::Debug for LoadedPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPlugin").field("path", &self.path).field("metadata", &self.metadata).finish()
    }
}

/// A file of the drop-in directory that was not loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The file.
    pub path: PathBuf,
    /// Why, in words an administrator can act on.
    pub reason: String,
}

/// The plugins of a drop-in directory.
#[derive(Debug, Default, Clone)]
pub struct PluginRegistry {
    /// The plugins that loaded, by file name.
    pub loaded: Vec<LoadedPlugin>,
    /// The files that were skipped, with the reason.
    pub refused: Vec<Refused>,
}

impl PluginRegistry {
    /// Loads every regular file of `dir` (hidden files aside), in name order.
    pub fn load_dir(dir: &Path, sink: LogSink) -> Result<PluginRegistry, Error> {
        let read = std::fs::read_dir(dir).map_err(|source| Error::PluginDir { path: dir.to_owned(), source })?;
        let mut files: Vec<PathBuf> = read
            .filter_map(Result::ok)
            // Regular files and links to them: a FIFO or device would block the loader.
            .filter(|e| e.path().is_file())
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| e.path())
            .collect();
        files.sort();
        let mut registry = PluginRegistry::default();
        for path in files {
            registry.load_file(&path, sink)?;
        }
        Ok(registry)
    }

    /// Loads one file, recording it as loaded or refused; two plugins claiming one kind is an error.
    pub fn load_file(&mut self, path: &Path, sink: LogSink) -> Result<(), Error> {
        let module = match load(path) {
            Ok(module) => module,
            Err(reason) => {
                tracing::warn!(path = %path.display(), %reason, "skipped a file of the plugin directory");
                self.refused.push(Refused { path: path.to_owned(), reason });
                return Ok(());
            }
        };
        (module.set_log_sink())(sink);
        let metadata = (module.metadata())();
        for kind in metadata.kinds.iter() {
            if let Some(first) = self.by_kind(kind.as_str()) {
                return Err(Error::DuplicateKind {
                    kind: kind.to_string(),
                    first: first.path.clone(),
                    second: path.to_owned(),
                });
            }
        }
        tracing::info!(path = %path.display(), name = %metadata.name, version = %metadata.version, "loaded plugin");
        self.loaded.push(LoadedPlugin { path: path.to_owned(), metadata, module });
        Ok(())
    }

    /// The plugin serving a connector kind.
    pub fn by_kind(&self, kind: &str) -> Option<&LoadedPlugin> {
        self.loaded.iter().find(|p| p.metadata.kinds.iter().any(|k| k.as_str() == kind))
    }

    /// Every kind on offer, comma-separated.
    pub fn kinds(&self) -> String {
        let kinds: Vec<&str> = self.loaded.iter().flat_map(|p| p.metadata.kinds.iter().map(|k| k.as_str())).collect();
        if kinds.is_empty() { "none".to_owned() } else { kinds.join(", ") }
    }
}

/// Loads a library's root module: the ABI version it names first (its `dirconn_abi_version` symbol, ABI 4
/// on), then the layout checked by abi_stable, then the version its metadata names.
fn load(path: &Path) -> Result<PluginModRef, String> {
    let named = named_version(path);
    if let Some(n) = named
        && n != dirconn_abi::ABI_VERSION
    {
        return Err(other_version(&n.to_string()));
    }
    let header = lib_header_from_path(path).map_err(|err| reason(&err))?;
    let module = header.init_root_module::<PluginModRef>().map_err(|err| match (&err, named) {
        (LibraryError::AbiInstability(_), None) => {
            tracing::debug!(details = %err, "plugin layout mismatch");
            other_version("3 or older (before plugins named their version)")
        }
        _ => reason(&err),
    })?;
    let built_for = (module.metadata())().abi_version;
    if u64::from(built_for) != u64::from(dirconn_abi::ABI_VERSION) {
        return Err(other_version(&built_for.to_string()));
    }
    Ok(module)
}

/// The version a library's `dirconn_abi_version` symbol names, if it has one.
fn named_version(path: &Path) -> Option<u32> {
    let lib = abi_stable::library::RawLibrary::load_at(path).ok()?;
    // SAFETY: the symbol is the `extern "C" fn() -> u32` that `export_plugin!` defines; a library that
    // exports another thing under this name is not a dirconn plugin and is refused by the checks after.
    let version = unsafe { lib.get::<extern "C" fn() -> u32>(b"dirconn_abi_version\0") }.ok()?;
    Some((*version)())
}

fn other_version(built_for: &str) -> String {
    format!(
        "built for ABI {built_for} of the dirconn connector ABI, and this host offers ABI {}; rebuild the plugin \
         against this host's dirconn-abi (or install the plugin of this release)",
        dirconn_abi::ABI_VERSION
    )
}

/// Says why a library was refused, shortly; the full layout report goes to the debug log.
fn reason(err: &LibraryError) -> String {
    match err {
        LibraryError::OpenError { err, .. } => format!("not a loadable shared library ({err})"),
        LibraryError::GetSymbolError { .. } => {
            "a shared library, but not a dirconn connector plugin (it exports no dirconn root module)".to_owned()
        }
        LibraryError::AbiInstability(details) => {
            tracing::debug!(%details, "plugin layout mismatch");
            "built against an incompatible version of the dirconn connector ABI (layout check failed: it names \
             this host's version but was built against a changed dirconn-abi); rebuild it against this host's \
             dirconn-abi"
                .to_owned()
        }
        LibraryError::IncompatibleVersionNumber { library_name, expected_version, actual_version } => format!(
            "built for {library_name} {actual_version}, but this host offers {expected_version}; rebuild the plugin"
        ),
        other => format!("refused by the loader: {other}"),
    }
}
