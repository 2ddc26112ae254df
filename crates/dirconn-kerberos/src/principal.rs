//! Kerberos principal names (`alice@EXAMPLE.ORG`, `imap/mail.example.org@EXAMPLE.ORG`): parsed with MIT's
//! escapes (`\/`, `\@`, `\\`), compared exactly (MIT names are case-sensitive), shown as MIT writes them.

use std::fmt;

use kerberos_asn1::PrincipalName;

/// NT-PRINCIPAL: a user.
pub const NT_PRINCIPAL: i32 = 1;
/// NT-SRV-INST: a service (`imap/host`, `krbtgt/REALM`).
pub const NT_SRV_INST: i32 = 2;

/// A principal: its name's components and its realm.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Principal {
    /// The components (`["imap", "mail.example.org"]`).
    pub components: Vec<String>,
    /// The realm (`EXAMPLE.ORG`).
    pub realm: String,
}

/// Why a principal name cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadPrincipal(pub String);

impl fmt::Display for BadPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Principal {
    /// Parses `name[/instance]@REALM`; without a realm, `default_realm` is taken.
    pub fn parse(text: &str, default_realm: &str) -> Result<Principal, BadPrincipal> {
        if text.is_empty() {
            return Err(BadPrincipal("the principal name is empty".into()));
        }
        if text.chars().any(|c| c.is_control()) {
            return Err(BadPrincipal("the principal name holds a control character".into()));
        }
        let mut components = vec![String::new()];
        let mut realm: Option<String> = None;
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            let escaped = match c {
                '\\' => match chars.next() {
                    Some('n') => '\n',
                    Some('t') => '\t',
                    Some('0') => '\0',
                    Some(other) => other,
                    None => return Err(BadPrincipal("the principal name ends with a lone backslash".into())),
                },
                '/' if realm.is_none() => {
                    components.push(String::new());
                    continue;
                }
                '@' if realm.is_none() => {
                    realm = Some(String::new());
                    continue;
                }
                '@' => return Err(BadPrincipal("the principal name holds two unescaped `@`".into())),
                other => other,
            };
            match realm.as_mut() {
                Some(r) => r.push(escaped),
                None => components.last_mut().expect("one component at least").push(escaped),
            }
        }
        if components.iter().any(String::is_empty) {
            return Err(BadPrincipal(format!("`{text}` has an empty name component")));
        }
        let realm = realm.unwrap_or_else(|| default_realm.to_owned());
        if realm.is_empty() {
            return Err(BadPrincipal(format!("`{text}` has an empty realm")));
        }
        Ok(Principal { components, realm })
    }

    /// A principal from its parts.
    pub fn new(components: &[&str], realm: &str) -> Principal {
        Principal { components: components.iter().map(|c| (*c).to_owned()).collect(), realm: realm.to_owned() }
    }

    /// The realm's ticket-granting service, `krbtgt/REALM@REALM`.
    pub fn krbtgt(realm: &str) -> Principal {
        Principal::new(&["krbtgt", realm], realm)
    }

    /// The password-changing service, `kadmin/changepw@REALM`, which still issues tickets to a principal
    /// whose password has expired.
    pub fn changepw(realm: &str) -> Principal {
        Principal::new(&["kadmin", "changepw"], realm)
    }

    /// The name on the wire, with the given name type.
    pub fn to_asn1(&self, name_type: i32) -> PrincipalName {
        PrincipalName { name_type, name_string: self.components.clone() }
    }

    /// Whether a name on the wire is this principal's (components compared exactly; the name type is not
    /// compared, as KDCs rewrite it).
    pub fn matches(&self, name: &PrincipalName, realm: &str) -> bool {
        self.realm == realm && self.components == name.name_string
    }

    /// The name without its realm, as MIT writes it.
    pub fn name(&self) -> String {
        self.components.iter().map(|c| escape(c, false)).collect::<Vec<_>>().join("/")
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.name(), escape(&self.realm, true))
    }
}

fn escape(part: &str, realm: bool) -> String {
    let mut out = String::with_capacity(part.len());
    for c in part.chars() {
        match c {
            '\\' | '@' => {
                out.push('\\');
                out.push(c);
            }
            '/' if !realm => out.push_str("\\/"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_with_mit_escapes() {
        let p = Principal::parse("imap/mail.example.org@EXAMPLE.ORG", "OTHER").unwrap();
        assert_eq!(p, Principal::new(&["imap", "mail.example.org"], "EXAMPLE.ORG"));
        assert_eq!(p.to_string(), "imap/mail.example.org@EXAMPLE.ORG");
        let p = Principal::parse("alice", "EXAMPLE.ORG").unwrap();
        assert_eq!(p.to_string(), "alice@EXAMPLE.ORG");
        let p = Principal::parse(r"a\/b\@c@R", "X").unwrap();
        assert_eq!(p.components, vec!["a/b@c".to_owned()]);
        assert_eq!(p.to_string(), r"a\/b\@c@R");
        assert_eq!(Principal::parse(&p.to_string(), "X").unwrap(), p);
    }

    #[test]
    fn bad_names_are_refused() {
        for bad in ["", "a//b@R", "a@", "a@R@S", "a\\", "/a@R", "a\u{1}b@R"] {
            assert!(Principal::parse(bad, "R").is_err(), "{bad:?}");
        }
        assert!(Principal::parse("a", "").is_err());
    }
}
