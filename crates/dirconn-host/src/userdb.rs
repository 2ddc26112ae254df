//! The userdb template of a domain (`[domain.userdb]`): the fields a mail server gets with each user (home,
//! uid, gid, quota_rule…), with `%u` (the canonical account, `login@domain`), `%n` (the account's login),
//! `%d` (the domain) and `%%` filled in.

use std::collections::BTreeMap;

/// A domain's userdb fields, as templates, in key order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Userdb(BTreeMap<String, String>);

impl Userdb {
    /// Reads the table: keys of lowercase letters, digits and `_`; values strings or integers; only the
    /// known `%` variables. Errors name the key.
    pub fn from_table(table: toml::Table) -> Result<Userdb, (String, String)> {
        let mut out = BTreeMap::new();
        for (key, value) in table {
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
                return Err((key, "a userdb field name is lowercase letters, digits and _.".into()));
            }
            let text = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                other => {
                    return Err((
                        key,
                        format!("expected a string or a number, found {}.", crate::config::a_type(other.type_str())),
                    ));
                }
            };
            if let Err(problem) = check(&text) {
                return Err((key, problem));
            }
            out.insert(key, text);
        }
        Ok(Userdb(out))
    }

    /// Whether no field is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The fields for one account.
    pub fn fill(&self, login: &str, domain: &str) -> BTreeMap<String, String> {
        self.0.iter().map(|(k, v)| (k.clone(), expand(v, login, domain))).collect()
    }
}

fn check(template: &str) -> Result<(), String> {
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c == '%' && !matches!(chars.next(), Some('u' | 'n' | 'd' | '%')) {
            return Err(format!("`{template}` uses an unknown % variable (known: %u, %n, %d, %%)."));
        }
        if c.is_control() {
            return Err("a userdb value may not hold control characters.".into());
        }
    }
    Ok(())
}

fn expand(template: &str, login: &str, domain: &str) -> String {
    let mut out = String::with_capacity(template.len() + login.len() + domain.len());
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        match (c, c == '%') {
            (_, false) => out.push(c),
            (_, true) => match chars.next() {
                Some('u') => {
                    out.push_str(login);
                    out.push('@');
                    out.push_str(domain);
                }
                Some('n') => out.push_str(login),
                Some('d') => out.push_str(domain),
                _ => out.push('%'),
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fill_and_refuse_unknown_variables() {
        let t: toml::Table =
            toml::from_str("home = \"/srv/%d/%n\"\nuid = 5000\nquota_rule = \"*:storage=1G\"\nmail = \"%u%%\"")
                .unwrap();
        let u = Userdb::from_table(t).unwrap();
        let f = u.fill("alice", "example.org");
        assert_eq!(f["home"], "/srv/example.org/alice");
        assert_eq!(f["uid"], "5000");
        assert_eq!(f["mail"], "alice@example.org%");
        let bad: toml::Table = toml::from_str("home = \"/srv/%x\"").unwrap();
        assert_eq!(Userdb::from_table(bad).unwrap_err().0, "home");
        let bad: toml::Table = toml::from_str("Home = \"/\"").unwrap();
        assert!(Userdb::from_table(bad).is_err());
    }
}
