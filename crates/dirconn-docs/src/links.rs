//! The links between the pages of docs/: every relative link names a page (or, for an image, a file) that
//! exists and, after `#`, a heading of that page, with the anchors mdBook gives headings (so a renamed heading breaks the build).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use crate::Problem;

/// The anchor mdBook gives a heading: its text without Markdown code marks and HTML tags, lowercased,
/// spaces as `-`, and only letters, digits, `-` and `_` kept.
pub fn anchor(heading: &str) -> String {
    let mut text = String::new();
    let mut in_tag = false;
    for c in heading.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if in_tag => {}
            '`' | '*' => {}
            _ => text.push(c),
        }
    }
    text.trim()
        .chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '_' || c == '-' {
                Some(c.to_lowercase().next().unwrap_or(c))
            } else if c.is_whitespace() {
                Some('-')
            } else {
                None
            }
        })
        .collect()
}

/// The text of a page outside fenced code blocks, line by line.
fn prose(text: &str) -> impl Iterator<Item = &str> {
    let mut fenced = false;
    text.lines().filter(move |line| {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            return false;
        }
        !fenced
    })
}

/// The anchors of a page's headings (a repeated heading gets `-1`, `-2`…, as in mdBook).
fn anchors(text: &str) -> Vec<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for line in prose(text) {
        let hashes = line.chars().take_while(|c| *c == '#').count();
        if hashes == 0 || hashes > 6 || !line[hashes..].starts_with(' ') {
            continue;
        }
        let id = anchor(&line[hashes..]);
        let n = seen.entry(id.clone()).or_insert(0);
        out.push(if *n == 0 { id.clone() } else { format!("{id}-{n}") });
        *n += 1;
    }
    out
}

/// The link targets of a page's prose: `[text](target)`, outside code spans.
fn targets(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in prose(text) {
        let mut in_code = false;
        let bytes = line.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'`' => in_code = !in_code,
                b']' if !in_code && bytes.get(i + 1) == Some(&b'(') => {
                    if let Some(end) = line[i + 2..].find(')') {
                        let target = &line[i + 2..i + 2 + end];
                        out.push(target.split_whitespace().next().unwrap_or_default().to_owned());
                        i += 2 + end;
                    }
                }
                _ => {}
            }
            i += 1;
        }
    }
    out
}

/// Every broken relative link of the pages in `src` (a docs/src folder): `page: target (why)`.
pub fn broken(src: &Path) -> Result<Vec<String>, Problem> {
    let mut pages: BTreeMap<PathBuf, String> = BTreeMap::new();
    let entries = std::fs::read_dir(src).map_err(|e| Problem(format!("{}: {e}", src.display())))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "md") {
            let text = std::fs::read_to_string(&path).map_err(|e| Problem(format!("{}: {e}", path.display())))?;
            pages.insert(path, text);
        }
    }
    let mut bad = Vec::new();
    for (path, text) in &pages {
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for target in targets(text) {
            if target.contains("://") || target.starts_with("mailto:") || target.is_empty() {
                continue;
            }
            let (file, fragment) = target.split_once('#').unwrap_or((&target, ""));
            let page = if file.is_empty() { path.clone() } else { src.join(file) };
            // A link to a file that is not a page (an image) must name a file that exists.
            if !file.is_empty() && !file.ends_with(".md") {
                if !page.is_file() {
                    bad.push(format!("{name}: {target} (no file {file})"));
                }
                continue;
            }
            let Some(page_text) = pages.get(&page) else {
                bad.push(format!("{name}: {target} (no page {file})"));
                continue;
            };
            if !fragment.is_empty() && !anchors(page_text).iter().any(|a| a == fragment) {
                bad.push(format!("{name}: {target} (no heading with the anchor #{fragment})"));
            }
        }
    }
    Ok(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_are_mdbooks() {
        assert_eq!(anchor(" DC-305 — Connecting timed out"), "dc-305--connecting-timed-out");
        assert_eq!(
            anchor(" Keys of the LDAP connector (`connector = \"ldap\"`)"),
            "keys-of-the-ldap-connector-connector--ldap"
        );
        assert_eq!(anchor(" 6. Group membership"), "6-group-membership");
    }

    #[test]
    fn links_in_code_are_not_links() {
        assert_eq!(targets("see [a](b.md#c) and `[x](y)`\n```\n[p](q)\n```\n"), vec!["b.md#c".to_owned()]);
    }
}
