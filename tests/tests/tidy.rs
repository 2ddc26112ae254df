//! Tidy checks over the source tree: every `.rs` file opens with a `//!` line, every error code is on
//! the troubleshooting page, the generated parts of docs/ are what the code generates, and the
//! ARCHITECTURE.md code map names every crate.

use std::path::{Path, PathBuf};

use dirconn_tests::stage::workspace_root;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name.to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["crates", "plugins", "xtask", "tests", "fuzz"] {
        rust_files(&workspace_root().join(dir), &mut files);
    }
    assert!(files.len() > 20, "the walk found the sources");
    files
}

#[test]
fn every_rust_file_starts_with_a_module_doc_line() {
    let missing: Vec<String> = sources()
        .into_iter()
        .filter(|f| !std::fs::read_to_string(f).unwrap().starts_with("//!"))
        .map(|f| f.display().to_string())
        .collect();
    assert!(missing.is_empty(), "files without a leading //! line: {missing:#?}");
}

#[test]
fn every_error_code_is_on_the_troubleshooting_page() {
    let page = std::fs::read_to_string(workspace_root().join("docs/src/troubleshooting.md"))
        .expect("docs/src/troubleshooting.md exists");
    let mut codes = std::collections::BTreeSet::new();
    for file in sources() {
        let text = std::fs::read_to_string(&file).unwrap();
        for quote in ["\"DC-", "[DC-"] {
            for (i, _) in text.match_indices(quote) {
                let code = text.get(i + 1..i + 7).unwrap_or("");
                if code.len() == 6 && code[3..].chars().all(|c| c.is_ascii_digit()) {
                    codes.insert(code.to_owned());
                }
            }
        }
    }
    assert!(codes.len() > 30, "found the codes: {codes:?}");
    let missing: Vec<&String> = codes.iter().filter(|c| !page.contains(c.as_str())).collect();
    assert!(missing.is_empty(), "codes missing from the troubleshooting page: {missing:?}");
}

#[test]
fn the_code_map_names_every_crate() {
    let map = std::fs::read_to_string(workspace_root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md exists");
    let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
    let members: Vec<&str> = manifest
        .lines()
        .skip_while(|l| !l.starts_with("members"))
        .skip(1)
        .take_while(|l| !l.starts_with(']'))
        .map(|l| l.trim().trim_matches(|c| c == '"' || c == ','))
        .collect();
    assert!(members.len() >= 6, "{members:?}");
    for member in members {
        assert!(map.contains(member), "ARCHITECTURE.md does not mention {member}");
    }
}

#[test]
fn the_generated_docs_are_what_the_code_generates() {
    // Both directions: a code, key or exit code the page lacks or has in excess differs from the generation.
    let stale = dirconn_docs::stale(&workspace_root()).unwrap_or_else(|p| panic!("{p}"));
    assert!(stale.is_empty(), "pages differ from the code; run `cargo xtask docs`: {stale:?}");
}

#[test]
fn the_help_and_the_docs_agree_on_what_is_supported() {
    // `dirconn --help` opens with the doc comment of the CLI; the introduction says what is supported.
    let main = std::fs::read_to_string(workspace_root().join("crates/dirconn/src/main.rs")).unwrap();
    let about: String = main
        .lines()
        .skip_while(|l| !l.starts_with("/// Connects"))
        .take_while(|l| l.starts_with("///"))
        .map(|l| l.trim_start_matches("///").trim())
        .collect::<Vec<_>>()
        .join(" ");
    let intro = std::fs::read_to_string(workspace_root().join("docs/src/introduction.md")).unwrap();
    for kind in ["Active Directory", "Open Directory", "LDAP"] {
        assert!(about.contains(kind) && intro.contains(kind), "help: {about:?}; both name {kind}");
    }
    assert!(!about.contains("planned") && !intro.contains("Open Directory is planned"), "help: {about:?}");
}

#[test]
fn every_link_between_the_pages_of_the_docs_lands() {
    let broken = dirconn_docs::links::broken(&workspace_root().join("docs/src")).unwrap_or_else(|p| panic!("{p}"));
    assert!(broken.is_empty(), "broken links in docs/src: {broken:#?}");
}
