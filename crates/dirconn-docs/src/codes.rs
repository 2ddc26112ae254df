//! Every error code, from each crate's examples: its kind, exit code and each (message, fix) it prints;
//! rendered under the code's heading on the troubleshooting page, and as the CLI's exit-code table.

use std::collections::BTreeMap;

use dirconn_abi::ErrorKind;
use dirconn_views::{EXIT_CODES, exit_code};

use crate::{
    Problem,
    markdown::{END, begin, cell},
};

/// One way a code is printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    /// The message, fields in braces (`{dn}`).
    pub message: String,
    /// The fix, as printed.
    pub fix: String,
}

/// A code: its kind, and every way it is printed.
#[derive(Debug, Clone)]
pub struct Entry {
    /// `DC-203`.
    pub code: String,
    /// The kind (for the codes that take their cause's kind, the example cause's).
    pub kind: ErrorKind,
    /// Its cases, each once.
    pub cases: Vec<Case>,
}

impl Entry {
    /// What the CLI exits with.
    pub fn exit(&self) -> u8 {
        exit_code(self.kind)
    }
}

/// Every code of every crate, by code.
pub fn catalog() -> Result<BTreeMap<String, Entry>, Problem> {
    let mut all: Vec<(String, ErrorKind, String, String)> = Vec::new();
    for e in dirconn_abi::failures::examples() {
        all.push((e.code.to_string(), e.kind, e.message.to_string(), e.fix.to_string()));
    }
    for e in dirconn_ldap::examples::examples(&crate::keys::KINDS) {
        all.push((e.code().to_owned(), e.kind(), e.to_string(), e.fix()));
    }
    for e in dirconn_kerberos::examples::examples() {
        all.push((e.code().to_owned(), e.kind(), e.to_string(), e.fix()));
    }
    for e in dirconn_pam::examples::examples() {
        all.push((e.code().to_owned(), e.kind(), e.to_string(), e.fix()));
    }
    for e in dirconn_host::examples::examples() {
        all.push((e.code().to_owned(), e.kind(), e.message(), e.fix()));
    }
    for e in dirconn_store::examples::examples() {
        all.push((e.code().to_owned(), e.kind(), e.message(), e.fix()));
    }
    for e in dirconn_service::examples::examples() {
        all.push((e.code().to_owned(), e.kind(), e.message(), e.fix()));
    }
    for e in dirconn_web::examples() {
        all.push((e.code().to_owned(), e.kind(), e.message(), e.fix()));
    }
    let mut map: BTreeMap<String, Entry> = BTreeMap::new();
    for (code, kind, message, fix) in all {
        let entry = map.entry(code.clone()).or_insert_with(|| Entry { code: code.clone(), kind, cases: Vec::new() });
        if entry.kind != kind {
            return Err(Problem(format!("{code} is of two kinds in the examples: {} and {kind}", entry.kind)));
        }
        let case = Case { message, fix };
        if !entry.cases.contains(&case) {
            entry.cases.push(case);
        }
    }
    Ok(map)
}

/// The generated text under one code's heading.
fn block(entry: &Entry) -> String {
    let kind = if dirconn_host::Error::KIND_OF_CAUSE.contains(&entry.code.as_str()) {
        "that of its cause (the connector's error it wraps), and so is the exit code".to_owned()
    } else {
        format!("`{}`, exit {}", entry.kind, entry.exit())
    };
    let mut out = format!("Kind {kind}.\n\n| Message | Fix |\n| --- | --- |\n");
    for case in &entry.cases {
        out.push_str(&format!("| {} | {} |\n", cell(&case.message), cell(&case.fix)));
    }
    out
}

/// The code a troubleshooting heading is about: `### DC-203 — …`.
fn heading_code(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("### ")?;
    let code = rest.get(..6)?;
    (code.starts_with("DC-") && code[3..].bytes().all(|b| b.is_ascii_digit())).then_some(code)
}

/// The troubleshooting page with each code's generated block under its heading (added where missing).
/// Every code must have a heading, and every heading a code.
pub fn troubleshooting(text: &str, catalog: &BTreeMap<String, Entry>) -> Result<String, Problem> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let mut out = String::with_capacity(text.len() + 16 * 1024);
    let mut seen = Vec::new();
    let mut unknown = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        out.push_str(lines[i]);
        let Some(code) = heading_code(lines[i]) else {
            i += 1;
            continue;
        };
        i += 1;
        let Some(entry) = catalog.get(code) else {
            unknown.push(code.to_owned());
            continue;
        };
        seen.push(code.to_owned());
        // Skip an existing block (after the blank line under the heading), then write the fresh one.
        let open = begin(&format!("code {code}"));
        let mut j = i;
        while j < lines.len() && lines[j].trim().is_empty() {
            j += 1;
        }
        if j < lines.len() && lines[j].trim_end() == open {
            while j < lines.len() && lines[j].trim_end() != END {
                j += 1;
            }
            j += 1;
            while j < lines.len() && lines[j].trim().is_empty() {
                j += 1;
            }
        }
        i = j;
        out.push_str(&format!("\n{open}\n{}{END}\n\n", block(entry)));
    }
    let missing: Vec<&String> = catalog.keys().filter(|c| !seen.contains(c)).collect();
    if !missing.is_empty() || !unknown.is_empty() {
        return Err(Problem(format!(
            "troubleshooting.md: codes without a `### DC-… — title` heading: {missing:?}; headings of codes the \
             code does not have: {unknown:?}"
        )));
    }
    Ok(out)
}

/// `DC-201`–`DC-206`, `DC-301`: codes in order, runs of consecutive numbers as ranges.
fn ranges(codes: &[&str]) -> String {
    let number = |c: &str| c[3..].parse::<u32>().unwrap_or(0);
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < codes.len() {
        let mut j = i;
        while j + 1 < codes.len() && number(codes[j + 1]) == number(codes[j]) + 1 {
            j += 1;
        }
        parts.push(if j == i { format!("`{}`", codes[i]) } else { format!("`{}`–`{}`", codes[i], codes[j]) });
        i = j + 1;
    }
    parts.join(", ")
}

/// The CLI's exit-code table: each exit code, what it means and the codes that exit with it.
pub fn exit_table(catalog: &BTreeMap<String, Entry>) -> String {
    let mut out = String::from("| Exit code | Meaning | Error codes |\n| --- | --- | --- |\n");
    for (exit, meaning) in EXIT_CODES {
        let codes: Vec<&str> = catalog
            .values()
            .filter(|e| exit != 0 && e.exit() == exit && !dirconn_host::Error::KIND_OF_CAUSE.contains(&e.code.as_str()))
            // DC-810…DC-817 are the HTTP API's refusals of a request: answers, never an exit code.
            .filter(|e| !e.code.starts_with("DC-81"))
            .map(|e| e.code.as_str())
            .collect();
        out.push_str(&format!("| {exit} | {} | {} |\n", cell(meaning), ranges(&codes)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_join_consecutive_codes() {
        assert_eq!(
            ranges(&["DC-201", "DC-202", "DC-203", "DC-205", "DC-301"]),
            "`DC-201`–`DC-203`, `DC-205`, `DC-301`"
        );
    }

    #[test]
    fn every_code_has_one_kind_and_a_fix() {
        let catalog = catalog().unwrap();
        assert!(catalog.len() > 80, "{}", catalog.len());
        for entry in catalog.values() {
            assert!(entry.cases.iter().all(|c| !c.fix.is_empty() && !c.message.is_empty()), "{entry:?}");
        }
    }
}
