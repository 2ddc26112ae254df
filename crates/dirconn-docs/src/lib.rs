//! The parts of the docs that are generated from the code, so that they cannot drift from it.
//!
//! - [`codes`]: every error code with its kind, exit code, message pattern and fix, from each crate's
//!   `examples()` (the failures provoked from real configurations, and each error built with its fields
//!   named in braces), written under the code's heading on `troubleshooting.md`, and the exit-code table of
//!   `cli.md`.
//! - [`keys`]: the connector keys of `configuration.md` and `active-directory.md`, from
//!   `dirconn_ldap::keys::KEYS`.
//!
//! - [`links`]: every relative link between the pages names a page and a heading that exist.
//!
//! Generated text sits between `<!-- generated: NAME -->` and `<!-- end generated -->` lines;
//! [`generate`] returns every page as it should be, `cargo xtask docs` writes them, and the tidy test fails
//! when a committed page differs.

pub mod codes;
pub mod keys;
pub mod links;
mod markdown;

use std::path::{Path, PathBuf};

pub use markdown::{END, begin};

/// A page that differs from what the code generates, or a page the generator cannot fill.
#[derive(Debug)]
pub struct Problem(pub String);

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Every generated page under `docs/src` of the workspace at `root`: its path and its content as the code
/// says it should be.
pub fn generate(root: &Path) -> Result<Vec<(PathBuf, String)>, Problem> {
    let src = root.join("docs/src");
    let read = |name: &str| {
        let path = src.join(name);
        std::fs::read_to_string(&path)
            .map(|text| (path.clone(), text))
            .map_err(|e| Problem(format!("{}: {e}", path.display())))
    };
    let catalog = codes::catalog()?;
    let mut pages = Vec::new();
    let (path, text) = read("troubleshooting.md")?;
    pages.push((path, codes::troubleshooting(&text, &catalog)?));
    let (path, text) = read("cli.md")?;
    pages.push((path, markdown::fill(&text, "exit-codes", &codes::exit_table(&catalog))?));
    let (path, text) = read("configuration.md")?;
    pages.push((path, markdown::fill(&text, "connector-keys", &keys::all_connectors())?));
    let (path, text) = read("active-directory.md")?;
    pages.push((path, markdown::fill(&text, "active-directory-keys", &keys::only("active-directory"))?));
    Ok(pages)
}

/// The generated pages that differ from the committed ones (empty when the docs are up to date).
pub fn stale(root: &Path) -> Result<Vec<PathBuf>, Problem> {
    Ok(generate(root)?
        .into_iter()
        .filter(|(path, text)| std::fs::read_to_string(path).ok().as_deref() != Some(text.as_str()))
        .map(|(path, _)| path)
        .collect())
}
